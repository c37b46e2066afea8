package volumes

// Container-level tests: mounts resolved here, run by the real runtime in
// busybox containers (a rootfs written straight into a dir, no image store).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/runtime"
)

func TestMain(m *testing.M) {
	if runtime.IsReexec() {
		runtime.Reexec()
	}
	if root := os.Getenv(churnEnv); root != "" {
		churn(root) // never returns; killed by TestKilledMidway
	}
	os.Exit(m.Run())
}

// testImages serves "busybox" (the busybox rootfs) and "app" (busybox with
// a layer holding /var/lib/app owned by app:extra and a hostile symlink).
type testImages struct {
	busybox, appLayer string
	hostTarget        string // where the app image's /evil symlink points
}

func (im *testImages) Resolve(ctx context.Context, ref string) (runtime.Image, error) {
	cfg := runtime.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	switch ref {
	case "busybox":
		return runtime.Image{Ref: ref, ID: "sha256:busybox", LowerDirs: []string{im.busybox}, Config: cfg}, nil
	case "app":
		return runtime.Image{Ref: ref, ID: "sha256:app", LowerDirs: []string{im.appLayer, im.busybox}, Config: cfg}, nil
	}
	return runtime.Image{}, fmt.Errorf("image %s: %w", ref, runtime.ErrNotFound)
}

// newContainerEnv returns a volumes Manager and a Runtime, each in its own
// temp dir, with a cgroup parent of its own; cleanup removes every
// container, the cgroups and what is mounted below the volumes root.
func newContainerEnv(t *testing.T) (*Manager, *runtime.Runtime, *testImages) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireFile(t, testimage.BusyboxPath, "apt-get install busybox-static")
	m := newRootManager(t)
	base := t.TempDir()
	im := &testImages{busybox: filepath.Join(base, "busybox"), appLayer: filepath.Join(base, "app"), hostTarget: filepath.Join(base, "host-target")}
	for _, d := range []string{im.busybox, im.appLayer, im.hostTarget} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := testimage.WriteRootfs(im.busybox); err != nil {
		t.Fatal(err)
	}
	writeAppLayer(t, im)
	b := make([]byte, 4)
	rand.Read(b)
	parent := "/berth-voltest-" + hex.EncodeToString(b)
	r, err := runtime.New(runtime.Options{
		Root: filepath.Join(base, "containers"), RunDir: filepath.Join(base, "run"),
		Images: im, Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		CgroupParent: parent,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := r.List(ctx, nil)
		for _, st := range list {
			if err := r.Remove(ctx, st.ID, true); err != nil {
				t.Errorf("cleanup: remove container %s: %v", st.ID, err)
			}
		}
		ents, _ := os.ReadDir("/sys/fs/cgroup")
		for _, e := range ents {
			os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), parent))
		}
	})
	return m, r, im
}

