package spec

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestInterpolation(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: nginx:${TAG}
    environment:
      FROM_ENV: ${FROM_ENV}
      DEFAULTED: ${UNSET:-fallback}
      DOLLAR: $$HOME
      FROM_DOTENV: ${DOTENV_VAR}
    env_file: [web.env]
`,
		"web.env":   "FROM_ENV_FILE=yes\n",
		".env":      "DOTENV_VAR=dot\nTAG=from-dotenv\n",
		"other.env": "DOTENV_VAR=other\n",
	})
	p, err := loadDir(t, dir, LoadOptions{Environment: []string{"TAG=1.27", "FROM_ENV=env"}})
	if err != nil {
		t.Fatal(err)
	}
	web := mustService(t, p, "web")
	if web.Image != "nginx:1.27" {
		t.Errorf("image = %q, want the process environment to win over .env", web.Image)
	}
	want := []string{"DEFAULTED=fallback", "DOLLAR=$HOME", "FROM_DOTENV=dot", "FROM_ENV=env", "FROM_ENV_FILE=yes"}
	if !reflect.DeepEqual(web.Environment, want) {
		t.Errorf("environment = %q, want %q", web.Environment, want)
	}

	p, err = loadDir(t, dir, LoadOptions{EnvFiles: []string{dir + "/other.env"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustService(t, p, "web").Environment; !reflect.DeepEqual(got[2], "FROM_DOTENV=other") {
		t.Errorf("--env-file did not replace .env: %q", got)
	}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"compose.yaml": `services:
  web:
    image: x
  debug:
    image: y
    profiles: [debug]
  tools:
    image: z
    profiles: [tools, debug]
`})
	for _, tc := range []struct {
		name string
		o    LoadOptions
		want []string
	}{
		{"none", LoadOptions{}, []string{"web"}},
		{"flag", LoadOptions{Profiles: []string{"tools"}}, []string{"tools", "web"}},
		{"env", LoadOptions{Environment: []string{"COMPOSE_PROFILES=debug"}}, []string{"debug", "tools", "web"}},
		{"all", LoadOptions{Profiles: []string{"*"}}, []string{"debug", "tools", "web"}},
	} {
		p, err := loadDir(t, dir, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := p.ServiceNames(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: services = %v, want %v", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(p.DeclaredProfiles, []string{"debug", "tools"}) {
			t.Errorf("%s: declared profiles = %v", tc.name, p.DeclaredProfiles)
		}
	}
}

func TestExtendsAndInclude(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"compose.yaml": `include:
  - db/compose.yaml
services:
  web:
    extends:
      file: common.yaml
      service: base
    image: web:1
    environment:
      OWN: "1"
`,
		"common.yaml": `services:
  base:
    image: base:1
    user: "1000"
    environment:
      SHARED: "yes"
`,
		"db/compose.yaml": `services:
  db:
    image: mariadb:11.4
    volumes:
      - ./data:/var/lib/mysql
`,
	})
	p, err := loadDir(t, dir, LoadOptions{ProjectName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	web := mustService(t, p, "web")
	if web.Image != "web:1" || web.User != "1000" {
		t.Errorf("extends: image %q user %q", web.Image, web.User)
	}
	if !reflect.DeepEqual(web.Environment, []string{"OWN=1", "SHARED=yes"}) {
		t.Errorf("extends: environment %q", web.Environment)
	}
	db := mustService(t, p, "db")
	if len(db.Mounts) != 1 || db.Mounts[0].Type != MountBind || db.Mounts[0].Source != dir+"/db/data" {
		t.Errorf("include: bind mount not resolved against the included file's dir: %+v", db.Mounts)
	}
}

func TestOverrideMergeAndDiscovery(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: web:1
    ports: ["8080:80"]
    environment: {A: "1", B: "1"}
pods:
  app:
    services: [web]
    ports: ["9090:90"]
`,
		"compose.override.yaml": `services:
  web:
    image: web:2
    environment: {B: "2"}
  worker:
    image: worker:1
`,
	})
	// Pods must stay legal next to an override that redefines ports on a
	// member: here the base declares ports on a pod member, so expect that
	// error first, then check the merge without it.
	if _, err := loadDir(t, dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "may not declare ports") {
		t.Fatalf("want the pod-member ports error, got %v", err)
	}
	dir = writeTree(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: web:1
    environment: {A: "1", B: "1"}
pods:
  app:
    services: [web]
    ports: ["9090:90"]
`,
		"compose.override.yaml": `services:
  web:
    image: web:2
    environment: {B: "2"}
  worker:
    image: worker:${WORKER_TAG:-1}
pods:
  app:
    services: [worker]
    hostname: ${POD_HOST:-app}
`,
	})
	p, err := loadDir(t, dir, LoadOptions{Environment: []string{"POD_HOST=apphost"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ConfigFiles) != 2 || !strings.HasSuffix(p.ConfigFiles[1], "compose.override.yaml") {
		t.Errorf("config files = %v, want compose.yaml + compose.override.yaml", p.ConfigFiles)
	}
	web := mustService(t, p, "web")
	if web.Image != "web:2" || !reflect.DeepEqual(web.Environment, []string{"A=1", "B=2"}) {
		t.Errorf("override: image %q env %q", web.Image, web.Environment)
	}
	pod, ok := p.Pod("app")
	if !ok {
		t.Fatal("pod app missing")
	}
	if !reflect.DeepEqual(pod.Services, []string{"web", "worker"}) || pod.Hostname != "apphost" {
		t.Errorf("pod merged across files = %+v", pod)
	}
	if !reflect.DeepEqual(pod.Share, []string{"ipc", "network", "uts"}) {
		t.Errorf("default share = %v", pod.Share)
	}
	if web.Pod != "app" || web.Networks != nil {
		t.Errorf("member: pod %q networks %v", web.Pod, web.Networks)
	}
	if len(pod.Networks) != 1 || pod.Networks[0].Name != "default" {
		t.Errorf("pod networks = %v, want default", pod.Networks)
	}
}

func TestProjectName(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{
		"My_App Dir/compose.yaml": "services:\n  web:\n    image: x\n",
		"named/compose.yaml":      "name: from-file\nservices:\n  web:\n    image: x\n",
	})
	for _, tc := range []struct {
		name string
		dir  string
		o    LoadOptions
		want string
	}{
		{"directory normalized", "My_App Dir", LoadOptions{}, "my_appdir"},
		{"name in file", "named", LoadOptions{}, "from-file"},
		{"COMPOSE_PROJECT_NAME", "named", LoadOptions{Environment: []string{"COMPOSE_PROJECT_NAME=compose"}}, "compose"},
		{"BERTH_PROJECT_NAME wins", "named", LoadOptions{Environment: []string{"COMPOSE_PROJECT_NAME=compose", "BERTH_PROJECT_NAME=berth"}}, "berth"},
		{"flag wins", "named", LoadOptions{ProjectName: "flag", Environment: []string{"BERTH_PROJECT_NAME=berth"}}, "flag"},
	} {
		tc.o.ProjectDirectory = root + "/" + tc.dir
		p, err := loadDir(t, root, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Name != tc.want {
			t.Errorf("%s: name = %q, want %q", tc.name, p.Name, tc.want)
		}
	}
}

func TestStdin(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"base.yaml": "services:\n  web:\n    image: a\n"})
	p, err := loadDir(t, dir, LoadOptions{
		Files:       []string{"base.yaml", "-"},
		ProjectName: "s",
		Stdin:       strings.NewReader("services:\n  web:\n    image: b\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustService(t, p, "web").Image; got != "b" {
		t.Errorf("image = %q, want stdin to override", got)
	}
}

func TestNoConfigFile(t *testing.T) {
	t.Parallel()
	_, err := loadDir(t, t.TempDir(), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "no configuration file provided") {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalization(t *testing.T) {
	t.Parallel()
	p := mustLoadYAML(t, `services:
  full:
    image: app:1
    entrypoint: []
    command: ["serve", "--port", "80"]
    working_dir: /srv
    user: "1000:1000"
    group_add: [audio]
    hostname: h
    domainname: example.org
    tty: true
    stdin_open: true
    init: true
    read_only: true
    cap_add: [NET_ADMIN, CHOWN]
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:false"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 512
    sysctls: {net.core.somaxconn: "1024"}
    shm_size: 128m
    mem_limit: 256m
    memswap_limit: 512m
    cpus: 0.5
    cpu_shares: 512
    cpuset: "0"
    pids_limit: 100
    restart: on-failure:3
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    healthcheck:
      test: curl -f http://localhost/
      interval: 5s
      timeout: 2s
      retries: 4
      start_period: 10s
      start_interval: 1s
    ports:
      - "127.0.0.1:8080:80"
      - "9000-9001:90-91/udp"
      - "3000"
      - "8000-8010:443"
    expose: ["3306"]
    extra_hosts: ["db.local:10.0.0.5", "host.docker.internal:host-gateway"]
    dns: [1.1.1.1]
    volumes:
      - data:/data:ro
      - /srv/conf:/etc/app:rw
      - type: volume
        source: data
        target: /nocopy
        volume: {nocopy: true}
      - type: bind
        source: /srv/x
        target: /x
        bind: {create_host_path: false, propagation: rslave}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 64m, mode: 0o1770}
      - /anon
    tmpfs: ["/run:size=1m"]
    labels: {com.example.role: full}
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
    networks:
      back: {priority: 1}
      front:
        aliases: [api]
        ipv4_address: 10.5.0.10
        priority: 10
  bare:
    image: busybox
    scale: 3
    deploy:
      resources:
        limits: {cpus: "1.5", memory: 1g, pids: 50}
      restart_policy: {condition: any, delay: 5s, max_attempts: 2, window: 1m}
    healthcheck:
      disable: true
