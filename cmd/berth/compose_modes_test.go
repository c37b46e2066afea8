package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
)

const modesStack = `
services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    ipc: shareable
    environment: {GEN: "1"}
  b:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    pid: service:a
    ipc: service:a
  h:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    pid: host
    ipc: host
  d:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    devices: ["/dev/null:/dev/mynull:rw"]
`

// TestComposeModes: pid/ipc service: joins share the target's namespaces
// and are recreated with it; pid/ipc host are the host's; a mapped device
// is usable at its target.
func TestComposeModes(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "modes", modesStack)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })

	cp.must("up", "-d")
	ns := func(service, kind string) string {
		t.Helper()
		return strings.TrimSpace(cp.must("exec", "-T", service, "readlink", "/proc/self/ns/"+kind))
	}
	aPid, aIpc := ns("a", "pid"), ns("a", "ipc")
	hostPid, _ := os.Readlink("/proc/self/ns/pid")
	hostIpc, _ := os.Readlink("/proc/self/ns/ipc")
	if aPid == hostPid || aIpc == hostIpc {
		t.Fatalf("a shares the host's namespaces: pid %s ipc %s", aPid, aIpc)
	}
	if got := ns("b", "pid"); got != aPid {
		t.Errorf("b's pid namespace %s, a's %s", got, aPid)
	}
	if got := ns("b", "ipc"); got != aIpc {
		t.Errorf("b's ipc namespace %s, a's %s", got, aIpc)
	}
	if got := ns("d", "ipc"); got == aIpc {
		t.Errorf("d (ipc default) is in a's ipc namespace")
	}
	if ns("h", "pid") != hostPid || ns("h", "ipc") != hostIpc {
		t.Errorf("h (pid/ipc host) is not in the host's namespaces")
	}
	if out := cp.must("exec", "-T", "h", "cat", "/proc/"+strconv.Itoa(sleep.Process.Pid)+"/cmdline"); out != "sleep\x0060\x00" {
		t.Errorf("h does not see the host's sleep: %q", out)
	}
	if _, _, code := cp.berth("exec", "-T", "a", "test", "-e", "/proc/"+strconv.Itoa(sleep.Process.Pid)); code == 0 {
		t.Errorf("a (pid private) sees the host's sleep")
	}
	if out := cp.must("exec", "-T", "d", "sh", "-c", "stat -c %t:%T /dev/mynull && echo x > /dev/mynull && echo wrote"); out != "1:3\nwrote\n" {
		t.Errorf("device: %q", out)
	}

	// Recreating a recreates b (it holds a's old namespaces), not h or d.
	first := cp.ids()
	cp.write(strings.Replace(modesStack, `GEN: "1"`, `GEN: "2"`, 1))
	plan := cp.must("up", "--dry-run")
	if !strings.Contains(plan, "recreate container modes-b-1: joins the pid namespace of a, which is recreated") ||
		strings.Contains(plan, "modes-h-1") || strings.Contains(plan, "modes-d-1") {
		t.Errorf("plan:\n%s", plan)
	}
	cp.must("up", "-d")
	now := cp.ids()
	if now["modes-a-1"] == first["modes-a-1"] || now["modes-b-1"] == first["modes-b-1"] ||
		now["modes-h-1"] != first["modes-h-1"] || now["modes-d-1"] != first["modes-d-1"] {
		t.Errorf("recreate: %v -> %v", first, now)
	}
	// (Namespace inode numbers are reused at once, so comparing with the
	// old a's says nothing.)
	if p, i := ns("a", "pid"), ns("a", "ipc"); ns("b", "pid") != p || ns("b", "ipc") != i {
		t.Errorf("after recreate b is not in the new a's namespaces")
	}

	// a's pid 1 dies: b, in a's pid namespace, dies with it (as with
	// Docker); up starts a again and recreates b into its new namespaces.
	syscall.Kill(cp.initPid(now["modes-a-1"]), syscall.SIGKILL)
	waitFor(t, "a and b exited", 10*time.Second, func() bool {
		r := cp.rows()
		return r["modes-a-1"].State == "exited" && r["modes-b-1"].State == "exited"
	})
	if plan := cp.must("up", "--dry-run"); !strings.Contains(plan, "recreate container modes-b-1: joins the pid namespace of a, which is started") {
		t.Errorf("plan after a died:\n%s", plan)
	}
	cp.must("up", "-d")
	if p := ns("a", "pid"); ns("b", "pid") != p {
		t.Errorf("after a restarted b is not in its pid namespace: a %s, b %s", p, ns("b", "pid"))
	}
	if r := cp.rows(); r["modes-a-1"].State != "running" || r["modes-b-1"].State != "running" {
		t.Errorf("after up: a %s, b %s", r["modes-a-1"].State, r["modes-b-1"].State)
	}
}

// TestComposeModesBadDevice: a device that is not one fails up with the
// service and the path named, and creates no container for it.
func TestComposeModesBadDevice(t *testing.T) {
	cp := newComposeProject(t, "modesbad", `
services:
  x:
    image: busybox:latest
    command: ["sleep", "1000"]
    devices: ["/etc/passwd:/dev/x"]
`)
	_, errOut, code := cp.berth("up", "-d")
	t.Logf("up: %s", errOut)
	if code == 0 || !strings.Contains(errOut, "modesbad-x-1") || !strings.Contains(errOut, "device /etc/passwd: not a device node but a regular file") {
		t.Errorf("up: exit %d\n%s", code, errOut)
	}
	if ids := cp.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
}
