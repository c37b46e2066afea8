package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	projDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(projDir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(projDir, "file.txt")
	if err := os.WriteFile(hostFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tmpfsOpts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}
	vols := map[string]Spec{
		"db":    ProjectSpec("demo", "db", Spec{}),
		"named": ProjectSpec("demo", "named", Spec{Name: "custom-name"}),
		"ext":   {Name: "ext-vol", External: true},
		"fast":  ProjectSpec("demo", "fast", Spec{DriverOpts: tmpfsOpts}),
		"bad":   ProjectSpec("demo", "bad", Spec{DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=huge"}}),
		"nfs":   ProjectSpec("demo", "nfs", Spec{Driver: "nfs"}),
	}
	anonData := AnonymousName("demo", "web", 1, "/data")
	anonImg := AnonymousName("demo", "web", 1, "/var/lib/img")

	type tc struct {
		name      string
		opts      func(*ResolveOptions)
		reqs      []Request
		want      func(m *Manager) []runtime.Mount
		wantErr   error
		msg       string
		wantVols  []string // volumes that exist afterwards (besides ext-vol)
		wantPaths []string // host paths (relative to projDir) that must exist afterwards
		noPaths   []string // host paths that must not exist afterwards
	}
	cases := []tc{
		{
			name: "named, relative bind, tmpfs, sorted parents first",
			reqs: []Request{
				{Type: TypeBind, Source: "./conf", Target: "/etc/app/conf", ReadOnly: true, Propagation: "rslave"},
				{Type: TypeVolume, Source: "db", Target: "/var/lib/db"},
				{Type: TypeTmpfs, Target: "/run", TmpfsSize: 1 << 20, TmpfsMode: 0o700, TmpfsOptions: []string{"noexec"}},
				{Type: TypeVolume, Source: "named", Target: "/srv/", NoCopy: true},
				{Type: TypeBind, Source: hostFile, Target: "/etc/app.txt"},
			},
			want: func(m *Manager) []runtime.Mount {
				return []runtime.Mount{
					{Type: "tmpfs", Target: "/run", TmpfsSize: 1 << 20, TmpfsMode: 0o700, Options: []string{"noexec"}},
					{Type: "bind", Source: m.dataDir("custom-name"), Target: "/srv"},
					{Type: "bind", Source: hostFile, Target: "/etc/app.txt"},
					{Type: "bind", Source: filepath.Join(projDir, "conf"), Target: "/etc/app/conf", ReadOnly: true, Propagation: "rslave"},
					{Type: "bind", Source: m.dataDir("demo_db"), Target: "/var/lib/db", CopyUp: true},
				}
			},
			wantVols: []string{"custom-name", "demo_db"},
		},
		{
			name: "anonymous and image volumes",
			opts: func(o *ResolveOptions) { o.ImageVolumes = []string{"/var/lib/img", "/data", "/etc/app/conf"} },
			reqs: []Request{
				{Type: TypeVolume, Target: "/data"},
				{Type: TypeBind, Source: "conf", Target: "/etc/app/conf"},
			},
			want: func(m *Manager) []runtime.Mount {
				return []runtime.Mount{
					{Type: "bind", Source: m.dataDir(anonData), Target: "/data", CopyUp: true},
					{Type: "bind", Source: filepath.Join(projDir, "conf"), Target: "/etc/app/conf"},
					{Type: "bind", Source: m.dataDir(anonImg), Target: "/var/lib/img", CopyUp: true},
				}
			},
			wantVols: []string{anonData, anonImg},
		},
		{
			name: "create host path",
			reqs: []Request{{Type: TypeBind, Source: "new/deep", Target: "/x", CreateHostPath: true}},
			want: func(*Manager) []runtime.Mount {
				return []runtime.Mount{{Type: "bind", Source: filepath.Join(projDir, "new/deep"), Target: "/x"}}
			},
			wantPaths: []string{"new/deep"},
		},
		{
			name: "external volume that exists",
			reqs: []Request{{Type: TypeVolume, Source: "ext", Target: "/e"}},
			opts: func(*ResolveOptions) {},
			want: func(m *Manager) []runtime.Mount {
				return []runtime.Mount{{Type: "bind", Source: m.dataDir("ext-vol"), Target: "/e", CopyUp: true}}
			},
		},
		{
			name: "driver_opts volume is mounted",
			reqs: []Request{{Type: TypeVolume, Source: "fast", Target: "/fast"}},
			want: func(m *Manager) []runtime.Mount {
				return []runtime.Mount{{Type: "bind", Source: m.dataDir("demo_fast"), Target: "/fast", CopyUp: true}}
			},
			wantVols: []string{"demo_fast"},
		},
		{
			name: "no project: source is a volume name",
			opts: func(o *ResolveOptions) { o.Volumes = nil; o.Project, o.Service = "", "" },
			reqs: []Request{{Type: TypeVolume, Source: "plain-vol", Target: "/p"}},
			want: func(m *Manager) []runtime.Mount {
				return []runtime.Mount{{Type: "bind", Source: m.dataDir("plain-vol"), Target: "/p", CopyUp: true}}
			},
			wantVols: []string{"plain-vol"},
		},
		// Bad input: a clear error, and nothing created.
		{name: "missing host path", reqs: []Request{
			{Type: TypeVolume, Source: "db", Target: "/db"},
			{Type: TypeBind, Source: "./missing", Target: "/m"},
		}, wantErr: ErrNotFound, msg: "bind source path does not exist: " + filepath.Join(projDir, "missing"), noPaths: []string{"missing"}},
		{name: "relative target", reqs: []Request{{Type: TypeVolume, Source: "db", Target: "data"}}, wantErr: ErrInvalidArgument, msg: `target "data" must be an absolute path`},
		{name: "root target", reqs: []Request{{Type: TypeTmpfs, Target: "/"}}, wantErr: ErrInvalidArgument, msg: "cannot be /"},
		{name: "empty target", reqs: []Request{{Type: TypeTmpfs}}, wantErr: ErrInvalidArgument, msg: "empty target"},
		{name: "unknown volume", reqs: []Request{
			{Type: TypeBind, Source: "new2", Target: "/n", CreateHostPath: true},
			{Type: TypeVolume, Source: "dbb", Target: "/db"},
		}, wantErr: ErrNotFound, msg: `service "web": mount volume dbb on /db: refers to undefined volume "dbb"`, noPaths: []string{"new2"}},
		{name: "bad driver opts", reqs: []Request{
			{Type: TypeVolume, Source: "db", Target: "/db"},
			{Type: TypeVolume, Source: "bad", Target: "/bad"},
		}, wantErr: ErrInvalidArgument, msg: `tmpfs option "size=huge"`},
		{name: "unsupported driver", reqs: []Request{{Type: TypeVolume, Source: "nfs", Target: "/n"}}, wantErr: ErrNotSupported, msg: `driver "nfs"`},
		{name: "external missing", opts: func(o *ResolveOptions) { o.Volumes = map[string]Spec{"ext": {Name: "nope", External: true}} },
			reqs: []Request{{Type: TypeVolume, Source: "ext", Target: "/e"}}, wantErr: ErrNotFound, msg: `external volume "nope"`},
		{name: "duplicate target", reqs: []Request{
			{Type: TypeTmpfs, Target: "/a"},
			{Type: TypeVolume, Source: "db", Target: "/a/"},
		}, wantErr: ErrInvalidArgument, msg: "duplicate mount point /a"},
		{name: "bad propagation", reqs: []Request{{Type: TypeBind, Source: "conf", Target: "/c", Propagation: "everywhere"}}, wantErr: ErrInvalidArgument, msg: "propagation"},
		{name: "propagation on a volume", reqs: []Request{{Type: TypeVolume, Source: "db", Target: "/c", Propagation: "shared"}}, wantErr: ErrInvalidArgument, msg: "binds only"},
		{name: "nocopy on a bind", reqs: []Request{{Type: TypeBind, Source: "conf", Target: "/c", NoCopy: true}}, wantErr: ErrInvalidArgument, msg: "nocopy"},
		{name: "tmpfs with source", reqs: []Request{{Type: TypeTmpfs, Source: "x", Target: "/c"}}, wantErr: ErrInvalidArgument, msg: "no source"},
		{name: "tmpfs bad option", reqs: []Request{{Type: TypeTmpfs, Target: "/c", TmpfsOptions: []string{"uid=1"}}}, wantErr: ErrInvalidArgument, msg: `tmpfs option "uid=1"`},
		{name: "tmpfs options on a bind", reqs: []Request{{Type: TypeBind, Source: "conf", Target: "/c", TmpfsOptions: []string{"noexec"}}}, wantErr: ErrInvalidArgument, msg: "tmpfs mounts only"},
		{name: "tmpfs bad mode", reqs: []Request{{Type: TypeTmpfs, Target: "/c", TmpfsMode: 0o17777}}, wantErr: ErrInvalidArgument, msg: "mode"},
		{name: "unknown type", reqs: []Request{{Type: "npipe", Target: "/c"}}, wantErr: ErrInvalidArgument, msg: `unknown mount type "npipe"`},
		{name: "relative bind without project dir", opts: func(o *ResolveOptions) { o.ProjectDir = "" },
			reqs: []Request{{Type: TypeBind, Source: "conf", Target: "/c"}}, wantErr: ErrInvalidArgument, msg: "without a project directory"},
		{name: "bad volume name without project", opts: func(o *ResolveOptions) { o.Volumes = nil },
			reqs: []Request{{Type: TypeVolume, Source: "a/b", Target: "/c"}}, wantErr: ErrInvalidArgument, msg: "volume name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, fm := newTestManager(t, Options{})
			if _, err := m.Ensure(ctx, Spec{Name: "ext-vol"}); err != nil {
				t.Fatal(err)
			}
			o := ResolveOptions{ProjectDir: projDir, Project: "demo", Service: "web", Number: 1, Volumes: vols}
			if c.opts != nil {
				c.opts(&o)
			}
			got, err := m.Resolve(ctx, o, c.reqs)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, c.wantErr, c.msg)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if want := c.want(m); !reflect.DeepEqual(got, want) {
					t.Fatalf("mounts:\n got %+v\nwant %+v", got, want)
				}
			}
			all, err := m.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			gotVols := slices.DeleteFunc(names(all), func(n string) bool { return n == "ext-vol" })
			wantVols := slices.Clone(c.wantVols)
			slices.Sort(wantVols)
			if !slices.Equal(gotVols, wantVols) {
				t.Fatalf("volumes = %v, want %v", gotVols, wantVols)
			}
			for _, v := range all {
				if len(v.Options) > 0 && !fm.mounted[v.Mountpoint] {
					t.Errorf("driver_opts volume %s not mounted", v.Name)
				}
			}
			for _, p := range c.wantPaths {
				if _, err := os.Stat(filepath.Join(projDir, p)); err != nil {
					t.Error(err)
				}
			}
			for _, p := range c.noPaths {
				if _, err := os.Stat(filepath.Join(projDir, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want it absent", p, err)
				}
			}
		})
	}
}

