package spec

import (
	"strings"
	"testing"
)

const hashBase = `services:
  web:
    image: nginx:1.27
    command: ["nginx", "-g", "daemon off;"]
    environment:
      A: "1"
      B: "2"
    ports: ["8080:80", "8443:443"]
    volumes: ["data:/data"]
    labels: {role: web}
    mem_limit: 64m
    user: "101"
    depends_on: [db]
    networks: [front]
  db:
    image: mariadb:11.4
networks:
  front: {}
volumes:
  data: {}
`

func hashOf(t *testing.T, manifest, service string) string {
	t.Helper()
	p := mustLoadYAML(t, manifest)
	return mustService(t, p, service).ConfigHash
}

// TestHashStable: what must not change the hash.
func TestHashStable(t *testing.T) {
	t.Parallel()
	base := hashOf(t, hashBase, "web")
	if len(base) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", base)
	}
	for _, tc := range []struct{ name, manifest string }{
		{"same input", hashBase},
		{"key order and comments", `# a comment
volumes:
  data: {}
networks:
  front: {}
services:
  db:
    image: mariadb:11.4
  web:
    networks: [front]   # trailing comment
    depends_on: [db]
    user: "101"
    mem_limit: 64m
    labels: {role: web}
    volumes: ["data:/data"]
    ports: ["8443:443", "8080:80"]
    environment:
      B: "2"
      A: "1"
    command: ["nginx", "-g", "daemon off;"]
    image: nginx:1.27
`},
		{"x- extensions", strings.Replace(hashBase, "    image: nginx:1.27\n", "    image: nginx:1.27\n    x-note: anything\n", 1) + "x-top: 1\n"},
		{"depends_on condition", strings.Replace(hashBase, "    depends_on: [db]\n", "    depends_on:\n      db:\n        condition: service_healthy\n", 1)},
		{"depends_on removed", strings.Replace(hashBase, "    depends_on: [db]\n", "", 1)},
		{"scale", strings.Replace(hashBase, "    user: \"101\"\n", "    user: \"101\"\n    scale: 3\n", 1)},
		{"deploy.replicas", strings.Replace(hashBase, "    user: \"101\"\n", "    user: \"101\"\n    deploy: {replicas: 2}\n", 1)},
		{"restart policy", strings.Replace(hashBase, "    user: \"101\"\n", "    user: \"101\"\n    restart: always\n", 1)},
		{"stop_grace_period", strings.Replace(hashBase, "    user: \"101\"\n", "    user: \"101\"\n    stop_grace_period: 1m\n", 1)},
		{"environment as list", strings.Replace(hashBase, "      A: \"1\"\n      B: \"2\"\n", "      - B=2\n      - A=1\n", 1)},
		{"other service changed", strings.Replace(hashBase, "mariadb:11.4", "mariadb:11.5", 1)},
	} {
		if got := hashOf(t, tc.manifest, "web"); got != base {
			t.Errorf("%s: hash changed", tc.name)
		}
	}
}

// TestHashSensitive: what must change the hash.
func TestHashSensitive(t *testing.T) {
	t.Parallel()
	base := hashOf(t, hashBase, "web")
	seen := map[string]string{base: "base"}
	for _, tc := range []struct{ name, old, new string }{
		{"image", "nginx:1.27", "nginx:1.28"},
		{"command", `"daemon off;"]`, `"daemon on;"]`},
		{"entrypoint cleared", "    user: \"101\"\n", "    user: \"101\"\n    entrypoint: []\n"},
		{"env value", `B: "2"`, `B: "3"`},
		{"env added", `B: "2"`, "B: \"2\"\n      C: \"3\""},
		{"ports", `"8443:443"`, `"8444:443"`},
		{"volumes", `["data:/data"]`, `["data:/data:ro"]`},
		{"networks", "    networks: [front]\n", "    networks:\n      front: {aliases: [w]}\n"},
		{"labels", "role: web", "role: api"},
		{"mem limit", "mem_limit: 64m", "mem_limit: 128m"},
		{"user", `user: "101"`, `user: "102"`},
		{"healthcheck", "    user: \"101\"\n", "    user: \"101\"\n    healthcheck: {test: [\"CMD\", \"true\"]}\n"},
		{"cap_add", "    user: \"101\"\n", "    user: \"101\"\n    cap_add: [NET_ADMIN]\n"},
		{"read_only", "    user: \"101\"\n", "    user: \"101\"\n    read_only: true\n"},
		{"logging", "    user: \"101\"\n", "    user: \"101\"\n    logging: {options: {max-size: 1m}}\n"},
		{"pod membership", "volumes:\n", "pods:\n  p:\n    services: [db]\n    ports: [\"9000:9000\"]\nvolumes:\n"},
	} {
		m := strings.Replace(hashBase, tc.old, tc.new, 1)
		if m == hashBase {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		svc := "web"
		if tc.name == "pod membership" {
			svc = "db"
			base := hashOf(t, hashBase, "db")
			if hashOf(t, m, svc) == base {
				t.Errorf("%s: hash did not change", tc.name)
			}
			continue
		}
		got := hashOf(t, m, svc)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: hash equals that of %s", tc.name, prev)
		}
		seen[got] = tc.name
	}
}
