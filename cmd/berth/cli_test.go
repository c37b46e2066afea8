package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIConfig builds the berth binary with `go build` into a temp dir
// and exercises `berth config` through it, as a user would.
func TestCLIConfig(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "berth")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("example", func(t *testing.T) { testConfigExample(t, bin) })
	t.Run("flags", func(t *testing.T) { testConfigFlags(t, bin) })
	t.Run("errors", func(t *testing.T) { testConfigErrors(t, bin) })
	t.Run("warnings", func(t *testing.T) { testConfigWarnings(t, bin) })
}

type result struct {
	stdout, stderr string
	code           int
}

// runBerth runs the binary in dir with a clean environment.
func runBerth(t *testing.T, bin, dir, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run berth %v: %v", args, err)
	}
	return r
}

func exampleDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../examples/web-mariadb")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testConfigExample(t *testing.T, bin string) {
	dir := exampleDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "--services"}, "db\nweb\n"},
		{[]string{"config", "--volumes"}, "db-data\n"},
		{[]string{"config", "--networks"}, "default\n"},
		{[]string{"config", "--images"}, "adminer:4\nmariadb:10.11\n"},
		{[]string{"config", "-q"}, ""},
		{[]string{"-p", "other", "config", "--services"}, "db\nweb\n"},
	} {
		r := runBerth(t, bin, dir, "", nil, tc.args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("berth %v: code %d stdout %q stderr %q, want %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}

	r := runBerth(t, bin, dir, "", nil, "config", "--hash", "*")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "db ") || len(strings.Fields(lines[1])[1]) != 64 {
		t.Fatalf("--hash '*': %+v", r)
	}
	again := runBerth(t, bin, dir, "", nil, "config", "--hash", "web")
	if again.stdout != lines[1]+"\n" {
		t.Errorf("--hash web = %q, want %q (stable across runs)", again.stdout, lines[1])
	}

	r = runBerth(t, bin, dir, "", nil, "config", "--format", "json")
	var p struct {
		Name     string `json:"name"`
		Services []struct {
			Name  string `json:"name"`
			Image string `json:"image"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Name != "web-mariadb" || len(p.Services) != 2 {
		t.Errorf("--format json: %v %+v (%s)", err, p, r.stderr)
	}

	r = runBerth(t, bin, dir, "", nil, "config")
	for _, want := range []string{"name: web-mariadb\n", "image: mariadb:10.11", "condition: service_healthy", "config_hash: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config yaml lacks %q:\n%s", want, r.stdout)
		}
	}
}

func testConfigFlags(t *testing.T, bin string) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base.yaml", "services:\n  web:\n    image: web:${TAG:-latest}\n  dbg:\n    image: busybox\n    profiles: [debug]\n")
	write("over.yaml", "services:\n  web:\n    image: web:${TAG:-over}\n")
	write("prod.env", "TAG=prod\n")

	r := runBerth(t, bin, dir, "", nil, "-f", "base.yaml", "-f", "over.yaml", "--env-file", "prod.env", "--profile", "debug", "config", "--images")
	if r.code != 0 || r.stdout != "busybox\nweb:prod\n" {
		t.Errorf("merged files + env file + profile: %+v", r)
	}
	r = runBerth(t, bin, dir, "", nil, "-f", "base.yaml", "config", "--profiles")
	if r.stdout != "debug\n" {
		t.Errorf("--profiles: %+v", r)
	}
	r = runBerth(t, bin, dir, "services:\n  piped:\n    image: p\n", nil, "-f", "-", "-p", "stdin", "config", "--services")
	if r.code != 0 || r.stdout != "piped\n" {
		t.Errorf("-f -: %+v", r)
	}
	r = runBerth(t, bin, t.TempDir(), "", []string{"BERTH_PROJECT_NAME=fromenv"}, "--project-directory", dir, "-f", filepath.Join(dir, "base.yaml"), "config", "--format", "json")
	if !strings.Contains(r.stdout, `"name": "fromenv"`) {
		t.Errorf("BERTH_PROJECT_NAME: %+v", r)
	}
	r = runBerth(t, bin, dir, "", nil, "config", "--schema")
	var schema map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil {
		t.Fatalf("--schema is not JSON: %v", err)
	}
	if props, _ := schema["properties"].(map[string]any); props["pods"] == nil || props["services"] == nil {
		t.Errorf("--schema lacks pods or services")
	}
}

// testConfigErrors: bad manifests through the binary give one located
// message on stderr, exit 1, and no stack trace.
func testConfigErrors(t *testing.T, bin string) {
	for _, tc := range []struct{ name, manifest, want string }{
		{"bad port", "services:\n  web:\n    image: x\n    ports:\n      - \"80:abc\"\n",
			`berth: compose.yaml:5:9: services.web.ports[0]: invalid port "80:abc": target: "abc" is not a port number`},
		{"yaml syntax", "services:\n  web: [\n", "berth: compose.yaml:2: invalid YAML: did not find expected node content"},
		{"unknown key", "services:\n  web:\n    image: x\n    imagee: y\n", "berth: compose.yaml:4:5: services.web.imagee: unknown key"},
		{"pod member ports", "pods:\n  app:\n    services: [web]\nservices:\n  web:\n    image: x\n    ports: [\"80\"]\n",
			`berth: compose.yaml:7:5: services.web.ports: service "web" is a member of pod "app" and may not declare ports: put it on the pod (pods.app.ports)`},
		{"missing variable", "services:\n  web:\n    image: ${IMG:?IMG is required}\n",
			"berth: compose.yaml:3:5: services.web.image: required variable IMG is missing a value: IMG is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(tc.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runBerth(t, bin, dir, "", nil, "config", "-q")
			if r.code != 1 {
				t.Errorf("exit code %d, want 1", r.code)
			}
			if strings.TrimSpace(r.stderr) != tc.want {
				t.Errorf("stderr\n got: %s\nwant: %s", r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace on stderr: %s", r.stderr)
			}
		})
	}
}

func testConfigWarnings(t *testing.T, bin string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  web:\n    image: x\n    build: .\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBerth(t, bin, dir, "", nil, "config", "--services")
	if r.code != 0 || r.stdout != "web\n" {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.stderr, "berth: warning: compose.yaml:4:5: services.web.build: building images is not supported") {
		t.Errorf("warning missing from stderr: %q", r.stderr)
	}
}