// Anonymous volumes are per replica and stable across calls (recreate).
func TestResolveAnonymousStable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, Options{})
	resolve := func(n int) runtime.Mount {
		t.Helper()
		ms, err := m.Resolve(ctx, ResolveOptions{Project: "demo", Service: "web", Number: n}, []Request{{Type: TypeVolume, Target: "/data"}})
		if err != nil {
			t.Fatal(err)
		}
		return ms[0]
	}
	a, b, c := resolve(1), resolve(1), resolve(2)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("recreate got another volume: %v vs %v", a, b)
	}
	if a.Source == c.Source {
		t.Fatal("two replicas share an anonymous volume")
	}
	v, err := m.Get(ctx, filepath.Base(filepath.Dir(a.Source)))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Anonymous() || v.Labels[LabelProject] != "demo" || v.Labels[LabelService] != "web" || v.Labels[LabelNumber] != "1" || v.Labels[LabelTarget] != "/data" {
		t.Fatalf("labels = %v", v.Labels)
	}
	// Outside a project every anonymous volume is new.
	x, err := m.Resolve(ctx, ResolveOptions{}, []Request{{Type: TypeVolume, Target: "/data"}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Resolve(ctx, ResolveOptions{}, []Request{{Type: TypeVolume, Target: "/data"}})
	if err != nil {
		t.Fatal(err)
	}
	if x[0].Source == y[0].Source {
		t.Fatal("anonymous volumes outside a project reused")
	}
}

// A failure after some volumes were created removes them again.
func TestResolveRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, fm := newTestManager(t, Options{})
	projDir := t.TempDir()
	fm.mountErr = fmt.Errorf("mount: %w", os.ErrPermission)
	_, err := m.Resolve(ctx, ResolveOptions{ProjectDir: projDir, Project: "demo", Service: "web", Number: 1, Volumes: map[string]Spec{
		"fast": ProjectSpec("demo", "fast", Spec{DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs"}}),
	}}, []Request{
		{Type: TypeBind, Source: "made/here", Target: "/b", CreateHostPath: true},
		{Type: TypeVolume, Target: "/anon"},
		{Type: TypeVolume, Source: "fast", Target: "/fast"},
	})
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("err = %v", err)
	}
	all, _ := m.List(ctx, Filter{})
	if len(all) != 0 {
		t.Fatalf("volumes left after a failed Resolve: %v", names(all))
	}
	if _, err := os.Stat(filepath.Join(projDir, "made")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("host path left after a failed Resolve: %v", err)
	}
}

func TestParseTmpfs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    Request
		wantErr string
	}{
		{in: "/run", want: Request{Type: TypeTmpfs, Target: "/run"}},
		{in: "/run:size=64m,mode=1770,noexec,nosuid,ro", want: Request{Type: TypeTmpfs, Target: "/run", TmpfsSize: 64 << 20, TmpfsMode: 0o1770, ReadOnly: true, TmpfsOptions: []string{"noexec", "nosuid"}}},
		{in: "/run:rw,size=65536k", want: Request{Type: TypeTmpfs, Target: "/run", TmpfsSize: 64 << 20}},
		{in: "/run:size=big", wantErr: `size "big"`},
		{in: "/run:mode=rwx", wantErr: `mode "rwx"`},
		{in: "/run:uid=1000", wantErr: `option "uid=1000"`},
	} {
		got, err := ParseTmpfs(tc.in)
		if tc.wantErr != "" {
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseTmpfs(%q) = %v, want error with %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseTmpfs(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
