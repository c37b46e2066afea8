package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// Mount types of a Request, as Compose's long syntax names them.
const (
	TypeVolume = "volume"
	TypeBind   = "bind"
	TypeTmpfs  = "tmpfs"
)

// Request is one mount a service asks for (Compose's `volumes:` entry, short
// or long syntax, or a `tmpfs:` path).
type Request struct {
	Type string // TypeVolume, TypeBind or TypeTmpfs

	// Source: for a volume, the key under the project's top-level volumes
	// (or the volume's name when ResolveOptions.Volumes is nil); empty for an
	// anonymous volume. For a bind, the host path, relative paths being
	// relative to the project directory. Unused for tmpfs.
	Source   string
	Target   string // absolute path in the container
	ReadOnly bool

	NoCopy bool // volume: no first-use copy of the image's content

	CreateHostPath bool   // bind: create a missing source dir (Compose's default for the short syntax)
	Propagation    string // bind: private, rprivate, shared, rshared, slave, rslave

	TmpfsSize    int64    // bytes, 0 = kernel default (half of RAM)
	TmpfsMode    uint32   // 0 = 01777
	TmpfsOptions []string // tmpfs: mount flags noexec, exec, nosuid, suid, nodev, dev
}

// ResolveOptions say whose mounts are being resolved.
type ResolveOptions struct {
	ProjectDir string // base of relative bind sources
	Project    string
	Service    string
	Number     int // replica number: anonymous volumes are per replica

	// Volumes are the project's top-level volumes by key, with full names
	// (see ProjectSpec). Nil means there is no project: a volume Source is a
	// volume name, created on demand as `docker run -v name:/path` does.
	Volumes map[string]Spec

	// ImageVolumes are the image's VOLUME paths. Each one that no request
	// covers becomes an anonymous volume, as with Docker.
	ImageVolumes []string
}

func (o ResolveOptions) what() string {
	if o.Service != "" {
		return fmt.Sprintf("service %q", o.Service)
	}
	return "container"
}

// planned is one checked request with what acting on it needs.
type planned struct {
	req     Request
	volume  *Spec  // volume to ensure (and mount), nil for bind and tmpfs
	hostDir string // bind: absolute source
	create  bool   // bind: source must be created
}

// Resolve turns a container's mount requests into the runtime's mounts:
// volumes are ensured (created on first use, driver_opts mounted) and become
// binds of their data dir, with CopyUp unless NoCopy; bind sources are made
// absolute; tmpfs mounts are checked. Every request is checked before
// anything is created, and what this call created is removed again if a
// later step fails. Mounts are returned parents first.
func (m *Manager) Resolve(ctx context.Context, o ResolveOptions, reqs []Request) (_ []runtime.Mount, err error) {
	reqs = withImageVolumes(reqs, o.ImageVolumes)
	plan := make([]planned, 0, len(reqs))
	targets := map[string]bool{}
	for _, r := range reqs {
		p, err := m.check(o, r)
		if err != nil {
			return nil, fmt.Errorf("%s: mount %s: %w", o.what(), describe(r), err)
		}
		if targets[p.req.Target] {
			return nil, fmt.Errorf("%s: duplicate mount point %s: %w", o.what(), p.req.Target, ErrInvalidArgument)
		}
		targets[p.req.Target] = true
		plan = append(plan, p)
	}

	var createdVols, createdDirs []string
	defer func() {
		if err == nil {
			return
		}
		for _, name := range createdVols {
			if rerr := m.Remove(context.WithoutCancel(ctx), name, true); rerr != nil {
				m.log.Info("could not undo volume creation", "volume", name, "err", rerr)
			}
		}
		for _, d := range slices.Backward(createdDirs) {
			os.Remove(d) // only if still empty
		}
	}()
	mounts := make([]runtime.Mount, 0, len(plan))
	for _, p := range plan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := p.req
		switch r.Type {
		case TypeVolume:
			v, created, err := m.ensure(ctx, *p.volume)
			if err != nil {
				return nil, fmt.Errorf("%s: mount %s: %w", o.what(), describe(r), err)
			}
			if created {
				createdVols = append(createdVols, v.Name)
			}
			src, err := m.Mount(ctx, v.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: mount %s: %w", o.what(), describe(r), err)
			}
			mounts = append(mounts, runtime.Mount{Type: "bind", Source: src, Target: r.Target, ReadOnly: r.ReadOnly, CopyUp: !r.NoCopy})
		case TypeBind:
			if p.create {
				dirs, err := mkdirAllTracked(p.hostDir)
				createdDirs = append(createdDirs, dirs...)
				if err != nil {
					return nil, fmt.Errorf("%s: mount %s: create host path: %w", o.what(), describe(r), err)
				}
			}
			mounts = append(mounts, runtime.Mount{Type: "bind", Source: p.hostDir, Target: r.Target, ReadOnly: r.ReadOnly, Propagation: r.Propagation})
		case TypeTmpfs:
			mounts = append(mounts, runtime.Mount{Type: "tmpfs", Target: r.Target, ReadOnly: r.ReadOnly, TmpfsSize: r.TmpfsSize, TmpfsMode: r.TmpfsMode, Options: slices.Clone(r.TmpfsOptions)})
		}
	}
	// Parents before children, so that /data/cache lands on /data's mount.
	slices.SortStableFunc(mounts, func(a, b runtime.Mount) int {
		return strings.Count(a.Target, "/") - strings.Count(b.Target, "/")
	})
	return mounts, nil
}

