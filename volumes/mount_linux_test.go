package volumes

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"golang.org/x/sys/unix"
)

// newRootManager is a Manager on the real host mount table, in a temp dir.
// Whatever the test leaves mounted below it is unmounted at cleanup.
func newRootManager(t *testing.T) *Manager {
	t.Helper()
	testenv.RequireRoot(t)
	root := filepath.Join(t.TempDir(), "volumes")
	m, err := New(Options{Root: root, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Safety net first (it runs last), then the leak check, which must find
	// that the code under test already unmounted everything.
	t.Cleanup(func() {
		if err := (hostMounter{}).unmountAll(root); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	leakcheck.Check(t, leakcheck.Contains(root))
	return m
}

// mountsAt returns the mountinfo entries (fstype included) mounted at p.
func mountsAt(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rp := realPath(p)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == rp {
			for i, fl := range fields {
				if fl == "-" && i+1 < len(fields) {
					out = append(out, fields[i+1])
				}
			}
		}
	}
	return out
}

func TestTmpfsVolumeMountedAndUnmounted(t *testing.T) {
	m := newRootManager(t)
	ctx := context.Background()
	v, err := m.Ensure(ctx, Spec{Name: "fast", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=0750,uid=1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mountsAt(t, v.Mountpoint); len(got) != 0 {
		t.Fatalf("mounted before first use: %v", got)
	}
	for range 2 { // idempotent
		if _, err := m.Mount(ctx, "fast"); err != nil {
			t.Fatal(err)
		}
	}
	if got := mountsAt(t, v.Mountpoint); len(got) != 1 || got[0] != "tmpfs" {
		t.Fatalf("mounts at data dir = %v, want one tmpfs", got)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(v.Mountpoint, &sfs); err != nil {
		t.Fatal(err)
	}
	if size := int64(sfs.Blocks) * sfs.Bsize; size != 4<<20 {
		t.Fatalf("tmpfs size = %d, want 4 MiB", size)
	}
	var st unix.Stat_t
	if err := unix.Stat(v.Mountpoint, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o750 || st.Uid != 1000 {
		t.Fatalf("tmpfs root mode %o uid %d, want 750 1000", st.Mode&0o7777, st.Uid)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reboot loses the mount; Mount sees that from mountinfo and redoes it.
	if err := unix.Unmount(v.Mountpoint, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mount(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	if got := mountsAt(t, v.Mountpoint); len(got) != 1 {
		t.Fatalf("after remount: %v", got)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tmpfs content after a remount: %v", err)
	}
	if err := m.Remove(ctx, "fast", false); err != nil {
		t.Fatal(err)
	}
	if got := mountsAt(t, v.Mountpoint); len(got) != 0 {
		t.Fatalf("still mounted after Remove: %v", got)
	}
	if _, err := os.Stat(m.dir("fast")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume dir after Remove: %v", err)
	}
}

// A bind volume of a host dir: mounted read-only as asked, and Remove takes
// the bind away without touching the host dir's content.
func TestBindVolumeMountedAndUnmounted(t *testing.T) {
	m := newRootManager(t)
	ctx := context.Background()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "keep.txt"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := m.Ensure(ctx, Spec{Name: "hostdir", DriverOpts: map[string]string{"type": "none", "device": host, "o": "bind,ro"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mount(ctx, "hostdir"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(v.Mountpoint, "keep.txt"))
	if err != nil || string(b) != "precious" {
		t.Fatalf("read through the volume: %q, %v", b, err)
	}
	err = os.WriteFile(filepath.Join(v.Mountpoint, "new.txt"), nil, 0o644)
	if !errors.Is(err, unix.EROFS) {
		t.Fatalf("write into a ro bind volume: %v, want EROFS", err)
	}
	if err := m.Remove(ctx, "hostdir", false); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "keep.txt")); err != nil || string(b) != "precious" {
		t.Fatalf("host dir damaged by Remove: %q, %v", b, err)
	}
}

// Leftover work dirs with mounts below them (a crash during Remove) are
// unmounted before they are deleted, so a bind's host dir survives.
func TestNewCleansMountedLeftovers(t *testing.T) {
	m := newRootManager(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "keep.txt"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	trash := filepath.Join(m.Root(), ".trash-crashed", "_data")
	tmp := filepath.Join(m.Root(), ".tmp-crashed", "_data")
	for _, d := range []string{trash, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount(host, trash, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", tmp, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Root: m.Root(), Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{trash, tmp} {
		if got := mountsAt(t, d); len(got) != 0 {
			t.Errorf("%s still mounted: %v", d, got)
		}
		if _, err := os.Stat(filepath.Dir(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want removed", filepath.Dir(d), err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(host, "keep.txt")); err != nil || string(b) != "precious" {
		t.Fatalf("host dir damaged: %q, %v", b, err)
	}
}

// holdInNamespace starts a process in a new mount namespace that runs
// script (with $SRC and $DST set) and then sleeps; it returns once the
// script has printed "ready". The process is killed at cleanup.
func holdInNamespace(t *testing.T, src, script string) *exec.Cmd {
	t.Helper()
	unshare := testenv.RequireCommand(t, "unshare", "apt-get install util-linux")
	dst := t.TempDir()
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script+"; echo ready; exec sleep 600")
	cmd.Env = append(os.Environ(), "SRC="+src, "DST="+dst)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("namespace holder: %q, %v", line, err)
	}
	return cmd
}

// A bind of the volume in another mount namespace (a running container)
// makes it in use, even with no hook; a mere copy of the host's mount
// table (a namespace cloned from the host) does not.
func TestRemoveRefusedWhileBoundInAnotherNamespace(t *testing.T) {
	m := newRootManager(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts map[string]string
	}{
		{"plain", nil},
		{"tmpfs", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := m.Ensure(ctx, Spec{Name: "busy-" + tc.name, DriverOpts: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Mount(ctx, v.Name); err != nil {
				t.Fatal(err)
			}
			copyHolder := holdInNamespace(t, v.Mountpoint, "true")
			if used, err := m.isInUse(v.Name); err != nil || used {
				t.Fatalf("in use through a cloned namespace only: %v, %v", used, err)
			}
			holder := holdInNamespace(t, v.Mountpoint, `mount --bind "$SRC" "$DST"`)
			if err := m.Remove(ctx, v.Name, false); !errors.Is(err, ErrInUse) {
				t.Fatalf("Remove while bound elsewhere = %v, want ErrInUse", err)
			}
			for _, c := range []*exec.Cmd{holder, copyHolder} {
				c.Process.Kill()
				c.Wait()
			}
			if err := m.Remove(ctx, v.Name, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The real host code path of Resolve: a driver_opts tmpfs volume is mounted
// when first resolved and stays mounted for the next container.
func TestResolveMountsDriverOpts(t *testing.T) {
	m := newRootManager(t)
	ctx := context.Background()
	o := ResolveOptions{Project: "demo", Service: "db", Number: 1, Volumes: map[string]Spec{
		"fast": ProjectSpec("demo", "fast", Spec{DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}}),
	}}
	for range 2 {
		ms, err := m.Resolve(ctx, o, []Request{{Type: TypeVolume, Source: "fast", Target: "/fast"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := mountsAt(t, ms[0].Source); len(got) != 1 || got[0] != "tmpfs" {
			t.Fatalf("mounts at %s = %v", ms[0].Source, got)
		}
	}
	removed, err := m.RemoveProject(ctx, "demo", nil)
	if err != nil || len(removed) != 1 {
		t.Fatalf("RemoveProject = %v, %v", removed, err)
	}
	if got := mountsAt(t, m.dataDir("demo_fast")); len(got) != 0 {
		t.Fatalf("still mounted after down -v: %v", got)
	}
}

func TestReadMountinfo(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "mountinfo")
	data := "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"garbage\n" +
		"40 35 0:52 / /var/lib/berth/volumes/x/_data rw shared:3 - tmpfs tmpfs rw,size=1024k\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readMountinfo(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{major: 98, minor: 0, root: "/mnt1", mountpoint: "/mnt/with space"},
		{major: 0, minor: 52, root: "/", mountpoint: "/var/lib/berth/volumes/x/_data"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for in, out := range map[string]string{`a\134b`: `a\b`, `tab\011`: "tab\t", `end\04`: `end\04`, `x\999`: `x\999`} {
		if g := unescapeMountinfo(in); g != out {
			t.Errorf("unescape(%q) = %q, want %q", in, g, out)
		}
	}
}
