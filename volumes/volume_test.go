package volumes

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// fakeMounter records mounts in memory. It does not model the kernel:
// nothing is really mounted, and boundElsewhere answers from a set.
type fakeMounter struct {
	mounted  map[string]bool
	bound    map[string]bool
	mountErr error
}

func (f *fakeMounter) mount(o *localOpts, target string) error {
	if f.mountErr != nil {
		return f.mountErr
	}
	f.mounted[target] = true
	return nil
}
func (f *fakeMounter) isMountpoint(p string) (bool, error) { return f.mounted[p], nil }
func (f *fakeMounter) unmountAll(dir string) error {
	for p := range f.mounted {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			delete(f.mounted, p)
		}
	}
	return nil
}
func (f *fakeMounter) boundElsewhere(d string) (bool, error) { return f.bound[d], nil }

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestManager returns a Manager over a temp root with a fake mounter.
func newTestManager(t *testing.T, opts Options) (*Manager, *fakeMounter) {
	t.Helper()
	if opts.Root == "" {
		opts.Root = filepath.Join(t.TempDir(), "volumes")
	}
	opts.Logger = testLogger(t)
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMounter{mounted: map[string]bool{}, bound: map[string]bool{}}
	m.mounts = f
	return m, f
}

func names(vs []*Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"db", true}, {"demo_db-1.x", true}, {"a", false}, {"", false}, {".tmp-x", false},
		{"_x", false}, {"a/b", false}, {"..", false}, {"a b", false}, {strings.Repeat("a", 64), true},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidArgument", tc.name, err)
		}
	}
}