// withImageVolumes appends an anonymous volume for each image VOLUME that no
// request already mounts something on.
func withImageVolumes(reqs []Request, imageVolumes []string) []Request {
	if len(imageVolumes) == 0 {
		return reqs
	}
	out := slices.Clone(reqs)
	have := map[string]bool{}
	for _, r := range reqs {
		have[path.Clean(r.Target)] = true
	}
	for _, iv := range imageVolumes {
		t := path.Clean(iv)
		if have[t] {
			continue
		}
		have[t] = true
		out = append(out, Request{Type: TypeVolume, Target: iv})
	}
	return out
}

func describe(r Request) string {
	if r.Source == "" {
		return fmt.Sprintf("%s on %s", r.Type, r.Target)
	}
	return fmt.Sprintf("%s %s on %s", r.Type, r.Source, r.Target)
}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// tmpfsFlags are the tmpfs mount flags the runtime applies.
var tmpfsFlags = []string{"noexec", "exec", "nosuid", "suid", "nodev", "dev"}

// ParseTmpfs reads a short-syntax tmpfs entry, "path[:options]" (Compose's
// `tmpfs:` list, Docker's --tmpfs): options are size= (64m, 1g...), mode=
// (octal), ro, rw and the flags noexec, exec, nosuid, suid, nodev, dev.
func ParseTmpfs(s string) (Request, error) {
	target, opts, _ := strings.Cut(s, ":")
	r := Request{Type: TypeTmpfs, Target: target}
	if opts == "" {
		return r, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, hasValue := strings.Cut(o, "=")
		switch {
		case k == "size" && hasValue:
			n, err := ParseSize(v)
			if err != nil {
				return r, fmt.Errorf("tmpfs %q: %w", s, err)
			}
			r.TmpfsSize = n
		case k == "mode" && hasValue:
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o7777 {
				return r, fmt.Errorf("tmpfs %q: mode %q is not an octal mode: %w", s, v, ErrInvalidArgument)
			}
			r.TmpfsMode = uint32(m)
		case o == "ro":
			r.ReadOnly = true
		case o == "rw":
			r.ReadOnly = false
		case slices.Contains(tmpfsFlags, o):
			r.TmpfsOptions = append(r.TmpfsOptions, o)
		default:
			return r, fmt.Errorf("tmpfs %q: option %q: berth takes size=, mode=, ro, rw and %s: %w", s, o, strings.Join(tmpfsFlags, ", "), ErrInvalidArgument)
		}
	}
	return r, nil
}

