package reconciler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	root := t.TempDir()
	st, err := OpenStore(root, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Config("abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing config: %v", err)
	}
	if err := st.SaveConfig("abc", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Config("abc"); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("config %s %v", b, err)
	}
	if err := st.SaveConfig("../x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad hash accepted: %v", err)
	}
	if err := st.SetStoppedByUser("demo-web-1", true); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.StoppedByUser(); !m["demo-web-1"] {
		t.Fatal("stop not recorded")
	}
	st.SetStoppedByUser("demo-web-1", false)
	if m, _ := st.StoppedByUser(); m["demo-web-1"] {
		t.Fatal("stop not cleared")
	}
	h := HealthStatus{Status: HealthHealthy, FailingStreak: 0, ContainerStarted: time.Unix(5, 0).UTC()}
	if err := st.SaveHealth("demo-web-1", h); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Health("demo-web-1"); err != nil || got.Status != HealthHealthy || !got.ContainerStarted.Equal(h.ContainerStarted) {
		t.Fatalf("health %+v %v", got, err)
	}
	if err := st.SaveHealth("../evil", h); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad name accepted: %v", err)
	}
	p := project(svc("web"))
	if err := st.SaveProject(p); err != nil {
		t.Fatal(err)
	}
	if got, err := st.LoadProject(); err != nil || got.Name != "demo" || len(got.Services) != 1 {
		t.Fatalf("project %+v %v", got, err)
	}
	l, err := AcquireLock(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.Dir()); !os.IsNotExist(err) {
		t.Fatalf("state dir left: %v", err)
	}
	// A waiter on the removed lock file does not share the lock with a
	// newcomer.
	l.Release()
	l2, err := AcquireLock(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := TryAcquireLock(st); ok {
		t.Fatal("lock taken twice after the file was removed")
	}
	l2.Release()
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, err := OpenStore(root, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("project %q accepted", bad)
		}
	}
}

func TestLockExcludes(t *testing.T) {
	st, _ := OpenStore(t.TempDir(), "demo")
	var mu sync.Mutex
	inside := 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				l, err := AcquireLock(context.Background(), st)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				if inside != 1 {
					t.Error("two holders at once")
				}
				mu.Unlock()
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				inside--
				mu.Unlock()
				l.Release()
			}
		}()
	}
	wg.Wait()
}

func TestLockTimeoutNamesHolder(t *testing.T) {
	st, _ := OpenStore(t.TempDir(), "demo")
	l, err := AcquireLock(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, ok, _ := TryAcquireLock(st); ok {
		t.Fatal("second lock taken")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = AcquireLock(ctx, st)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("err = %v", err)
	}
}

// A holder that dies (SIGKILL) releases the lock: the kernel drops flocks
// with the last descriptor of the open file.
func TestLockDeadHolder(t *testing.T) {
	if os.Getenv("BERTH_LOCK_HELPER") != "" {
		st, _ := OpenStore(os.Getenv("BERTH_LOCK_HELPER"), "demo")
		if _, err := AcquireLock(context.Background(), st); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDeadHolder$")
	cmd.Env = append(os.Environ(), "BERTH_LOCK_HELPER="+root)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("helper: %q %v", buf, err)
	}
	st, _ := OpenStore(root, "demo")
	if _, ok, _ := TryAcquireLock(st); ok {
		t.Fatal("lock free while the helper holds it")
	}
	b, _ := os.ReadFile(filepath.Join(st.Dir(), "lock"))
	if string(b) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("lock file says %q, holder is %d", b, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := AcquireLock(ctx, st)
	if err != nil {
		t.Fatalf("lock of a dead holder not free: %v", err)
	}
	l.Release()
}
