package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
)

const watchStack = `services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    environment: [V=1]
`

// `up -d --watch` leaves a supervisor that re-applies the manifest when it
// changes: a changed service is recreated, a new one created, a broken
// edit changes nothing (and is applied once fixed); down ends it.
func TestComposeWatchDetached(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "wd", watchStack)
	cp.must("up", "-d", "--watch")
	before := cp.ids()["wd-a-1"]
	if before == "" {
		t.Fatalf("no container after up: %v", cp.ids())
	}
	cp.write(strings.Replace(watchStack, "V=1", "V=2", 1) + `  b:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
`)
	waitFor(t, "a recreated and b created by the watching supervisor", 20*time.Second, func() bool {
		ids := cp.ids()
		return ids["wd-a-1"] != "" && ids["wd-a-1"] != before && ids["wd-b-1"] != "" && cp.rows()["wd-b-1"].State == "running"
	})
	if out, _, _ := cp.berth("exec", "-T", "a", "sh", "-c", "echo $V"); out != "2\n" {
		t.Errorf("a's V after the change: %q", out)
	}
	// A broken manifest is refused by the supervisor; the project stays.
	// (ps would refuse it too: look at the containers directly.)
	ls := func() string { return mustBerth(t, cp.root, "container", "ls", "-a", "-q") }
	ids := ls()
	cp.write("services: [this is not a mapping\n")
	time.Sleep(1500 * time.Millisecond)
	now := ls()
	cp.write(strings.Replace(watchStack, "V=1", "V=3", 1))
	if now != ids {
		t.Errorf("a broken manifest changed the project: %q -> %q", ids, now)
	}
	waitFor(t, "the fixed manifest applied", 20*time.Second, func() bool {
		out, _, code := cp.berth("exec", "-T", "a", "sh", "-c", "echo $V")
		return code == 0 && out == "3\n"
	})
	cp.must("down", "-t", "0", "--remove-orphans")
	if out := strings.TrimSpace(mustBerth(t, cp.root, "container", "ls", "-a", "-q")); out != "" {
		t.Errorf("containers after down: %q", out)
	}
}

// `up --watch` in the foreground does the same and stops on Ctrl-C.
func TestComposeWatchForeground(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "wf", watchStack)
	c := exec.Command(builtBerth(t), "--root", cp.root, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name, "up", "--watch", "--no-color")
	var out, errb testenv.SyncBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	waitFor(t, "a running", 10*time.Second, func() bool { return cp.rows()["wf-a-1"].State == "running" })
	before := cp.ids()["wf-a-1"]
	cp.write(strings.Replace(watchStack, "V=1", "V=2", 1))
	waitFor(t, "a recreated", 20*time.Second, func() bool {
		id := cp.ids()["wf-a-1"]
		return id != "" && id != before && cp.rows()["wf-a-1"].State == "running"
	})
	c.Process.Signal(syscall.SIGINT)
	c.Wait()
	if r := cp.rows()["wf-a-1"]; r.State != "exited" {
		t.Errorf("a after Ctrl-C: %s (cli %v)\n%s\nSTDOUT %s", r.State, c.ProcessState, errb.String(), out.String())
	}
}