// check validates one request without changing anything.
func (m *Manager) check(o ResolveOptions, r Request) (planned, error) {
	p := planned{req: r}
	if r.Target == "" {
		return p, fmt.Errorf("empty target: %w", ErrInvalidArgument)
	}
	if !path.IsAbs(r.Target) {
		return p, fmt.Errorf("target %q must be an absolute path in the container: %w", r.Target, ErrInvalidArgument)
	}
	p.req.Target = path.Clean(r.Target)
	if p.req.Target == "/" {
		return p, fmt.Errorf("target cannot be /: %w", ErrInvalidArgument)
	}
	if r.Type != TypeBind && (r.Propagation != "" || r.CreateHostPath) {
		return p, fmt.Errorf("propagation and create_host_path apply to binds only: %w", ErrInvalidArgument)
	}
	if r.Type != TypeVolume && r.NoCopy {
		return p, fmt.Errorf("nocopy applies to volumes only: %w", ErrInvalidArgument)
	}
	if r.Type != TypeTmpfs && (r.TmpfsSize != 0 || r.TmpfsMode != 0 || len(r.TmpfsOptions) > 0) {
		return p, fmt.Errorf("tmpfs size, mode and options apply to tmpfs mounts only: %w", ErrInvalidArgument)
	}
	switch r.Type {
	case TypeVolume:
		s, err := m.volumeFor(o, p.req)
		if err != nil {
			return p, err
		}
		if err := m.checkVolume(s); err != nil {
			return p, err
		}
		p.volume = &s
	case TypeBind:
		if r.Source == "" {
			return p, fmt.Errorf("bind without a source: %w", ErrInvalidArgument)
		}
		if r.Propagation != "" && !slices.Contains(propagations, r.Propagation) {
			return p, fmt.Errorf("bind propagation %q: must be one of %s: %w", r.Propagation, strings.Join(propagations, ", "), ErrInvalidArgument)
		}
		src := r.Source
		if !filepath.IsAbs(src) {
			if o.ProjectDir == "" {
				return p, fmt.Errorf("relative bind source %q without a project directory: %w", src, ErrInvalidArgument)
			}
			src = filepath.Join(o.ProjectDir, src)
		}
		p.hostDir = filepath.Clean(src)
		_, err := os.Stat(p.hostDir)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist) && r.CreateHostPath:
			p.create = true
		case errors.Is(err, fs.ErrNotExist):
			return p, fmt.Errorf("bind source path does not exist: %s (create it, or set bind.create_host_path): %w", p.hostDir, ErrNotFound)
		default:
			return p, fmt.Errorf("bind source: %w", err)
		}
	case TypeTmpfs:
		if r.Source != "" {
			return p, fmt.Errorf("tmpfs takes no source: %w", ErrInvalidArgument)
		}
		if r.TmpfsSize < 0 {
			return p, fmt.Errorf("tmpfs size %d: %w", r.TmpfsSize, ErrInvalidArgument)
		}
		if r.TmpfsMode > 0o7777 {
			return p, fmt.Errorf("tmpfs mode %o: %w", r.TmpfsMode, ErrInvalidArgument)
		}
		for _, o := range r.TmpfsOptions {
			if !slices.Contains(tmpfsFlags, o) {
				return p, fmt.Errorf("tmpfs option %q: berth takes size=, mode=, ro, rw and %s: %w", o, strings.Join(tmpfsFlags, ", "), ErrInvalidArgument)
			}
		}
	default:
		return p, fmt.Errorf("unknown mount type %q (volume, bind or tmpfs): %w", r.Type, ErrInvalidArgument)
	}
	return p, nil
}

// volumeFor finds the spec of the volume a request names, or makes the
// spec of an anonymous one.
func (m *Manager) volumeFor(o ResolveOptions, r Request) (Spec, error) {
	if r.Source == "" {
		labels := map[string]string{LabelAnonymous: "", LabelTarget: r.Target}
		if o.Project == "" || o.Service == "" {
			return Spec{Name: RandomName(), Labels: labels}, nil
		}
		labels[LabelProject] = o.Project
		labels[LabelService] = o.Service
		labels[LabelNumber] = strconv.Itoa(o.Number)
		return Spec{Name: AnonymousName(o.Project, o.Service, o.Number, r.Target), Labels: labels}, nil
	}
	if o.Volumes == nil {
		return Spec{Name: r.Source}, nil
	}
	s, ok := o.Volumes[r.Source]
	if !ok {
		return Spec{}, fmt.Errorf("refers to undefined volume %q (declare it under the top-level volumes:): %w", r.Source, ErrNotFound)
	}
	if s.Name == "" {
		return Spec{}, fmt.Errorf("volume %q has no name (use ProjectSpec): %w", r.Source, ErrInvalidArgument)
	}
	return s, nil
}

// checkVolume says now what ensure would refuse later: a bad spec, a
// missing external volume, driver options that differ from the existing
// volume's, a bind device that does not exist.
func (m *Manager) checkVolume(s Spec) error {
	if err := validateSpec(s); err != nil {
		return err
	}
	v, err := m.get(s.Name)
	switch {
	case err == nil:
		if !s.External && !sameOpts(v.Options, s.DriverOpts) {
			return optsConflict(s.Name, v.Options, s.DriverOpts)
		}
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	case s.External:
		return fmt.Errorf("external volume %q: %w (create it with `berth volume create %s`)", s.Name, ErrNotFound, s.Name)
	}
	return checkDevice(s)
}

// checkDevice makes sure a bind volume's host directory exists, so that the
// mistake shows when the volume is created, not when a container starts.
func checkDevice(s Spec) error {
	lo, err := parseDriverOpts(s.DriverOpts)
	if err != nil || lo == nil || !lo.IsBind() {
		return err
	}
	fi, err := os.Stat(lo.Device)
	if err != nil {
		return fmt.Errorf("volume %q: driver option device: %w", s.Name, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("volume %q: driver option device %s is not a directory: %w", s.Name, lo.Device, ErrInvalidArgument)
	}
	return nil
}

// mkdirAllTracked is os.MkdirAll that returns the dirs it created, top
// first, so that a failure can remove exactly those.
func mkdirAllTracked(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	slices.Reverse(missing)
	var created []string
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return created, err
		}
		created = append(created, d)
	}
	return created, nil
}
