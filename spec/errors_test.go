package spec

import (
	"errors"
	"strings"
	"testing"
)

// TestBadInputs is the table of manifests berth must refuse, each with the
// exact message (file:line:col: key.path: message) the user sees.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	const svc = "services:\n  web:\n    image: x\n"
	tests := []struct {
		name  string
		files map[string]string
		opts  LoadOptions
		want  string
	}{
		{"yaml syntax", map[string]string{"compose.yaml": svc + "  bad: [\n"},
			LoadOptions{}, "compose.yaml:4: invalid YAML: did not find expected node content"},
		{"yaml tab indentation", map[string]string{"compose.yaml": svc + "\tfoo: 1\n"},
			LoadOptions{}, "compose.yaml:3: invalid YAML: found a tab character that violates indentation"},
		{"top level not a mapping", map[string]string{"compose.yaml": "[1, 2]\n"},
			LoadOptions{}, "compose.yaml:1:1: top-level object must be a mapping"},
		{"empty file", map[string]string{"compose.yaml": ""},
			LoadOptions{}, "compose.yaml: empty compose file"},
		{"unknown top-level key", map[string]string{"compose.yaml": "x: 1\n" + svc},
			LoadOptions{}, "compose.yaml:1:1: x: unknown top-level key (berth accepts the Compose Specification keys, pods and x- extensions)"},
		{"unknown service key", map[string]string{"compose.yaml": svc + "    foo: 1\n"},
			LoadOptions{}, "compose.yaml:4:5: services.web.foo: unknown key"},
		{"wrong type ports", map[string]string{"compose.yaml": svc + "    ports: 80\n"},
			LoadOptions{}, "compose.yaml:4:5: services.web.ports: must be a list"},
		{"wrong type environment", map[string]string{"compose.yaml": svc + "    environment: 3\n"},
			LoadOptions{}, "compose.yaml:4:5: services.web.environment: must be a mapping"},
		{"wrong type label with dotted key", map[string]string{"compose.yaml": svc + "    labels:\n      com.example.a: [1]\n"},
			LoadOptions{}, "compose.yaml:5:7: services.web.labels.com.example.a: must be a boolean, null, number or string"},
		{"bad port", map[string]string{"compose.yaml": svc + "    ports:\n      - \"80:abc\"\n"},
			LoadOptions{}, `compose.yaml:5:9: services.web.ports[0]: invalid port "80:abc": target: "abc" is not a port number`},
		{"port out of range", map[string]string{"compose.yaml": svc + "    ports: [\"99999:80\"]\n"},
			LoadOptions{}, `compose.yaml:4:13: services.web.ports[0]: invalid port "99999:80": published: port 99999 out of range 1-65535`},
		{"port bad protocol", map[string]string{"compose.yaml": svc + "    ports: [\"80/sctp\"]\n"},
			LoadOptions{}, `compose.yaml:4:13: services.web.ports[0]: invalid port "80/sctp": protocol "sctp" not supported (tcp or udp)`},
		{"port range mismatch", map[string]string{"compose.yaml": svc + "    ports: [\"8000-8002:80-81\"]\n"},
			LoadOptions{}, `compose.yaml:4:13: services.web.ports[0]: invalid port "8000-8002:80-81": published range has 3 ports, target range 2`},
		{"bad duration", map[string]string{"compose.yaml": svc + "    healthcheck:\n      interval: 5x\n"},
			LoadOptions{}, `compose.yaml:5:7: services.web.healthcheck.interval: time: unknown unit "x" in duration "5x"`},
		{"duration not a string", map[string]string{"compose.yaml": svc + "    stop_grace_period: 10\n"},
			LoadOptions{}, "compose.yaml:4:5: services.web.stop_grace_period: must be a string"},
		{"bad size", map[string]string{"compose.yaml": svc + "    mem_limit: lots\n"},
			LoadOptions{}, "compose.yaml:4:5: services.web.mem_limit: invalid size: 'lots'"},
		{"bad cpus", map[string]string{"compose.yaml": svc + "    cpus: abc\n"},
			LoadOptions{}, `compose.yaml:4:5: services.web.cpus: failed to cast to expected type: strconv.ParseFloat: parsing "abc": invalid syntax`},
		{"missing required variable", map[string]string{"compose.yaml": "services:\n  web:\n    image: ${TAG:?set TAG to the image tag}\n"},
			LoadOptions{}, "compose.yaml:3:5: services.web.image: required variable TAG is missing a value: set TAG to the image tag"},
		{"bad restart", map[string]string{"compose.yaml": svc + "    restart: sometimes\n"},
			LoadOptions{}, `compose.yaml:4:5: services.web.restart: invalid restart policy "sometimes": want no, always, on-failure[:N] or unless-stopped`},
		{"circular depends_on", map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    depends_on: [web]\n"},
			LoadOptions{}, "compose.yaml:4:18: services.web.depends_on[0]: circular depends_on: db -> web -> db"},
		{"unknown depends_on", map[string]string{"compose.yaml": svc + "    depends_on:\n      nope:\n        condition: service_started\n"},
			LoadOptions{}, `compose.yaml:5:7: services.web.depends_on.nope: depends on unknown service "nope"`},
		{"depends_on disabled by profile", map[string]string{"compose.yaml": svc + "    depends_on: [dbg]\n  dbg:\n    image: x\n    profiles: [debug]\n"},
			LoadOptions{}, `compose.yaml:4:18: services.web.depends_on[0]: depends on service "dbg", which is disabled by profiles: enable its profile or set required: false`},
		{"circular extends", map[string]string{"compose.yaml": "services:\n  web:\n    extends: db\n  db:\n    extends: web\n"},
			LoadOptions{}, "compose.yaml:5:5: services.db.extends: circular extends: db -> web -> db"},
		{"unknown network", map[string]string{"compose.yaml": svc + "    networks: [nope]\n"},
			LoadOptions{}, `compose.yaml:4:16: services.web.networks[0]: unknown network "nope": declare it under the top-level networks`},
		{"unknown volume", map[string]string{"compose.yaml": svc + "    volumes: [\"data:/x\"]\n"},
			LoadOptions{}, `compose.yaml:4:15: services.web.volumes[0]: unknown volume "data": declare it under the top-level volumes (or use a path for a bind mount)`},
		{"bad network_mode", map[string]string{"compose.yaml": svc + "    network_mode: bogus\n"},
			LoadOptions{}, `compose.yaml:4:5: services.web.network_mode: invalid network_mode "bogus": want none, host, service:<name> or container:<name>`},
		{"network_mode unknown service", map[string]string{"compose.yaml": svc + "    network_mode: service:nope\n"},
			LoadOptions{}, `compose.yaml:4:5: services.web.network_mode: unknown or disabled service "nope"`},
		{"unsupported network driver", map[string]string{"compose.yaml": svc + "networks:\n  n:\n    driver: overlay\n"},
			LoadOptions{}, `compose.yaml:6:5: networks.n.driver: network driver "overlay" not supported by berth (bridge)`},
		{"bad subnet", map[string]string{"compose.yaml": svc + "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.0.0.0/33\n"},
			LoadOptions{}, `compose.yaml:8:11: networks.n.ipam.config[0].subnet: invalid subnet "10.0.0.0/33": want CIDR such as 10.89.0.0/24`},
		{"build without image", map[string]string{"compose.yaml": "services:\n  web:\n    build: .\n"},
			LoadOptions{}, "compose.yaml:3:5: services.web.build: building images is not supported by berth: set image (build it elsewhere and push or load it)"},
		{"healthcheck bad test", map[string]string{"compose.yaml": svc + "    healthcheck:\n      test: [\"RUN\", \"true\"]\n"},
			LoadOptions{}, `compose.yaml:5:7: services.web.healthcheck.test: test must start with CMD, CMD-SHELL or NONE, got "RUN"`},
		{"bad log size", map[string]string{"compose.yaml": svc + "    logging:\n      options:\n        max-size: huge\n"},
			LoadOptions{}, `compose.yaml:6:9: services.web.logging.options.max-size: invalid size "huge"`},
		{"container_name with replicas", map[string]string{"compose.yaml": svc + "    container_name: one\n    scale: 2\n"},
			LoadOptions{}, `compose.yaml:4:5: services.web.container_name: container_name "one" cannot be used with 2 replicas: names must be unique`},
		{"host port conflict", map[string]string{"compose.yaml": svc + "    ports: [\"8080:80\"]\n  api:\n    image: y\n    ports: [\"8080:81\"]\n"},
			LoadOptions{}, `compose.yaml:4:13: services.web.ports[0]: host port 8080/tcp is already published by services.api.ports[0]`},
		{"pod unknown member", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web, nope]\n" + svc},
			LoadOptions{}, `compose.yaml:3:21: pods.app.services[1]: unknown service "nope" in pod "app"`},
		{"pod member declares ports", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n" + svc + "    ports: [\"80:80\"]\n"},
			LoadOptions{}, `compose.yaml:7:5: services.web.ports: service "web" is a member of pod "app" and may not declare ports: put it on the pod (pods.app.ports)`},
		{"pod member declares networks", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n" + svc + "    networks: [default]\n"},
			LoadOptions{}, `compose.yaml:7:5: services.web.networks: service "web" is a member of pod "app" and may not declare networks: put it on the pod (pods.app.networks)`},
		{"pod member declares hostname", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n" + svc + "    hostname: h\n"},
			LoadOptions{}, `compose.yaml:7:5: services.web.hostname: service "web" is a member of pod "app" and may not declare hostname: put it on the pod (pods.app.hostname)`},
		{"pod member declares network_mode", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n" + svc + "    network_mode: host\n"},
			LoadOptions{}, `compose.yaml:7:5: services.web.network_mode: service "web" is a member of pod "app" and may not declare network_mode: put it on the pod (pods.app.network_mode)`},
		{"service in two pods", map[string]string{"compose.yaml": "pods:\n  a:\n    services: [web]\n  b:\n    services: [web]\n" + svc},
			LoadOptions{}, `compose.yaml:5:16: pods.b.services[0]: service "web" is already in pod "a"; a service is in at most one pod`},
		{"pod bad share", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n    share: [ipc, bogus]\n" + svc},
			LoadOptions{}, `compose.yaml:4:18: pods.app.share[1]: value must be one of 'network', 'ipc', 'uts', 'pid'`},
		{"pod without network share", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n    share: [ipc]\n" + svc},
			LoadOptions{}, `compose.yaml:4:5: pods.app.share: a pod always shares its network namespace: add network to share`},
		{"pod unknown key", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n    volumes: []\n" + svc},
			LoadOptions{}, `compose.yaml:4:5: pods.app.volumes: unknown key`},
		{"pod unknown network", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n    networks: [nope]\n" + svc},
			LoadOptions{}, `compose.yaml:4:16: pods.app.networks[0]: unknown network "nope": declare it under the top-level networks`},
		{"pod bad port", map[string]string{"compose.yaml": "pods:\n  app:\n    services: [web]\n    ports: [\"80:x\"]\n" + svc},
			LoadOptions{}, `compose.yaml:4:13: pods.app.ports[0]: invalid port "80:x": target: "x" is not a port number`},
		{"pods in override file", map[string]string{"compose.yaml": svc, "compose.override.yaml": "pods:\n  app:\n    services: [nope]\n"},
			LoadOptions{}, `compose.override.yaml:3:16: pods.app.services[0]: unknown service "nope" in pod "app"`},
		{"error in override file", map[string]string{"compose.yaml": svc, "compose.override.yaml": "services:\n  web:\n    restart: maybe\n"},
			LoadOptions{}, `compose.override.yaml:3:5: services.web.restart: invalid restart policy "maybe": want no, always, on-failure[:N] or unless-stopped`},
		{"unknown key in included file", map[string]string{"compose.yaml": "include: [inc.yaml]\n" + svc, "inc.yaml": "services:\n  db:\n    image: x\n    bogus: 1\n"},
			LoadOptions{}, "inc.yaml:4:5: services.db.bogus: unknown key"},
		{"semantic error in included file", map[string]string{"compose.yaml": "include: [inc.yaml]\n" + svc, "inc.yaml": "services:\n  db:\n    image: x\n    restart: maybe\n"},
			LoadOptions{}, `inc.yaml:4:5: services.db.restart: invalid restart policy "maybe": want no, always, on-failure[:N] or unless-stopped`},
		{"pods in included file", map[string]string{"compose.yaml": "include: [inc.yaml]\n" + svc, "inc.yaml": "pods:\n  p:\n    services: [db]\nservices:\n  db:\n    image: x\n"},
			LoadOptions{}, "inc.yaml:1:1: pods: pods are not supported in included files: declare them in a file given with -f (or compose.yaml / its override)"},
		// The key lives in base.yaml under another service name; berth
		// points at the extending service.
		{"error in extended file", map[string]string{"compose.yaml": "services:\n  web:\n    extends: {file: base.yaml, service: b}\n", "base.yaml": "services:\n  b:\n    image: x\n    network_mode: weird\n"},
			LoadOptions{}, `compose.yaml:2:3: services.web.network_mode: invalid network_mode "weird": want none, host, service:<name> or container:<name>`},
		{"recursive alias", map[string]string{"compose.yaml": "x-a: &a\n  b:\n    <<: *a\n" + svc},
			LoadOptions{}, "compose.yaml:3:9: alias *a is used inside its own anchor &a (recursive alias)"},
		{"excessive aliasing", map[string]string{"compose.yaml": billionLaughs},
			LoadOptions{}, "compose.yaml:1: invalid YAML: document contains excessive aliasing"},
		{"bad project name", map[string]string{"compose.yaml": svc},
			LoadOptions{ProjectName: "Bad Name"}, `--project-name: invalid project name "Bad Name": use only lowercase letters, digits, '-' and '_', starting with a letter or digit`},
		{"reserved extension key", map[string]string{"compose.yaml": "x-berth-pods: {}\n" + svc},
			LoadOptions{}, "compose.yaml:1:1: x-berth-pods: reserved key: use pods"},
		{"bad mount target", map[string]string{"compose.yaml": svc + "    volumes:\n      - type: tmpfs\n        target: relative\n"},
			LoadOptions{}, `compose.yaml:5:9: services.web.volumes[0]: mount target "relative" must be an absolute path`},
	}
	if len(tests) < 25 {
		t.Fatalf("the table must hold at least 25 bad inputs, has %d", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTree(t, tc.files)
			o := tc.opts
			if o.ProjectName == "" {
				o.ProjectName = "test"
			}
			_, err := loadDir(t, dir, o)
			if err == nil {
				t.Fatalf("loaded without error, want %q", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one clean line: %q", err)
			}
		})
	}
}

// billionLaughs nests aliases nine-fold, seven levels deep.
var billionLaughs = func() string {
	var b strings.Builder
	b.WriteString(`x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		b.WriteString("x-" + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
		prev = n
	}
	b.WriteString("services:\n  web:\n    image: x\n")
	return b.String()
}()
