package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
)

func TestMain(m *testing.M) {
	if IsReexec() {
		Reexec()
	}
	if root := os.Getenv("BERTH_TEST_KEEP_SPARE"); root != "" {
		keepSpareHelper(root) // never returns
	}
	code := m.Run()
	if busyboxLower != "" {
		os.RemoveAll(busyboxLower)
	}
	os.Exit(code)
}

// fakeImages serves busybox rootfs dirs written once per test binary.
type fakeImages struct {
	lower string
	cfg   ImageConfig
}

func (f *fakeImages) Resolve(ctx context.Context, ref string) (Image, error) {
	if ref != "busybox" {
		return Image{}, fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	return Image{Ref: ref, ID: "sha256:test", LowerDirs: []string{f.lower}, Config: f.cfg}, nil
}

var busyboxLower string

func busybox(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireFile(t, testimage.BusyboxPath, "apt-get install busybox-static")
	if busyboxLower != "" {
		return busyboxLower
	}
	dir, err := os.MkdirTemp("", "berth-runtime-busybox-")
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.WriteRootfs(dir); err != nil {
		t.Fatal(err)
	}
	busyboxLower = dir
	return dir
}

type slogWriter struct{ t *testing.T }

func (w slogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newTestRuntime makes a Runtime with its own root, run dir and cgroup
// parent; cleanup removes every container and the cgroup parent.
func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	return newTestRuntimeInit(t, "")
}

// eachInit runs f with each pid 1 of Spec.Init: berth's own, and tini
// (Debian's tini package; CI installs it). comm is its /proc/1/comm.
func eachInit(t *testing.T, f func(t *testing.T, r *Runtime, comm string)) {
	t.Run("berth-init", func(t *testing.T) { f(t, newTestRuntimeInit(t, BuiltinInit), "berth-init") })
	t.Run("tini", func(t *testing.T) {
		testenv.RequireFile(t, "/usr/bin/tini-static", "apt-get install tini")
		f(t, newTestRuntimeInit(t, "/usr/bin/tini-static"), "tini-static")
	})
}

func newTestRuntimeInit(t *testing.T, initPath string) *Runtime {
	t.Helper()
	lower := busybox(t)
	b := make([]byte, 4)
	rand.Read(b)
	parent := "/berth-test-" + hex.EncodeToString(b)
	base := t.TempDir()
	r, err := New(Options{
		Root: filepath.Join(base, "containers"), RunDir: filepath.Join(base, "run"),
		Images:       &fakeImages{lower: lower, cfg: ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=" + defaultPath}}},
		Logger:       slog.New(slog.NewTextHandler(slogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		CgroupParent: parent,
		InitPath:     initPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := r.List(ctx, nil)
		for _, st := range list {
			if err := r.Remove(ctx, st.ID, true); err != nil {
				t.Errorf("cleanup: remove %s: %v", st.ID, err)
			}
		}
		for _, h := range cgroupHierarchies() {
			os.Remove(filepath.Join(h, parent))
		}
	})
	return r
}

// cgroupHierarchies lists mounted cgroup hierarchy roots.
func cgroupHierarchies() []string {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	if len(out) == 0 {
		out = []string{"/sys/fs/cgroup"}
	}
	return out
}

// started creates and starts a container of spec (busybox unless given)
// that the test's cleanup removes, and returns its state as running.
func started(t *testing.T, r *Runtime, spec Spec) *State {
	t.Helper()
	ctx := context.Background()
	if spec.Image == "" {
		spec.Image = "busybox"
	}
	st, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { r.Remove(context.Background(), st.ID, true) })
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	got, err := r.Inspect(ctx, st.ID)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return got
}

func run(t *testing.T, r *Runtime, spec Spec) (*State, ExitStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if spec.Image == "" {
		spec.Image = "busybox"
	}
	st, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	es, err := r.Wait(ctx, st.ID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return st, es, logsOf(t, r, st.ID)
}

func logsOf(t *testing.T, r *Runtime, id string) string {
	t.Helper()
	var b strings.Builder
	err := r.Logs(context.Background(), id, LogOptions{Tail: -1}, func(e LogEntry) error {
		b.WriteString(e.Log)
		return nil
	})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	return b.String()
}

func TestRunExitCodeAndLogs(t *testing.T) {
	r := newTestRuntime(t)
	_, es, out := run(t, r, Spec{Cmd: []string{"sh", "-c", "echo hello; echo oops >&2; exit 3"}})
	if es.Code != 3 {
		t.Errorf("exit code = %d, want 3 (%+v)", es.Code, es)
	}
	if !strings.Contains(out, "hello\n") || !strings.Contains(out, "oops\n") {
		t.Errorf("logs = %q", out)
	}
}
