package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitSpare waits until r keeps a spare shim other than not, and returns it.
func waitSpare(t *testing.T, r *Runtime, not int) *shimProc {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.spares.mu.Lock()
		p := r.spares.next
		r.spares.mu.Unlock()
		if p != nil && p.cmd.Process.Pid != not {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no spare shim (other than pid %d) within 10s", not)
	return nil
}

// shimOf is the pid of the shim that ran container dir's last run.
func shimOf(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, shimPidFile))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(data))[0])
	return pid
}

func gone(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }

// A kept spare shim runs the next start, which behaves as any other; it
// is replaced once used; a spare that died is replaced by a new shim at
// the next start; stop ends the spare.
func TestSpareShim(t *testing.T) {
	r := newTestRuntime(t)
	stop := r.KeepSpareShim(context.Background())
	defer stop()

	spare := waitSpare(t, r, 0)
	st, es, out := run(t, r, Spec{Cmd: []string{"sh", "-c", "echo from the spare; echo to stderr >&2; exit 7"}})
	if es.Code != 7 || !strings.Contains(out, "from the spare\n") || !strings.Contains(out, "to stderr\n") {
		t.Errorf("run under the spare: exit %d, logs %q", es.Code, out)
	}
	if got := shimOf(t, st.Dir); got != spare.cmd.Process.Pid {
		t.Errorf("the run's shim is pid %d, not the spare (%d)", got, spare.cmd.Process.Pid)
	}

	next := waitSpare(t, r, spare.cmd.Process.Pid)
	syscall.Kill(next.cmd.Process.Pid, syscall.SIGKILL)
	<-next.exited
	st2, es2, out2 := run(t, r, Spec{Cmd: []string{"sh", "-c", "echo after a dead spare"}})
	if es2.Code != 0 || !strings.Contains(out2, "after a dead spare\n") {
		t.Errorf("run after the spare died: exit %d, logs %q", es2.Code, out2)
	}
	if got := shimOf(t, st2.Dir); got == next.cmd.Process.Pid {
		t.Errorf("the run's shim is the dead spare %d", got)
	}

	last := waitSpare(t, r, next.cmd.Process.Pid)
	stop()
	if !gone(last.cmd.Process.Pid) {
		t.Errorf("spare shim %d still there after stop", last.cmd.Process.Pid)
	}
	r.spares.mu.Lock()
	kept := r.spares.next
	r.spares.mu.Unlock()
	if kept != nil {
		t.Errorf("a spare is kept after stop: pid %d", kept.cmd.Process.Pid)
	}
}

// An unassigned spare shim ends with the process that keeps it, even
// when that one is killed (SIGKILL): nothing is left behind.
func TestSpareShimEndsWithItsKeeper(t *testing.T) {
	busybox(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BERTH_TEST_KEEP_SPARE="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(stdout, &pid); err != nil || pid <= 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not report its spare: %v", err)
	}
	if gone(pid) {
		t.Fatalf("spare %d not running while its keeper lives", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !gone(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("spare shim %d outlived its keeper", pid)
	}
}

// keepSpareHelper is this test binary run by TestSpareShimEndsWithItsKeeper
// (TestMain): it keeps a spare shim, prints its pid, and waits to be
// killed.
func keepSpareHelper(root string) {
	r, err := New(Options{Root: filepath.Join(root, "containers"), RunDir: filepath.Join(root, "run")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.KeepSpareShim(context.Background())
	for {
		r.spares.mu.Lock()
		p := r.spares.next
		r.spares.mu.Unlock()
		if p != nil {
			fmt.Println(p.cmd.Process.Pid)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		time.Sleep(time.Hour) // until killed
	}
}