networks:
  front:
    ipam:
      config:
        - subnet: 10.5.0.0/24
          gateway: 10.5.0.1
  back:
    internal: true
volumes:
  data:
`)
	s := mustService(t, p, "full")
	if s.Entrypoint == nil || len(s.Entrypoint) != 0 {
		t.Errorf("entrypoint: [] must be non-nil empty, got %#v", s.Entrypoint)
	}
	if !reflect.DeepEqual(s.Command, []string{"serve", "--port", "80"}) {
		t.Errorf("command %q", s.Command)
	}
	if b := mustService(t, p, "bare"); b.Command != nil || b.Entrypoint != nil {
		t.Errorf("unset command/entrypoint must stay nil: %#v %#v", b.Command, b.Entrypoint)
	}
	if !reflect.DeepEqual(s.CapAdd, []string{"CHOWN", "NET_ADMIN"}) || s.NoNewPrivileges == nil || *s.NoNewPrivileges {
		t.Errorf("caps %v nnp %v", s.CapAdd, s.NoNewPrivileges)
	}
	if !reflect.DeepEqual(s.Ulimits, []Ulimit{{"nofile", 1024, 2048}, {"nproc", 512, 512}}) {
		t.Errorf("ulimits %+v", s.Ulimits)
	}
	wantRes := Resources{Memory: 256 << 20, MemorySwap: 512 << 20, NanoCPUs: 5e8, CPUShares: 512, CPUSetCPUs: "0", PidsLimit: 100, CPUs: s.Resources.CPUs}
	if s.Resources != wantRes || s.ShmSize != 128<<20 {
		t.Errorf("resources %+v shm %d", s.Resources, s.ShmSize)
	}
	if s.Restart != (RestartPolicy{Name: RestartOnFailure, MaxRetries: 3}) {
		t.Errorf("restart %+v", s.Restart)
	}
	if s.StopGracePeriod == nil || *s.StopGracePeriod != 90*time.Second {
		t.Errorf("stop_grace_period %v", s.StopGracePeriod)
	}
	wantHC := &Healthcheck{Test: []string{"CMD-SHELL", "curl -f http://localhost/"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 4, StartPeriod: 10 * time.Second, StartInterval: time.Second}
	if !reflect.DeepEqual(s.Healthcheck, wantHC) {
		t.Errorf("healthcheck %+v", s.Healthcheck)
	}
	wantPorts := []PortMapping{
		{HostIP: "127.0.0.1", Published: PortRange{8080, 8080}, Target: 80, Protocol: "tcp"},
		{Published: PortRange{9000, 9000}, Target: 90, Protocol: "udp"},
		{Published: PortRange{9001, 9001}, Target: 91, Protocol: "udp"},
		{Target: 3000, Protocol: "tcp"},
		{Published: PortRange{8000, 8010}, Target: 443, Protocol: "tcp"},
	}
	if !reflect.DeepEqual(s.Ports, wantPorts) {
		t.Errorf("ports\n got %+v\nwant %+v", s.Ports, wantPorts)
	}
	if !reflect.DeepEqual(s.ExtraHosts, []HostEntry{{"db.local", "10.0.0.5"}, {"host.docker.internal", "host-gateway"}}) {
		t.Errorf("extra_hosts %+v", s.ExtraHosts)
	}
	wantMounts := []Mount{
		{Type: MountVolume, Source: "data", Target: "/data", ReadOnly: true},
		{Type: MountBind, Source: "/srv/conf", Target: "/etc/app", CreateHostPath: true},
		{Type: MountVolume, Source: "data", Target: "/nocopy", NoCopy: true},
		{Type: MountBind, Source: "/srv/x", Target: "/x", Propagation: "rslave"},
		{Type: MountTmpfs, Target: "/scratch", TmpfsSize: 64 << 20, TmpfsMode: 0o1770},
		{Type: MountVolume, Target: "/anon"},
	}
	if !reflect.DeepEqual(s.Mounts, wantMounts) {
		t.Errorf("mounts\n got %+v\nwant %+v", s.Mounts, wantMounts)
	}
	if s.Logging.MaxSize != 10<<20 || s.Logging.MaxFiles != 3 {
		t.Errorf("logging %+v", s.Logging)
	}
	if len(s.Networks) != 2 || s.Networks[0].Name != "front" || s.Networks[0].IPv4Address != "10.5.0.10" || !reflect.DeepEqual(s.Networks[0].Aliases, []string{"api"}) {
		t.Errorf("networks (priority order) %+v", s.Networks)
	}
	b := mustService(t, p, "bare")
	if b.Replicas != 3 {
		t.Errorf("replicas %d", b.Replicas)
	}
	if b.Resources.NanoCPUs != 15e8 || b.Resources.Memory != 1<<30 || b.Resources.PidsLimit != 50 {
		t.Errorf("deploy limits %+v", b.Resources)
	}
	if b.Restart != (RestartPolicy{Name: RestartAlways, MaxRetries: 2, Delay: 5 * time.Second, Window: time.Minute}) {
		t.Errorf("deploy restart %+v", b.Restart)
	}
	if b.Healthcheck == nil || !b.Healthcheck.Disable {
		t.Errorf("healthcheck disable %+v", b.Healthcheck)
	}
	if len(b.Networks) != 1 || b.Networks[0].Name != "default" {
		t.Errorf("implicit default network %+v", b.Networks)
	}
	front, ok := p.Network("front")
	if !ok || front.Name != "test_front" || front.Driver != "bridge" || front.IPAM.Config[0].Gateway != "10.5.0.1" {
		t.Errorf("network front %+v", front)
	}
	if v, ok := p.Volume("data"); !ok || v.Name != "test_data" || v.Driver != "local" {
		t.Errorf("volume data %+v", v)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	p := mustLoadYAML(t, `x-common: &c
  labels: {a: b}
services:
  web:
    image: x
    build: .
    uts: host
    x-custom: ignored silently
`)
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`compose.yaml:6:5: services.web.build: building images is not supported by berth; build is ignored and image "x" is used`,
		"compose.yaml:7:5: services.web.uts: not supported by berth; ignored",
	}
	for i := range got {
		got[i] = got[i][strings.Index(got[i], "compose.yaml"):]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}
