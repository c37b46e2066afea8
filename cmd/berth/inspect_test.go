package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// `berth inspect` finds any kind of object, as `docker inspect` does.
func TestInspectAnyObject(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	t.Setenv("BERTH_NETWORK_POOL", "10.237.0.0/16")
	loadBusybox(t, root, nil)
	mustBerth(t, root, "container", "create", "--name", "c1", "--network", "none", "busybox", "true")
	t.Cleanup(func() { berthCLI(t, root, nil, "container", "rm", "-f", "c1") })
	mustBerth(t, root, "volume", "create", "v1")
	mustBerth(t, root, "network", "create", "n1")
	t.Cleanup(func() { berthCLI(t, root, nil, "network", "rm", "n1") })

	for _, tc := range []struct{ args, want string }{
		{"inspect -f {{.Name}}:{{.State.Status}} c1", "/c1:created"},
		{"inspect -f {{.Name}}:{{.Driver}} v1", "v1:local"},
		{"inspect -f {{.Name}}:{{.Driver}} n1", "n1:bridge"},
		{"inspect --type volume -f {{.Name}} v1", "v1"},
		// docker ps's template and filters, on the same objects.
		{"container ls -a --format {{.Names}}:{{.State}} --filter name=c1", "c1:created"},
		{"container ls --filter status=created --format {{.Names}}", "c1"},
		{"container ls --filter status=running -q", ""},
	} {
		if got := strings.TrimSpace(mustBerth(t, root, strings.Fields(tc.args)...)); got != tc.want {
			t.Errorf("berth %s = %q, want %q", tc.args, got, tc.want)
		}
	}
	id := strings.TrimSpace(mustBerth(t, root, "image", "inspect", "-f", "{{.ID}}", "busybox"))
	if got := strings.TrimSpace(mustBerth(t, root, "inspect", "-f", "{{.ID}}", "busybox")); got != id {
		t.Errorf("inspect busybox = %q, want the image %q", got, id)
	}
	for _, tc := range []struct{ args, want string }{
		{"inspect nope", "no such object: nope"},
		{"inspect --type volume c1", "c1"},
		{"inspect --type bogus c1", "--type"},
	} {
		out, errOut, code := berthCLI(t, root, nil, strings.Fields(tc.args)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("berth %s: exit %d, %q %q; want an error naming %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
