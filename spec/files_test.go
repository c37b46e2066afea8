package spec

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSecretsAndConfigs(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"pw.txt": "s3cret\n",
		"compose.yaml": `services:
  db:
    image: mariadb
    secrets:
      - db_password
      - source: api_key
        target: api.key
      - source: db_password
        target: /etc/mysql/pw
        uid: "999"
        gid: "999"
        mode: 0400
    configs:
      - app_conf
      - source: inline
        target: conf/inline.ini
secrets:
  db_password:
    file: ./pw.txt
  api_key:
    environment: API_KEY
configs:
  app_conf:
    file: ./pw.txt
  inline:
    content: |
      [x]
      y=1
`,
	})
	p, err := loadDir(t, dir, LoadOptions{ProjectName: "t", Environment: []string{"API_KEY=k-123"}})
	if err != nil {
		t.Fatal(err)
	}
	mode := uint32(0o400)
	want := []FileMount{
		{Kind: FileSecret, Source: "db_password", Target: "/run/secrets/db_password", File: filepath.Join(dir, "pw.txt")},
		{Kind: FileSecret, Source: "api_key", Target: "/run/secrets/api.key", Content: "k-123", HasContent: true},
		{Kind: FileSecret, Source: "db_password", Target: "/etc/mysql/pw", File: filepath.Join(dir, "pw.txt"), UID: "999", GID: "999", Mode: &mode},
		{Kind: FileConfig, Source: "app_conf", Target: "/app_conf", File: filepath.Join(dir, "pw.txt")},
		{Kind: FileConfig, Source: "inline", Target: "/conf/inline.ini", Content: "[x]\ny=1\n", HasContent: true},
	}
	got := mustService(t, p, "db").Files
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files\n got %+v\nwant %+v", got, want)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings: %v", p.Warnings)
	}
}

func TestSecretContentChangesHash(t *testing.T) {
	t.Parallel()
	load := func(v string) string {
		dir := writeTree(t, map[string]string{"compose.yaml": `services:
  a:
    image: x
    secrets: [k]
secrets:
  k:
    environment: K
`})
		p, err := loadDir(t, dir, LoadOptions{ProjectName: "t", Environment: []string{"K=" + v}})
		if err != nil {
			t.Fatal(err)
		}
		return mustService(t, p, "a").ConfigHash
	}
	if load("one") == load("two") {
		t.Error("a changed secret value must change the config hash (the container is recreated)")
	}
	if load("one") != load("one") {
		t.Error("hash not stable")
	}
}

func TestSecretsBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"external", `services:
  a:
    image: x
    secrets: [k]
secrets:
  k:
    external: true
`, "secrets.k.external: external secrets live in a Swarm cluster"},
		{"unset environment", `services:
  a:
    image: x
    configs: [c]
configs:
  c:
    environment: NOPE_NOT_SET
`, "configs.c.environment: variable NOPE_NOT_SET is not set"},
		{"undefined", `services:
  a:
    image: x
    secrets: [missing]
`, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