// writeAppLayer writes the app image's own layer: /var/lib/app with files
// of several owners and modes, and /evil, an absolute symlink to a host dir.
func writeAppLayer(t *testing.T, im *testImages) {
	t.Helper()
	app := filepath.Join(im.appLayer, "var/lib/app")
	for _, step := range []func() error{
		func() error { return os.MkdirAll(filepath.Join(app, "sub"), 0o755) },
		func() error { return os.WriteFile(filepath.Join(app, "conf"), []byte("from-image\n"), 0o644) },
		func() error { return os.Chmod(filepath.Join(app, "conf"), 0o640) },
		func() error { return os.Lchown(filepath.Join(app, "conf"), 1000, 1001) },
		func() error { return os.Chmod(filepath.Join(app, "sub"), os.ModeSetgid|0o750) },
		func() error { return os.Lchown(filepath.Join(app, "sub"), 1000, 1000) },
		func() error { return os.Chmod(app, 0o770) },
		func() error { return os.Lchown(app, 1000, 1000) },
		func() error { return os.Symlink(im.hostTarget, filepath.Join(im.appLayer, "evil")) },
		func() error {
			return os.Symlink("../../../../../../../../"+im.hostTarget, filepath.Join(im.appLayer, "evil-rel"))
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

// runIn creates and starts a container of image with mounts, waits for it
// and returns its id, exit code and output.
func runIn(t *testing.T, r *runtime.Runtime, image string, mounts []runtime.Mount, script string) (string, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := r.Create(ctx, runtime.Spec{Image: image, Mounts: mounts, Cmd: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	code, out := startWait(t, r, st.ID)
	return st.ID, code, out
}

func startWait(t *testing.T, r *runtime.Runtime, id string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	es, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	var b strings.Builder
	if err := r.Logs(ctx, id, runtime.LogOptions{Tail: -1}, func(e runtime.LogEntry) error {
		b.WriteString(e.Log)
		return nil
	}); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return es.Code, b.String()
}

func removeContainer(t *testing.T, r *runtime.Runtime, id string) {
	t.Helper()
	if err := r.Remove(context.Background(), id, true); err != nil {
		t.Fatalf("remove container: %v", err)
	}
}

// Data written in a container survives its removal; a new container sees
// it. Same for a driver_opts tmpfs volume while the machine is up.
func TestContainerDataSurvivesRemoval(t *testing.T) {
	m, r, _ := newContainerEnv(t)
	ctx := context.Background()
	o := ResolveOptions{Project: "demo", Service: "db", Number: 1, Volumes: map[string]Spec{
		"db":   ProjectSpec("demo", "db", Spec{}),
		"fast": ProjectSpec("demo", "fast", Spec{DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=4m"}}),
	}}
	reqs := []Request{{Type: TypeVolume, Source: "db", Target: "/data"}, {Type: TypeVolume, Source: "fast", Target: "/fast"}}
	mounts, err := m.Resolve(ctx, o, reqs)
	if err != nil {
		t.Fatal(err)
	}
	id, code, out := runIn(t, r, "busybox", mounts, "echo kept > /data/row && echo quick > /fast/row")
	if code != 0 {
		t.Fatalf("writer exit %d: %s", code, out)
	}
	removeContainer(t, r, id)
	mounts, err = m.Resolve(ctx, o, reqs)
	if err != nil {
		t.Fatal(err)
	}
	id, code, out = runIn(t, r, "busybox", mounts, "cat /data/row /fast/row")
	if code != 0 || out != "kept\nquick\n" {
		t.Fatalf("reader exit %d, output %q", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(m.dataDir("demo_db"), "row")); err != nil || string(b) != "kept\n" {
		t.Fatalf("on the host: %q, %v", b, err)
	}
	removeContainer(t, r, id)
	// down -v: the tmpfs volume is unmounted (the leak check verifies it).
	if removed, err := m.RemoveProject(ctx, "demo", nil); err != nil || len(removed) != 2 {
		t.Fatalf("down -v = %v, %v", removed, err)
	}
}

// The first use of an empty named volume copies the image's content at the
// target, with owners and modes; nocopy turns that off; a volume that
// already has content is not overwritten.
func TestContainerFirstUseCopy(t *testing.T) {
	m, r, _ := newContainerEnv(t)
	ctx := context.Background()
	o := ResolveOptions{Project: "demo", Service: "app", Number: 1, Volumes: map[string]Spec{
		"copied": ProjectSpec("demo", "copied", Spec{}),
		"empty":  ProjectSpec("demo", "empty", Spec{}),
	}}
	mounts, err := m.Resolve(ctx, o, []Request{{Type: TypeVolume, Source: "copied", Target: "/var/lib/app"}})
	if err != nil {
		t.Fatal(err)
	}
	stat := "stat -c '%n %a %u %g' /var/lib/app /var/lib/app/conf /var/lib/app/sub; cat /var/lib/app/conf"
	id, code, out := runIn(t, r, "app", mounts, stat+"; echo changed > /var/lib/app/conf")
	want := "/var/lib/app 770 1000 1000\n/var/lib/app/conf 640 1000 1001\n/var/lib/app/sub 2750 1000 1000\nfrom-image\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	removeContainer(t, r, id)
	_, code, out = runIn(t, r, "app", mounts, "cat /var/lib/app/conf")
	if code != 0 || out != "changed\n" {
		t.Fatalf("second use: exit %d, %q (the copy must happen only into an empty volume)", code, out)
	}

	mounts, err = m.Resolve(ctx, o, []Request{{Type: TypeVolume, Source: "empty", Target: "/var/lib/app", NoCopy: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, code, out = runIn(t, r, "app", mounts, "ls -A /var/lib/app | wc -l")
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Fatalf("nocopy: exit %d, %q entries", code, out)
	}
}

// A read-only bind refuses writes, and nothing reaches the host dir; a
// read-write bind (relative to the project dir) lets them through.
func TestContainerBinds(t *testing.T) {
	m, r, _ := newContainerEnv(t)
	ctx := context.Background()
	proj := t.TempDir()
	if err := os.Mkdir(filepath.Join(proj, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.Resolve(ctx, ResolveOptions{ProjectDir: proj}, []Request{
		{Type: TypeBind, Source: "./conf", Target: "/conf", ReadOnly: true},
		{Type: TypeBind, Source: "./out", Target: "/out", CreateHostPath: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, code, out := runIn(t, r, "busybox", mounts, "if (echo x > /conf/new) 2>/dev/null; then echo wrote; else echo refused; fi; echo hi > /out/f")
	if code != 0 || out != "refused\n" {
		t.Fatalf("exit %d, output %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(proj, "conf/new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write through a ro bind reached the host: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(proj, "out/f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("rw bind: %q, %v", b, err)
	}
}

// A tmpfs mount is empty at every start of the container.
func TestContainerTmpfsEmptyAfterRestart(t *testing.T) {
	m, r, _ := newContainerEnv(t)
	mounts, err := m.Resolve(context.Background(), ResolveOptions{}, []Request{{Type: TypeTmpfs, Target: "/scratch", TmpfsSize: 1 << 20, TmpfsMode: 0o700}})
	if err != nil {
		t.Fatal(err)
	}
	id, code, out := runIn(t, r, "busybox", mounts, "ls -A /scratch | wc -l; stat -c %a /scratch; df -k /scratch | tail -1 | awk '{print $2}'; echo x > /scratch/f")
	if code != 0 || out != "0\n700\n1024\n" {
		t.Fatalf("first start: exit %d, %q", code, out)
	}
	code, out = startWait(t, r, id) // the log keeps the first run's lines
	if code != 0 || out != "0\n700\n1024\n0\n700\n1024\n" {
		t.Fatalf("after restart: exit %d, %q", code, out)
	}
}

// Anonymous volumes (declared, and the image's VOLUMEs) are found again
// when the same replica is recreated; `down -v` removes them with the
// project's named volumes; external volumes stay; a running container's
// volume cannot be removed.
func TestContainerAnonymousRecreateAndDownV(t *testing.T) {
	m, r, _ := newContainerEnv(t)
	ctx := context.Background()
	if _, err := m.Ensure(ctx, Spec{Name: "shared-ext"}); err != nil {
		t.Fatal(err)
	}
	o := ResolveOptions{Project: "demo", Service: "web", Number: 1, ImageVolumes: []string{"/cache"}, Volumes: map[string]Spec{
		"named": ProjectSpec("demo", "named", Spec{}),
		"ext":   {Name: "shared-ext", External: true},
	}}
	reqs := []Request{{Type: TypeVolume, Target: "/anon"}, {Type: TypeVolume, Source: "named", Target: "/named"}, {Type: TypeVolume, Source: "ext", Target: "/ext"}}
	mounts, err := m.Resolve(ctx, o, reqs)
	if err != nil {
		t.Fatal(err)
	}
	id, code, out := runIn(t, r, "busybox", mounts, "for d in anon cache named ext; do echo $d > /$d/f; done")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	removeContainer(t, r, id) // recreate
	mounts, err = m.Resolve(ctx, o, reqs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Create(ctx, runtime.Spec{Image: "busybox", Mounts: mounts, Cmd: []string{"sh", "-c", "cat /anon/f /cache/f /named/f /ext/f; exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, r, st.ID, "anon\ncache\nnamed\next\n")

	// In use by the running container: refused, nothing removed.
	if _, err := m.RemoveProject(ctx, "demo", []string{"shared-ext"}); !errors.Is(err, ErrInUse) {
		t.Fatalf("down -v with a running container = %v, want ErrInUse", err)
	}
	if err := m.Remove(ctx, "shared-ext", false); !errors.Is(err, ErrInUse) {
		t.Fatalf("rm of a volume in use = %v", err)
	}
	removeContainer(t, r, st.ID)

	removed, err := m.RemoveProject(ctx, "demo", []string{"shared-ext"})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Fatalf("down -v removed %v, want the named and two anonymous volumes", removed)
	}
	left, err := m.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Name != "shared-ext" {
		t.Fatalf("after down -v: %v", names(left))
	}
}

func waitForLog(t *testing.T, r *runtime.Runtime, id, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		var b strings.Builder
		r.Logs(context.Background(), id, runtime.LogOptions{Tail: -1}, func(e runtime.LogEntry) error {
			b.WriteString(e.Log)
			return nil
		})
		if got = b.String(); got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container log %q, want %q", got, want)
}

// A symlink in the image cannot send a mount outside the rootfs: the
// image's /evil points at a host dir (absolute, and relative with many
// ../), and volumes and tmpfs mounted "there" stay inside the container.
func TestContainerSymlinkAttackContained(t *testing.T) {
	m, r, im := newContainerEnv(t)
	ctx := context.Background()
	mounts, err := m.Resolve(ctx, ResolveOptions{Project: "demo", Service: "evil", Number: 1, Volumes: map[string]Spec{"v": ProjectSpec("demo", "v", Spec{})}}, []Request{
		{Type: TypeVolume, Source: "v", Target: "/evil/vol"},
		{Type: TypeTmpfs, Target: "/evil-rel/tmp"},
		{Type: TypeVolume, Target: "/evil"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, code, out := runIn(t, r, "app", mounts, "echo pwned > /evil/vol/f; echo pwned > /evil-rel/tmp/f; echo pwned > /evil/g; cat /evil/vol/f")
	if code != 0 || out != "pwned\n" {
		t.Fatalf("exit %d, %q", code, out)
	}
	ents, err := os.ReadDir(im.hostTarget)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("the container wrote into the host dir its symlink points at: %v", ents)
	}
	if got := mountsAt(t, filepath.Join(im.hostTarget, "tmp")); len(got) != 0 {
		t.Fatalf("mount on the host: %v", got)
	}
}
