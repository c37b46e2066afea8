package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
)

func TestIsolation(t *testing.T) {
	r := newTestRuntime(t)
	script := `echo pid=$$; hostname; ps -o pid | wc -l; grep CapEff /proc/self/status; ` +
		`cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname && echo sysrw; ` +
		`ls /dev; cat /etc/hostname; grep -c localhost /etc/hosts; ip link 2>/dev/null | grep -c UP; cat /proc/self/cgroup | head -3`
	st, es, out := run(t, r, Spec{Hostname: "boxy", Cmd: []string{"sh", "-c", script}})
	if es.Code != 0 {
		t.Fatalf("exit %d: %s", es.Code, out)
	}
	for _, want := range []string{"pid=1\n", "boxy\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	// ps lists: header, sh, ps, wc → few lines, never the host's processes.
	if n, _ := strconv.Atoi(strings.TrimSpace(lines[2])); n > 6 || n < 2 {
		t.Errorf("ps saw %d lines: host processes visible?\n%s", n, out)
	}
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if caps&(1<<21) != 0 {
				t.Errorf("CAP_SYS_ADMIN in CapEff %s", v)
			}
			if caps != 0xa80425fb {
				t.Errorf("CapEff = %x, want Docker's default a80425fb", caps)
			}
		}
	}
	if lines[4] != "0" {
		t.Errorf("/proc/timer_list readable: %q bytes", lines[4])
	}
	if strings.Contains(out, "sysrw") {
		t.Errorf("/proc/sys writable")
	}
	if st.Spec.Hostname != "boxy" {
		t.Errorf("hostname in spec %q", st.Spec.Hostname)
	}
}

func TestExitCodes(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	for _, tc := range []struct {
		cmd  []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"nonexistent-cmd"}, 127},
		{[]string{"/etc/passwd"}, 126},
		{[]string{"/etc"}, 126},
		{[]string{"/no/such/file"}, 127},
	} {
		st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: tc.cmd})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Start(ctx, st.ID)
		var code int
		var se *StartError
		switch {
		case errors.As(err, &se):
			code = se.ExitCode
			got, _ := r.Inspect(ctx, st.ID)
			if got.Status != StatusCreated || got.ExitCode != code {
				t.Errorf("%v: after failed start status %s exit %d", tc.cmd, got.Status, got.ExitCode)
			}
		case err != nil:
			t.Fatalf("%v: %v", tc.cmd, err)
		default:
			es, err := r.Wait(ctx, st.ID)
			if err != nil {
				t.Fatal(err)
			}
			code = es.Code
		}
		if code != tc.code {
			t.Errorf("%v: exit code %d, want %d (%v)", tc.cmd, code, tc.code, err)
		}
	}
}

