package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/leakcheck"
)

// compose run -p publishes a one-off's port, as `docker compose run -p`.
func TestComposeRunPublish(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "runp", `services:
  web:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
`)
	port := freeLoopbackPort(t)
	cp.must("run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "web", "httpd", "-f", "-p", "80", "-h", "/etc")
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", port)); !strings.HasPrefix(got, "runp-web-run-") {
		t.Errorf("one-off through its published port: %q", got)
	}
	if _, errOut, code := cp.berth("run", "--rm", "-p", "nonsense", "web", "true"); code == 0 || !strings.Contains(errOut, "--publish") {
		t.Errorf("bad -p: exit %d %q", code, errOut)
	}
	cp.must("down", "-t", "0")
}

// A stopped project frees its host ports, as with Docker: another project
// may take them, and the first gets them back when it starts again.
func TestComposeStopReleasesPorts(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	port := freeLoopbackPort(t)
	manifest := func(page string) string {
		return fmt.Sprintf(`services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /w && echo %s > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["127.0.0.1:%d:80"]
    stop_grace_period: 1s
`, page, port)
	}
	a := newComposeProject(t, "porta", manifest("a"))
	b := &composeProject{t: t, root: a.root, dir: t.TempDir(), name: "portb"}
	b.write(manifest("b"))
	t.Cleanup(func() { b.berth("down", "-v", "-t", "0") })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	a.must("up", "-d")
	if got := hostGetRetry(t, url); got != "a\n" {
		t.Fatalf("a: %q", got)
	}
	if _, errOut, code := b.berth("up", "-d"); code == 0 || !strings.Contains(errOut, fmt.Sprint(port)) {
		t.Fatalf("b took a running project's port: exit %d %s", code, errOut)
	}
	b.berth("down", "-t", "0")
	a.must("stop")
	b.must("up", "-d")
	if got := hostGetRetry(t, url); got != "b\n" {
		t.Errorf("b after a stopped: %q", got)
	}
	b.must("stop")
	a.must("start")
	if got := hostGetRetry(t, url); got != "a\n" {
		t.Errorf("a started again: %q", got)
	}
	a.must("stop")
	a.must("up", "-d")
	if got := hostGetRetry(t, url); got != "a\n" {
		t.Errorf("a up again after stop: %q", got)
	}
}
