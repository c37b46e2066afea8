package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets and configs reach the container as Docker Compose mounts them
// outside Swarm: read-only files at /run/secrets/<name> and /<name> (or
// the target), from a host file, an environment variable or inline
// content, with uid/gid/mode when asked; a changed value recreates.
func TestComposeSecretsConfigs(t *testing.T) {
	cp := newComposeProject(t, "files", "")
	if err := os.WriteFile(filepath.Join(cp.dir, "pw.txt"), []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FILES_API_KEY", "k-123")
	cp.write(`services:
  a:
    image: busybox:latest
    command: [sleep, "1000"]
    secrets:
      - db_password
      - source: api_key
        target: api.key
      - source: db_password
        target: /etc/app/pw
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - source: inline
        target: /etc/app/app.ini
secrets:
  db_password:
    file: ./pw.txt
  api_key:
    environment: FILES_API_KEY
configs:
  inline:
    content: |
      [app]
      port=80
`)
	cp.must("up", "-d")
	exec := func(args ...string) (string, int) {
		out, errOut, code := cp.berth(append([]string{"exec", "-T", "a"}, args...)...)
		return out + errOut, code
	}
	for _, tc := range []struct{ path, want string }{
		{"/run/secrets/db_password", "hunter2\n"},
		{"/run/secrets/api.key", "k-123"},
		{"/etc/app/pw", "hunter2\n"},
		{"/etc/app/app.ini", "[app]\nport=80\n"},
	} {
		if out, code := exec("cat", tc.path); code != 0 || out != tc.want {
			t.Errorf("cat %s: exit %d, %q; want %q", tc.path, code, out, tc.want)
		}
	}
	if out, _ := exec("stat", "-c", "%u:%g %a", "/etc/app/pw"); strings.TrimSpace(out) != "1000:1001 400" {
		t.Errorf("/etc/app/pw owner and mode: %q, want 1000:1001 400", out)
	}
	if out, _ := exec("stat", "-c", "%a", "/run/secrets/api.key"); strings.TrimSpace(out) != "444" {
		t.Errorf("/run/secrets/api.key mode: %q, want 444", out)
	}
	if out, code := exec("sh", "-c", "echo x > /run/secrets/db_password"); code == 0 {
		t.Errorf("a secret must be read-only; write succeeded: %q", out)
	}
	// The user's file keeps its own owner and mode.
	if fi, err := os.Stat(filepath.Join(cp.dir, "pw.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pw.txt changed: %v %v", fi.Mode(), err)
	}

	before := cp.ids()
	cp.must("up", "-d")
	if after := cp.ids(); after["files-a-1"] != before["files-a-1"] {
		t.Error("no-op up recreated the container")
	}
	t.Setenv("FILES_API_KEY", "k-456")
	cp.must("up", "-d")
	if after := cp.ids(); after["files-a-1"] == before["files-a-1"] {
		t.Error("a changed secret value did not recreate the container")
	}
	if out, _ := exec("cat", "/run/secrets/api.key"); out != "k-456" {
		t.Errorf("after recreate: %q", out)
	}

	// A missing secret file is a clear error naming the secret.
	if err := os.Remove(filepath.Join(cp.dir, "pw.txt")); err != nil {
		t.Fatal(err)
	}
	cp.write(strings.Replace(mustRead(t, filepath.Join(cp.dir, "compose.yaml")), "sleep, \"1000\"", "sleep, \"1001\"", 1))
	_, errOut, code := cp.berth("up", "-d")
	if code == 0 || !strings.Contains(errOut, `secret "db_password"`) || !strings.Contains(errOut, "pw.txt") {
		t.Errorf("missing secret file: exit %d, %s", code, errOut)
	}
	cp.must("down", "-t", "0")
	if _, err := os.Stat(filepath.Join(cp.root, "projects", "files")); !os.IsNotExist(err) {
		t.Errorf("down left the project's state (written secrets) behind: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