func TestStopGraceThenKill(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	// sleep as pid 1 ignores SIGTERM (no handler): Stop must escalate.
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	grace := 300 * time.Millisecond
	t0 := time.Now()
	if err := r.Stop(ctx, st.ID, &grace); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < grace {
		t.Errorf("stopped after %v, before the grace period", d)
	}
	got, _ := r.Inspect(ctx, st.ID)
	if got.Status != StatusExited || got.ExitCode != 137 {
		t.Errorf("status %s exit %d, want exited 137", got.Status, got.ExitCode)
	}
	// A shell that traps TERM exits with its own code within the grace.
	st2, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.05; done"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st2.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	long := 20 * time.Second
	if err := r.Stop(ctx, st2.ID, &long); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Inspect(ctx, st2.ID)
	if got.ExitCode != 7 {
		t.Errorf("trapped TERM: exit %d, want 7", got.ExitCode)
	}
	// Restart the exited container: same container, new process.
	if err := r.Start(ctx, st2.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Inspect(ctx, st2.ID)
	if got.Status != StatusRunning || got.RestartCount != 1 {
		t.Errorf("after restart: %s restarts %d", got.Status, got.RestartCount)
	}
	if err := r.Start(ctx, st2.ID); !errors.Is(err, ErrInvalidState) {
		t.Errorf("start of running container: %v, want ErrInvalidState", err)
	}
	if err := r.Remove(ctx, st2.ID, false); !errors.Is(err, ErrInvalidState) {
		t.Errorf("remove of running container without force: %v", err)
	}
}

func TestInitForwardsSignals(t *testing.T) {
	eachInit(t, func(t *testing.T, r *Runtime, _ string) {
		ctx := context.Background()
		st, err := r.Create(ctx, Spec{Image: "busybox", Init: true,
			Cmd: []string{"sh", "-c", "trap 'echo got-usr1; exit 9' USR1; echo pid=$$; (sleep 1000 &) ; while true; do sleep 0.05; done"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, st.ID); err != nil {
			t.Fatal(err)
		}
		waitLog(t, r, st.ID, "pid=")
		if err := r.Kill(ctx, st.ID, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		es, err := r.Wait(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := logsOf(t, r, st.ID)
		if es.Code != 9 || !strings.Contains(out, "got-usr1") {
			t.Errorf("exit %d logs %q", es.Code, out)
		}
		if strings.Contains(out, "pid=1\n") {
			t.Errorf("with init the process must not be pid 1: %q", out)
		}
		// SIGTERM reaches the process too (a stop), and the exit is its own.
		st, err = r.Create(ctx, Spec{Image: "busybox", Init: true, Cmd: []string{"sh", "-c", "trap 'exit 3' TERM; echo up; sleep 1000 & wait"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, st.ID); err != nil {
			t.Fatal(err)
		}
		waitLog(t, r, st.ID, "up")
		grace := 10 * time.Second
		started := time.Now()
		if err := r.Stop(ctx, st.ID, &grace); err != nil {
			t.Fatal(err)
		}
		got, err := r.Inspect(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ExitCode != 3 || time.Since(started) > 5*time.Second {
			t.Errorf("stop: exit %d after %v, want 3 from the TERM trap", got.ExitCode, time.Since(started))
		}
	})
}

// The init does (or is started after) the first process's steps: the same
// masks, read-only rootfs, user and terminal as without it, and it shows as
// pid 1.
func TestInitKeepsTheContainerShape(t *testing.T) {
	eachInit(t, func(t *testing.T, r *Runtime, comm string) {
		script := `tty; id -u; cat /proc/1/comm; cat /proc/kcore | wc -c; touch /x 2>/dev/null || echo ro; ` +
			`grep -c . /proc/1/cmdline >/dev/null && tr '\0' ' ' </proc/1/cmdline; echo`
		_, es, out := run(t, r, Spec{Init: true, Tty: true, ReadOnly: true, User: "65534", Cmd: []string{"sh", "-c", script}})
		if es.Code != 0 {
			t.Fatalf("exit %d: %q", es.Code, out)
		}
		for _, want := range []string{"/dev/pts/", "65534", comm + "\r\n", "\n0\r\n", "ro", " -- sh -c"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q: %q", want, out)
			}
		}
	})
}

func waitLog(t *testing.T, r *Runtime, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(logsOf(t, r, id), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log never showed %q: %q", want, logsOf(t, r, id))
}

func TestOOMKilled(t *testing.T) {
	r := newTestRuntime(t)
	_, es, out := run(t, r, Spec{Resources: Resources{Memory: 32 << 20},
		Cmd: []string{"sh", "-c", `awk 'BEGIN{s="x"; while(1) s=s s}'`}})
	if !es.OOMKilled || es.Code != 137 {
		t.Errorf("exit %+v, want OOMKilled and 137; logs %q", es, out)
	}
}

func TestPidsLimit(t *testing.T) {
	r := newTestRuntime(t)
	_, es, out := run(t, r, Spec{Resources: Resources{PidsLimit: 20},
		Cmd: []string{"sh", "-c", `i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); done 2>&1 | head -1; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; echo done`}})
	if !strings.Contains(out, "can't fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Errorf("fork bomb not stopped: exit %d logs %q", es.Code, out)
	}
}

func TestExec(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Hostname: "exechost", Env: []string{"A=1"}, Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code, err := r.Exec(ctx, st.ID, ExecSpec{Args: []string{"sh", "-c", "echo $A $B; hostname; id -u; ps -o pid,comm | grep -c sleep; cat /proc/self/cgroup | grep -c memory; pwd; exit 4"},
		Env: []string{"B=2"}, User: "app", WorkingDir: "/tmp", Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if code != 4 {
		t.Errorf("exit %d, want 4 (stderr %q)", code, errb.String())
	}
	want := "1 2\nexechost\n1000\n1\n1\n/tmp\n"
	if out.String() != want {
		t.Errorf("exec output %q, want %q (stderr %q)", out.String(), want, errb.String())
	}
	// The exec'd process is in the container's cgroup.
	code, err = r.Exec(ctx, st.ID, ExecSpec{Args: []string{"nope"}})
	var se *StartError
	if !errors.As(err, &se) || code != 127 {
		t.Errorf("exec of missing command: %d %v", code, err)
	}
	// With a pty.
	out.Reset()
	code, err = r.Exec(ctx, st.ID, ExecSpec{Args: []string{"sh", "-c", "tty && echo is-tty; stty size"}, Tty: true, ConsoleSize: [2]uint16{33, 99}, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("tty exec: %d %v", code, err)
	}
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "is-tty") || !strings.Contains(out.String(), "33 99") {
		t.Errorf("tty exec output %q", out.String())
	}
}

func TestLogRotation(t *testing.T) {
	r := newTestRuntime(t)
	st, es, _ := run(t, r, Spec{Log: LogConfig{MaxSize: 4096, MaxFiles: 3},
		Cmd: []string{"sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"}})
	if es.Code != 0 {
		t.Fatal(es)
	}
	files, _ := filepath.Glob(st.LogPath + "*")
	if len(files) != 3 {
		t.Errorf("log files %v, want 3", files)
	}
	for _, f := range files {
		fi, _ := os.Stat(f)
		if fi.Size() > 4096 {
			t.Errorf("%s is %d bytes > max-size", f, fi.Size())
		}
	}
	out := logsOf(t, r, st.ID)
	if !strings.HasSuffix(out, "line-399\n") || strings.Contains(out, "line-0\n") {
		t.Errorf("rotated logs end %q", out[len(out)-30:])
	}
	var tail []string
	r.Logs(context.Background(), st.ID, LogOptions{Tail: 2}, func(e LogEntry) error {
		tail = append(tail, e.Log)
		return nil
	})
	if strings.Join(tail, "") != "line-398\nline-399\n" {
		t.Errorf("tail 2 = %q", tail)
	}
}

func TestLogsFollow(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.1; done"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := r.Logs(ctx, st.ID, LogOptions{Follow: true, Tail: -1}, func(e LogEntry) error {
		got = append(got, e.Log)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "") != "n1\nn2\nn3\n" {
		t.Errorf("followed %q", got)
	}
}

// The shim survives its parent; a dead shim is detected and repaired.
func TestStateAfterParentAndShimDie(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	// Start from a separate process (this test binary re-run as a CLI)
	// that is then killed.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStart$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_ROOT="+r.root, "BERTH_TEST_RUN="+r.runDir, "BERTH_TEST_ID="+st.ID,
		"BERTH_TEST_LOWER="+busyboxLower, "BERTH_TEST_CGROUP="+r.cgroupParent)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	got, _ := r.Inspect(ctx, st.ID)
	if got.Status != StatusRunning || !alive(got.Pid, got.PidStart) {
		t.Fatalf("after the starting process exited: %s", got.Status)
	}
	// Kill the shim: the next look repairs the state and removes leftovers.
	syscall.Kill(got.ShimPid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for alive(got.ShimPid, got.ShimStart) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r2, err := New(Options{Root: r.root, RunDir: r.runDir, Images: r.images, CgroupParent: r.cgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	got2, _ := r2.Inspect(ctx, st.ID)
	if got2.Status != StatusExited || got2.Error == "" {
		t.Errorf("after shim death: %s %q", got2.Status, got2.Error)
	}
	if alive(got.Pid, got.PidStart) {
		t.Errorf("container init %d still alive", got.Pid)
	}
}

// A starter killed after the shim started the container but before it
// recorded it leaves the state at "created" and an orphan shim running.
// The next Start ends the orphan, and the orphan's end does not touch the
// new run (they share the cgroup path).
func TestStartAfterStarterKilled(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	first := started(t, r, Spec{Cmd: []string{"sleep", "60"}})
	st := first
	// What the killed starter would have left: the state before its save.
	unrecorded := *first
	unrecorded.Status = StatusCreated
	unrecorded.Pid, unrecorded.PidStart, unrecorded.ShimPid, unrecorded.ShimStart = 0, 0, 0, 0
	unrecorded.Namespaces = nil
	if err := r.save(&unrecorded); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatalf("start after an unrecorded start: %v", err)
	}
	if alive(first.ShimPid, first.ShimStart) || alive(first.Pid, first.PidStart) {
		t.Errorf("the orphan run lives on: shim %v, process %v", alive(first.ShimPid, first.ShimStart), alive(first.Pid, first.PidStart))
	}
	time.Sleep(300 * time.Millisecond)
	second, _ := r.Inspect(ctx, st.ID)
	if second.Status != StatusRunning || !alive(second.Pid, second.PidStart) || second.Pid == first.Pid {
		t.Errorf("new run after the orphan's end: %s, pid %d (first %d), alive %v", second.Status, second.Pid, first.Pid, alive(second.Pid, second.PidStart))
	}
	pids, _ := os.ReadFile(filepath.Join(hostCgroupDirs(second.CgroupPath)[0], "cgroup.procs"))
	if got := strings.Fields(string(pids)); len(got) != 1 || got[0] != strconv.Itoa(second.Pid) {
		t.Errorf("processes in the cgroup: %q, want only %d", got, second.Pid)
	}
}

func TestHelperStart(t *testing.T) {
	root := os.Getenv("BERTH_TEST_ROOT")
	if root == "" {
		t.Skip("helper for TestStateAfterParentAndShimDie")
	}
	r, err := New(Options{Root: root, RunDir: os.Getenv("BERTH_TEST_RUN"), CgroupParent: os.Getenv("BERTH_TEST_CGROUP"),
		Images: &fakeImages{lower: os.Getenv("BERTH_TEST_LOWER")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), os.Getenv("BERTH_TEST_ID")); err != nil {
		t.Fatal(err)
	}
}

func TestRebootMarker(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Inspect(ctx, st.ID)
	// Simulate the reboot: processes gone, run dir emptied.
	syscall.Kill(got.ShimPid, syscall.SIGKILL)
	syscall.Kill(got.Pid, syscall.SIGKILL)
	os.Remove(filepath.Join(r.runDir, "boot-id"))
	r2, err := New(Options{Root: r.root, RunDir: r.runDir, Images: r.images, CgroupParent: r.cgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	got2, _ := r2.Inspect(ctx, st.ID)
	if got2.Status != StatusExited || !strings.Contains(got2.Error, "reboot") {
		t.Errorf("after reboot: %s %q", got2.Status, got2.Error)
	}
	// The cgroup of the "previous boot" is garbage for Remove to clear.
}

// After rm (and a failed start) no mount, cgroup, process or file remains.
func TestNoLeaks(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	before := mountCount(t)
	vol := t.TempDir()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"},
		Mounts: []Mount{{Type: "bind", Source: vol, Target: "/data"}, {Type: "tmpfs", Target: "/scratch"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Inspect(ctx, st.ID)
	cgDirs := hostCgroupDirs(got.CgroupPath)
	if len(cgDirs) == 0 {
		t.Fatalf("no cgroup dirs for %s while running", got.CgroupPath)
	}
	if err := r.Remove(ctx, st.ID, true); err != nil {
		t.Fatal(err)
	}
	// A failed start leaves nothing either.
	st2, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st2.ID); err == nil {
		t.Fatal("start of a missing command succeeded")
	}
	got2, _ := r.Inspect(ctx, st2.ID)
	if d := hostCgroupDirs(got2.CgroupPath); len(d) > 0 {
		t.Errorf("failed start left cgroups %v", d)
	}
	if err := r.Remove(ctx, st2.ID, false); err != nil {
		t.Fatal(err)
	}
	if after := mountCount(t); after != before {
		t.Errorf("mounts: %d before, %d after", before, after)
	}
	if d := hostCgroupDirs(got.CgroupPath); len(d) > 0 {
		t.Errorf("cgroup dirs left: %v", d)
	}
	for _, pid := range []int{got.Pid, got.ShimPid} {
		if alive(pid, 0) || syscall.Kill(pid, 0) == nil && isOurs(pid, got) {
			t.Errorf("process %d still alive", pid)
		}
	}
	ents, _ := os.ReadDir(r.root)
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("left in root: %s", e.Name())
		}
	}
}

// A privileged container has no devices cgroup, which the cgroups
// library's manager still names: its other hierarchies go with rm, and
// what it left running is killed when its first process ends.
func TestPrivilegedLeavesNoCgroup(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	got := started(t, r, Spec{Privileged: true, Cmd: []string{"sh", "-c", "sleep 60 & sleep 0.2"}})
	st := got
	dirs := hostCgroupDirs(got.CgroupPath)
	if len(dirs) == 0 {
		t.Fatalf("no cgroup dirs for %s while running", got.CgroupPath)
	}
	if _, err := r.Wait(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); len(procs) > 0 {
			t.Errorf("processes left in %s after the exit: %q", d, procs)
		}
	}
	if err := r.Remove(ctx, st.ID, false); err != nil {
		t.Fatal(err)
	}
	if d := hostCgroupDirs(got.CgroupPath); len(d) > 0 {
		t.Errorf("cgroup dirs left after rm: %v", d)
	}
}

func isOurs(pid int, st *State) bool {
	s, err := procStartTime(pid)
	return err == nil && (s == st.PidStart || s == st.ShimStart)
}

func mountCount(t *testing.T) int {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n
}

func hostCgroupDirs(path string) []string {
	var out []string
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, path)); err == nil {
			out = append(out, filepath.Join(h, path))
		}
	}
	return out
}

// Wait returns on the shim's exit record (exit.json), not on the shim's
// own exit, and a record of another run is not taken for this one's.
func TestWaitWakesOnExitRecord(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	run := started(t, r, Spec{Cmd: []string{"sleep", "60"}})
	st := run
	record := func(rec exitRecord) {
		data, _ := json.Marshal(rec)
		if err := atomicfile.WriteVolatile(filepath.Join(run.Dir, exitFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier shim that had the same pid.
	record(exitRecord{ShimPid: run.ShimPid, ShimStart: run.ShimStart - 1, ExitCode: 3})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := r.Wait(short, st.ID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with another run's record: %v, want a timeout", err)
	}
	done := make(chan ExitStatus, 1)
	go func() {
		es, _ := r.Wait(ctx, st.ID)
		done <- es
	}()
	time.Sleep(100 * time.Millisecond)
	record(exitRecord{ShimPid: run.ShimPid, ShimStart: run.ShimStart, ExitCode: 7, FinishedAt: time.Now().UTC()})
	select {
	case es := <-done:
		if es.Code != 7 {
			t.Errorf("exit code %d, want 7", es.Code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait did not wake on the exit record")
	}
	if !alive(run.ShimPid, run.ShimStart) {
		t.Error("the shim is gone: Wait may have woken on its exit instead")
	}
	// rm ends the shim that is still there, and what runs in the cgroup.
	if err := r.Remove(ctx, st.ID, false); err != nil {
		t.Fatal(err)
	}
	if alive(run.ShimPid, run.ShimStart) || alive(run.Pid, run.PidStart) {
		t.Errorf("after rm: shim alive %v, process alive %v", alive(run.ShimPid, run.ShimStart), alive(run.Pid, run.PidStart))
	}
	if d := hostCgroupDirs(run.CgroupPath); len(d) > 0 {
		t.Errorf("cgroup dirs left: %v", d)
	}
}

// Wait works from a process that is not the shim's parent, and returns
// promptly when the container exits.
func TestWaitFromOtherProcess(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sh", "-c", "sleep 0.5; exit 42"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWait$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_ROOT="+r.root, "BERTH_TEST_RUN="+r.runDir, "BERTH_TEST_ID="+st.ID,
		"BERTH_TEST_LOWER="+busyboxLower, "BERTH_TEST_CGROUP="+r.cgroupParent)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	if !strings.Contains(string(out), "exit=42") {
		t.Errorf("helper's Wait: %s", out)
	}
}

func TestHelperWait(t *testing.T) {
	root := os.Getenv("BERTH_TEST_ROOT")
	if root == "" {
		t.Skip("helper for TestWaitFromOtherProcess")
	}
	r, err := New(Options{Root: root, RunDir: os.Getenv("BERTH_TEST_RUN"), CgroupParent: os.Getenv("BERTH_TEST_CGROUP"),
		Images: &fakeImages{lower: os.Getenv("BERTH_TEST_LOWER")}})
	if err != nil {
		t.Fatal(err)
	}
	es, err := r.Wait(context.Background(), os.Getenv("BERTH_TEST_ID"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("exit=%d\n", es.Code)
}
