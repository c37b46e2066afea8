package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
)

// examples/pod-secrets runs as its README says, with busybox from the test
// image helper.
func TestExamplePodSecrets(t *testing.T) {
	testenv.RequireRoot(t)
	leakcheck.Check(t, leakcheck.Contains("bth"))
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	loadBusybox(t, root, nil)
	file, _ := filepath.Abs("../../examples/pod-secrets/compose.yaml")
	t.Cleanup(func() { berthCLI(t, root, nil, "-f", file, "down", "-v", "-t", "0") })
	mustBerth(t, root, "-f", file, "up", "-d")
	if got := hostGetRetry(t, "http://127.0.0.1:8081/"); got != "<h1>hello from a berth pod</h1>\n" {
		t.Errorf("page through the pod's port: %q", got)
	}
	if got := mustBerth(t, root, "-p", "podex", "exec", "-T", "probe", "cat", "/run/secrets/token"); got != "example-token\n" {
		t.Errorf("secret: %q", got)
	}
	waitFor(t, "probe reaching web on the pod's localhost", 15*time.Second, func() bool {
		return strings.Contains(mustBerth(t, root, "-p", "podex", "logs", "probe"), "web answers on localhost")
	})
	uts := func(svc string) string {
		return mustBerth(t, root, "-p", "podex", "exec", "-T", svc, "hostname")
	}
	if a, b := uts("web"), uts("probe"); a != b {
		t.Errorf("pod members' hostnames differ (uts not shared): %q %q", a, b)
	}
	mustBerth(t, root, "-f", file, "down", "-t", "0")
}