func TestParseDriverOpts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    map[string]string
		want    *localOpts
		wantErr error
		msg     string
	}{
		{name: "none", opts: nil, want: nil},
		{name: "tmpfs", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=64m,uid=1000,mode=0750,noexec"},
			want: &localOpts{Type: "tmpfs", Device: "tmpfs", Flags: []string{"noexec"}, Data: []string{"size=64m", "uid=1000", "mode=0750"}}},
		{name: "tmpfs percent", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=10%"},
			want: &localOpts{Type: "tmpfs", Device: "tmpfs", Data: []string{"size=10%"}}},
		{name: "bind", opts: map[string]string{"type": "none", "device": "/srv/data", "o": "bind,ro"},
			want: &localOpts{Type: "none", Device: "/srv/data", Flags: []string{"bind", "ro"}}},
		{name: "other fs passes through", opts: map[string]string{"type": "ext4", "device": "/dev/sdz1", "o": "noatime,errors=remount-ro"},
			want: &localOpts{Type: "ext4", Device: "/dev/sdz1", Flags: []string{"noatime"}, Data: []string{"errors=remount-ro"}}},
		{name: "unknown key", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "mode": "1"}, wantErr: ErrInvalidArgument, msg: `invalid driver option "mode"`},
		{name: "size quota", opts: map[string]string{"size": "1g"}, wantErr: ErrNotSupported, msg: "quota"},
		{name: "missing type", opts: map[string]string{"device": "tmpfs"}, wantErr: ErrInvalidArgument, msg: `"type"`},
		{name: "missing device", opts: map[string]string{"type": "tmpfs", "o": "size=1m"}, wantErr: ErrInvalidArgument, msg: `"device"`},
		{name: "none without bind", opts: map[string]string{"type": "none", "device": "/srv"}, wantErr: ErrInvalidArgument, msg: "o=bind"},
		{name: "relative bind device", opts: map[string]string{"type": "none", "device": "srv", "o": "bind"}, wantErr: ErrInvalidArgument, msg: "absolute"},
		{name: "bind with data", opts: map[string]string{"type": "none", "device": "/srv", "o": "bind,size=1m"}, wantErr: ErrInvalidArgument, msg: "only mount flags"},
		{name: "tmpfs bad size", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=lots"}, wantErr: ErrInvalidArgument, msg: "size=lots"},
		{name: "tmpfs bad mode", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "mode=999"}, wantErr: ErrInvalidArgument, msg: "octal"},
		{name: "tmpfs bad uid", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "uid=app"}, wantErr: ErrInvalidArgument, msg: "number"},
		{name: "empty option", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,,ro"}, wantErr: ErrInvalidArgument, msg: "empty option"},
		{name: "type with comma", opts: map[string]string{"type": "tmpfs,ro", "device": "tmpfs"}, wantErr: ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDriverOpts(tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || got != nil && (got.Type != tc.want.Type || got.Device != tc.want.Device ||
				!slices.Equal(got.Flags, tc.want.Flags) || !slices.Equal(got.Data, tc.want.Data)) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"4096", 4096, true}, {"64m", 64 << 20, true}, {"1G", 1 << 30, true}, {"2kb", 2048, true},
		{"1t", 1 << 40, true}, {"", 0, false}, {"m", 0, false}, {"-1", 0, false}, {"1.5g", 0, false}, {"99999999999t", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestEnsureGetList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, Options{})
	m.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC) }

	v, err := m.Ensure(ctx, ProjectSpec("demo", "db", Spec{}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "demo_db" || v.Labels[LabelProject] != "demo" || v.Labels[LabelVolume] != "db" || v.Driver != "local" || v.Scope != "local" {
		t.Fatalf("volume = %+v", v)
	}
	if v.Mountpoint != filepath.Join(m.Root(), "demo_db", "_data") || !v.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("volume = %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("data dir: %v", err)
	}
	// Idempotent, and data survives.
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(ctx, ProjectSpec("demo", "db", Spec{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil {
		t.Fatal("data lost by a second Ensure:", err)
	}
	// `name:` honoured.
	if _, err := m.Ensure(ctx, ProjectSpec("demo", "cache", Spec{Name: "shared-cache", Labels: map[string]string{"tier": "x"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(ctx, Spec{Name: "other", Labels: map[string]string{"tier": "y"}}); err != nil {
		t.Fatal(err)
	}

	all, err := m.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); !slices.Equal(got, []string{"demo_db", "other", "shared-cache"}) {
		t.Fatalf("List = %v", got)
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Labels: map[string]string{LabelProject: "demo"}}, []string{"demo_db", "shared-cache"}},
		{Filter{Labels: map[string]string{"tier": ""}}, []string{"other", "shared-cache"}},
		{Filter{Labels: map[string]string{"tier": "y"}}, []string{"other"}},
		{Filter{Name: "ca"}, []string{"shared-cache"}},
		{Filter{Driver: "nfs"}, nil},
	} {
		got, err := m.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, names(got), tc.want)
		}
	}
	g, err := m.Get(ctx, "shared-cache")
	if err != nil || g.Labels["tier"] != "x" {
		t.Fatalf("Get = %+v, %v", g, err)
	}
	if _, err := m.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(nope) = %v", err)
	}
}

func TestEnsureErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, Options{})
	tmpfs := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
	if _, err := m.Ensure(ctx, Spec{Name: "t1", DriverOpts: tmpfs}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Spec
		want error
		msg  string
	}{
		{"bad name", Spec{Name: "../x"}, ErrInvalidArgument, "volume name"},
		{"driver", Spec{Name: "v1", Driver: "nfs-plugin"}, ErrNotSupported, `driver "nfs-plugin"`},
		{"bad opts", Spec{Name: "v2", DriverOpts: map[string]string{"type": "tmpfs"}}, ErrInvalidArgument, `"device"`},
		{"external missing", Spec{Name: "ext", External: true}, ErrNotFound, "external volume"},
		{"external with opts", Spec{Name: "ext", External: true, DriverOpts: tmpfs}, ErrInvalidArgument, "external"},
		{"missing bind device", Spec{Name: "v3", DriverOpts: map[string]string{"type": "none", "o": "bind", "device": "/nonexistent/berth-test"}}, os.ErrNotExist, "device"},
		{"changed opts", Spec{Name: "t1", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}}, ErrConflict, "berth volume rm t1"},
	} {
		_, err := m.Ensure(ctx, tc.s)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
	// Nothing was created by the failures.
	all, err := m.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("volumes after failures: %v", got)
	}
	ents, _ := os.ReadDir(m.Root())
	for _, e := range ents {
		if e.Name() != "t1" && e.Name() != ".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// An existing volume satisfies External.
	if _, err := m.Ensure(ctx, Spec{Name: "t1", External: true}); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveAndInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	used := map[string]bool{}
	m, fm := newTestManager(t, Options{InUse: func(n string) (bool, error) { return used[n], nil }})
	for _, n := range []string{"a1", "b1", "c1"} {
		if _, err := m.Ensure(ctx, Spec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	used["a1"] = true
	if err := m.Remove(ctx, "a1", false); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use (hook) = %v", err)
	}
	if err := m.Remove(ctx, "a1", true); !errors.Is(err, ErrInUse) {
		t.Fatalf("force remove in use = %v", err)
	}
	fm.bound[m.dataDir("b1")] = true
	if err := m.Remove(ctx, "b1", false); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use (namespace) = %v", err)
	}
	if err := m.Remove(ctx, "c1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.dir("c1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("c1 dir still there: %v", err)
	}
	if err := m.Remove(ctx, "c1", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove missing = %v", err)
	}
	if err := m.Remove(ctx, "c1", true); err != nil {
		t.Fatalf("force remove missing = %v", err)
	}
	dangling, notDangling := true, false
	got, err := m.List(ctx, Filter{Dangling: &dangling})
	if err != nil || len(got) != 0 {
		t.Fatalf("dangling = %v, %v", names(got), err)
	}
	got, err = m.List(ctx, Filter{Dangling: &notDangling})
	if err != nil || !slices.Equal(names(got), []string{"a1", "b1"}) {
		t.Fatalf("in use = %v, %v", names(got), err)
	}
	hookErr := errors.New("runtime unavailable")
	m.inUse = func(string) (bool, error) { return false, hookErr }
	if err := m.Remove(ctx, "a1", false); !errors.Is(err, hookErr) {
		t.Fatalf("remove with failing hook = %v", err)
	}
}

func TestPruneAndRemoveProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, fm := newTestManager(t, Options{})
	mk := func(s Spec) {
		t.Helper()
		if _, err := m.Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	anon := func(project, service, target string) Spec {
		return Spec{Name: AnonymousName(project, service, 1, target), Labels: map[string]string{LabelAnonymous: "", LabelProject: project}}
	}
	mk(ProjectSpec("p1", "db", Spec{}))
	mk(ProjectSpec("p1", "ext", Spec{Name: "shared"})) // also carries p1's label
	mk(anon("p1", "web", "/data"))
	mk(anon("p2", "web", "/data"))
	mk(anon("p2", "web", "/busy"))
	mk(ProjectSpec("p2", "db", Spec{}))
	fm.bound[m.dataDir(AnonymousName("p2", "web", 1, "/busy"))] = true
	if err := os.WriteFile(filepath.Join(m.dataDir(AnonymousName("p2", "web", 1, "/data")), "f"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}

	rep, err := m.Prune(ctx, PruneOptions{Filter: Filter{Labels: map[string]string{LabelProject: "p2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Removed, []string{AnonymousName("p2", "web", 1, "/data")}) || rep.SpaceReclaimed != 1000 {
		t.Fatalf("prune anonymous of p2 = %+v", rep)
	}

	removed, err := m.RemoveProject(ctx, "p1", []string{"shared"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{AnonymousName("p1", "web", 1, "/data"), "p1_db"}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("RemoveProject(p1) = %v, want %v", removed, want)
	}
	rep, err = m.Prune(ctx, PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Removed, []string{"p2_db", "shared"}) {
		t.Fatalf("prune all = %+v", rep)
	}
	left, _ := m.List(ctx, Filter{})
	if !slices.Equal(names(left), []string{AnonymousName("p2", "web", 1, "/busy")}) {
		t.Fatalf("left = %v", names(left))
	}
	if _, err := m.RemoveProject(ctx, "p2", nil); !errors.Is(err, ErrInUse) {
		t.Fatalf("RemoveProject with a volume in use = %v", err)
	}
}

func TestMountIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, fm := newTestManager(t, Options{})
	if _, err := m.Ensure(ctx, Spec{Name: "t1", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(ctx, Spec{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p, err := m.Mount(ctx, "t1")
		if err != nil || p != m.dataDir("t1") || !fm.mounted[p] {
			t.Fatalf("Mount = %q, %v (mounted %v)", p, err, fm.mounted)
		}
	}
	if _, err := m.Mount(ctx, "plain"); err != nil || fm.mounted[m.dataDir("plain")] {
		t.Fatalf("Mount(plain) = %v, mounted %v", err, fm.mounted)
	}
	if err := m.Remove(ctx, "t1", false); err != nil {
		t.Fatal(err)
	}
	if len(fm.mounted) != 0 {
		t.Fatalf("still mounted after Remove: %v", fm.mounted)
	}
	fm.mountErr = errors.New("boom")
	if _, err := m.Ensure(ctx, Spec{Name: "t2", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mount(ctx, "t2"); err == nil || !strings.Contains(err.Error(), "type=tmpfs device=tmpfs o=size=1m") {
		t.Fatalf("failed mount error = %v", err)
	}
}

func TestMetaSamples(t *testing.T) {
	t.Parallel()
	md, err := readMeta("testdata/meta-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if md.Name != "demo_db" || md.Options["type"] != "tmpfs" || md.Labels[LabelProject] != "demo" || md.CreatedAt.IsZero() {
		t.Fatalf("meta = %+v", md)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "meta.json")
	if err := os.WriteFile(p, []byte(`{"version": 99, "name": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readMeta(p); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("future version = %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"version": 1, "na`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readMeta(p); err == nil {
		t.Fatal("truncated meta accepted")
	}
}

// A crash during create or remove leaves a .tmp-/.trash- dir or a stray
// temp meta file; New removes them and keeps complete volumes.
func TestNewCleansLeftovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "volumes")
	m, _ := newTestManager(t, Options{Root: root})
	if _, err := m.Ensure(ctx, Spec{Name: "keep"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{".tmp-123/_data", ".trash-456/_data/x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stray := filepath.Join(root, "keep", ".meta.json.tmp-789")
	if err := os.WriteFile(stray, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Root: root, Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(root)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, []string{".lock", "keep"}) {
		t.Fatalf("root after New = %v", got)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stray temp meta: %v", err)
	}
	if _, err := m.Get(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentEnsure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, Options{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := m.Ensure(ctx, Spec{Name: "same"})
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	all, _ := m.List(ctx, Filter{})
	if !slices.Equal(names(all), []string{"same"}) {
		t.Fatalf("volumes = %v", names(all))
	}
}

func TestUsedBy(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, Options{})
	d := m.dataDir("db1")
	for _, tc := range []struct {
		mounts []runtime.Mount
		want   bool
	}{
		{nil, false},
		{[]runtime.Mount{{Type: "bind", Source: d, Target: "/x"}}, true},
		{[]runtime.Mount{{Type: "tmpfs", Target: "/t"}, {Type: "bind", Source: d + "/sub", Target: "/x"}}, true},
		{[]runtime.Mount{{Type: "bind", Source: m.dataDir("db10"), Target: "/x"}}, false},
		{[]runtime.Mount{{Type: "bind", Source: m.dir("db1"), Target: "/x"}}, false},
	} {
		if got := m.UsedBy("db1", tc.mounts); got != tc.want {
			t.Errorf("UsedBy(%v) = %v, want %v", tc.mounts, got, tc.want)
		}
	}
}

// After `down` without -v the next `up` gets fresh anonymous volumes (as
// with Compose); the old ones stay, still labelled with the project.
func TestReleaseAnonymous(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, fm := newTestManager(t, Options{})
	o := ResolveOptions{Project: "demo", Service: "web", Number: 1}
	first, err := m.Resolve(ctx, o, []Request{{Type: TypeVolume, Target: "/data"}, {Type: TypeVolume, Target: "/busy"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(ctx, ProjectSpec("demo", "named", Spec{})); err != nil {
		t.Fatal(err)
	}
	if first[1].Target != "/busy" {
		t.Fatalf("mounts = %+v", first)
	}
	fm.bound[first[1].Source] = true // still in use
	if err := os.WriteFile(filepath.Join(first[0].Source, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	released, err := m.ReleaseAnonymous(ctx, "demo")
	if !errors.Is(err, ErrInUse) || len(released) != 1 {
		t.Fatalf("ReleaseAnonymous = %v, %v", released, err)
	}
	v, err := m.Get(ctx, released[0])
	if err != nil {
		t.Fatal(err)
	}
	if !v.Anonymous() || v.Labels[LabelProject] != "demo" || v.Labels[LabelTarget] != "/data" || v.Labels[LabelService] != "" {
		t.Fatalf("released volume labels = %v", v.Labels)
	}
	again, err := m.Resolve(ctx, o, []Request{{Type: TypeVolume, Target: "/data"}})
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(again[0].Source); err != nil || len(ents) != 0 || again[0].Source == v.Mountpoint {
		t.Fatalf("next up reused a released anonymous volume: %s (%v, %v)", again[0].Source, ents, err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "old")); err != nil {
		t.Fatalf("released volume lost its data: %v", err)
	}
	removed, err := m.RemoveProject(ctx, "demo", nil)
	if !errors.Is(err, ErrInUse) || len(removed) != 3 {
		t.Fatalf("down -v = %v, %v; want the released, the new and the named volume removed", removed, err)
	}
}

// A crash between the rename and the meta rewrite of ReleaseAnonymous
// leaves a dir whose meta.json names the old volume: the dir name wins.
func TestGetTrustsDirName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, Options{})
	if _, err := m.Ensure(ctx, Spec{Name: "old-name"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.dir("old-name"), m.dir("new-name")); err != nil {
		t.Fatal(err)
	}
	v, err := m.Get(ctx, "new-name")
	if err != nil || v.Name != "new-name" || v.Mountpoint != m.dataDir("new-name") {
		t.Fatalf("Get = %+v, %v", v, err)
	}
}
