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
