package volumes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrInUse           = errors.New("in use")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotSupported    = errors.New("not supported")
	ErrConflict        = errors.New("conflict")
)

// Labels that berth puts on volumes. The Compose ones keep users' filters
// working; LabelAnonymous is Docker's marker for anonymous volumes.
const (
	LabelProject   = "com.docker.compose.project"
	LabelVolume    = "com.docker.compose.volume" // the key under the project's top-level volumes:
	LabelService   = "com.docker.compose.service"
	LabelNumber    = "com.docker.compose.container-number"
	LabelAnonymous = "com.docker.volume.anonymous"
	LabelTarget    = "dev.berth.volume.target" // container path of an anonymous volume
)

// DriverLocal is the only volume driver berth has.
const DriverLocal = "local"

// namePattern is Docker's rule for volume names. It also keeps names free of
// '/' and of a leading '.', so a name can never leave the volumes dir nor
// collide with the .tmp-/.trash- work dirs.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName says whether name can be a volume name, with the reason.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("volume name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (at least 2 characters): %w", name, ErrInvalidArgument)
	}
	return nil
}

// Options configure a Manager.
type Options struct {
	Root   string       // the volumes dir, normally <root>/volumes; created if missing
	Logger *slog.Logger // nil = discard

	// InUse reports whether some container (running or not) refers to the
	// volume. Nil means only running containers are seen (through their
	// mount namespaces). Wired by the caller to the runtime.
	InUse func(name string) (bool, error)
}

// Manager owns the named volumes under one root. Its methods may be called
// from several goroutines and several processes: every change holds the
// root's flock.
type Manager struct {
	root   string
	log    *slog.Logger
	inUse  func(string) (bool, error)
	now    func() time.Time
	mounts mounter
}

// Spec is a named volume as the manifest (or `volume create`) asks for it.
type Spec struct {
	Name       string            // full name (Compose: `name:` or <project>_<key>)
	Driver     string            // "" or "local"
	DriverOpts map[string]string // type, device, o (Docker's local driver)
	Labels     map[string]string
	External   bool // must exist already; never created nor removed by berth
}

// Volume is one named volume as it exists on disk.
type Volume struct {
	Name       string
	Driver     string
	Options    map[string]string // driver_opts
	Labels     map[string]string
	CreatedAt  time.Time
	Mountpoint string // host path of the data dir; what containers bind
	Scope      string // always "local"
}

// Anonymous reports whether the volume was created without a name.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[LabelAnonymous]
	return ok
}

// New opens (creating if needed) the volumes dir and removes what an
// interrupted create or remove left behind.
func New(opts Options) (*Manager, error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("volumes: empty root dir: %w", ErrInvalidArgument)
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("volumes root %s: %w", opts.Root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("volumes root: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{root: root, log: log, inUse: opts.InUse, now: time.Now, mounts: hostMounter{}}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := m.cleanup(); err != nil {
		return nil, err
	}
	return m, nil
}

// Root returns the volumes dir.
func (m *Manager) Root() string { return m.root }

// cleanup removes work dirs of interrupted creates and removes, and stray
// temp files of interrupted meta writes. Called with the lock held.
func (m *Manager) cleanup() error {
	ents, err := os.ReadDir(m.root)
	if err != nil {
		return fmt.Errorf("volumes: read %s: %w", m.root, err)
	}
	for _, e := range ents {
		p := filepath.Join(m.root, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"), strings.HasPrefix(e.Name(), ".trash-"):
			m.log.Info("removing leftover volume work dir", "path", p)
			if err := m.removeTree(p); err != nil {
				return fmt.Errorf("volumes: clean up %s: %w", p, err)
			}
		case e.IsDir() && namePattern.MatchString(e.Name()):
			stray, _ := filepath.Glob(filepath.Join(p, ".meta.json.tmp-*"))
			for _, s := range stray {
				if err := os.Remove(s); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("volumes: clean up %s: %w", s, err)
				}
			}
		}
	}
	return nil
}

// removeTree unmounts whatever is mounted at or below dir, then deletes it.
// Unmounting first is what keeps a bind volume's host directory intact.
func (m *Manager) removeTree(dir string) error {
	if err := m.mounts.unmountAll(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func (m *Manager) dir(name string) string     { return filepath.Join(m.root, name) }
func (m *Manager) dataDir(name string) string { return filepath.Join(m.root, name, "_data") }

// Ensure returns the volume named by s, creating it if it does not exist
// (unless s.External). An existing volume must have the same driver options;
// labels of an existing volume are left as they are.
func (m *Manager) Ensure(ctx context.Context, s Spec) (*Volume, error) {
	v, _, err := m.ensure(ctx, s)
	return v, err
}

// ensure is Ensure that also says whether it created the volume.
func (m *Manager) ensure(ctx context.Context, s Spec) (*Volume, bool, error) {
	if err := validateSpec(s); err != nil {
		return nil, false, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	v, err := m.get(s.Name)
	switch {
	case err == nil:
		if s.External {
			return v, false, nil
		}
		if !sameOpts(v.Options, s.DriverOpts) {
			return nil, false, optsConflict(s.Name, v.Options, s.DriverOpts)
		}
		if p, want := v.Labels[LabelProject], s.Labels[LabelProject]; want != "" && p != want {
			m.log.Info("volume exists but was not created by this project; declare it external to silence this", "volume", s.Name, "project", want, "owner", p)
		}
		return v, false, nil
	case !errors.Is(err, ErrNotFound):
		return nil, false, err
	case s.External:
		return nil, false, fmt.Errorf("external volume %q: %w (create it with `berth volume create %s`)", s.Name, ErrNotFound, s.Name)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := checkDevice(s); err != nil {
		return nil, false, err
	}
	v, err = m.create(s)
	if err != nil {
		return nil, false, err
	}
	m.log.Info("volume created", "volume", v.Name)
	return v, true, nil
}

func validateSpec(s Spec) error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if s.Driver != "" && s.Driver != DriverLocal {
		return fmt.Errorf("volume %q: driver %q: only the %q driver exists in berth: %w", s.Name, s.Driver, DriverLocal, ErrNotSupported)
	}
	if s.External && len(s.DriverOpts) > 0 {
		return fmt.Errorf("volume %q: external volumes take no driver_opts: %w", s.Name, ErrInvalidArgument)
	}
	if _, err := parseDriverOpts(s.DriverOpts); err != nil {
		return fmt.Errorf("volume %q: %w", s.Name, err)
	}
	return nil
}

// create builds the volume in a temp dir beside its final place and renames
// it there, so a crash leaves no half volume. Called with the lock held.
func (m *Manager) create(s Spec) (_ *Volume, err error) {
	tmp, err := os.MkdirTemp(m.root, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o701); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	// Like Docker's _data: world-readable so that unprivileged container
	// users can reach a copied-up tree; CopyUp sets the mode it copies.
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	md := metaFile{
		Version:   metaVersion,
		Name:      s.Name,
		Driver:    DriverLocal,
		Options:   cloneMap(s.DriverOpts),
		Labels:    cloneMap(s.Labels),
		CreatedAt: m.now().UTC().Truncate(time.Second),
	}
	if err := writeMeta(filepath.Join(tmp, metaName), md); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	if err := os.Rename(tmp, m.dir(s.Name)); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	if err := syncDir(m.root); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", s.Name, err)
	}
	return m.toVolume(md), nil
}

// Get returns the named volume, or an error wrapping ErrNotFound.
func (m *Manager) Get(ctx context.Context, name string) (*Volume, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return m.get(name)
}

func (m *Manager) get(name string) (*Volume, error) {
	md, err := readMeta(filepath.Join(m.dir(name), metaName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("volume %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", name, err)
	}
	// The directory name is the truth: ReleaseAnonymous renames the dir
	// first and rewrites meta.json after, and a crash between the two must
	// leave a usable volume.
	md.Name = name
	return m.toVolume(md), nil
}

func (m *Manager) toVolume(md metaFile) *Volume {
	return &Volume{
		Name:       md.Name,
		Driver:     md.Driver,
		Options:    cloneMap(md.Options),
		Labels:     cloneMap(md.Labels),
		CreatedAt:  md.CreatedAt,
		Mountpoint: m.dataDir(md.Name),
		Scope:      "local",
	}
}

// Filter selects volumes in List and Prune. Zero fields match everything.
type Filter struct {
	// Labels: every key must be present; a non-empty value must match too.
	Labels   map[string]string
	Name     string // substring of the name, as Docker's name= filter
	Driver   string
	Dangling *bool // true: only volumes not in use; false: only volumes in use
}

// List returns the volumes matching f, sorted by name.
func (m *Manager) List(ctx context.Context, f Filter) ([]*Volume, error) {
	ents, err := os.ReadDir(m.root)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range ents {
		if !e.IsDir() || !namePattern.MatchString(e.Name()) {
			continue
		}
		v, err := m.get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			m.log.Info("skipping unreadable volume", "volume", e.Name(), "err", err)
			continue
		}
		ok, err := m.matches(v, f)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func (m *Manager) matches(v *Volume, f Filter) (bool, error) {
	for k, want := range f.Labels {
		got, ok := v.Labels[k]
		if !ok || (want != "" && got != want) {
			return false, nil
		}
	}
	if f.Name != "" && !strings.Contains(v.Name, f.Name) {
		return false, nil
	}
	if f.Driver != "" && f.Driver != v.Driver {
		return false, nil
	}
	if f.Dangling != nil {
		used, err := m.isInUse(v.Name)
		if err != nil {
			return false, err
		}
		if used == *f.Dangling {
			return false, nil
		}
	}
	return true, nil
}

// isInUse asks the caller's hook, then looks for binds of the volume in
// other mount namespaces (running containers).
func (m *Manager) isInUse(name string) (bool, error) {
	if m.inUse != nil {
		used, err := m.inUse(name)
		if err != nil {
			return false, fmt.Errorf("volume %q: check use: %w", name, err)
		}
		if used {
			return true, nil
		}
	}
	used, err := m.mounts.boundElsewhere(m.dataDir(name))
	if err != nil {
		return false, fmt.Errorf("volume %q: check use: %w", name, err)
	}
	return used, nil
}

// Remove deletes the named volume and its data. A volume in use is refused
// (ErrInUse). Removing a volume that does not exist is an error wrapping
// ErrNotFound unless force is set.
func (m *Manager) Remove(ctx context.Context, name string, force bool) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	err = m.remove(name)
	if force && errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// remove is Remove with the lock held.
func (m *Manager) remove(name string) error {
	if _, err := m.get(name); err != nil {
		return fmt.Errorf("remove volume: %w", err)
	}
	used, err := m.isInUse(name)
	if err != nil {
		return fmt.Errorf("remove volume: %w", err)
	}
	if used {
		return fmt.Errorf("remove volume %q: volume is %w by a container", name, ErrInUse)
	}
	// Unmount before anything else: after this point nothing below the
	// volume dir belongs to anyone else.
	if err := m.mounts.unmountAll(m.dir(name)); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	// One rename and the volume is gone; deleting its data may take long
	// and is finished by New if interrupted.
	trash := filepath.Join(m.root, ".trash-"+RandomName()[:16])
	if err := os.Rename(m.dir(name), trash); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	if err := syncDir(m.root); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	if err := m.removeTree(trash); err != nil {
		return fmt.Errorf("remove volume %q: delete data: %w", name, err)
	}
	m.log.Info("volume removed", "volume", name)
	return nil
}

// PruneOptions select what Prune removes.
type PruneOptions struct {
	All    bool   // also named volumes; default: anonymous ones only (Docker ≥ 23)
	Filter Filter // further restriction (Dangling is ignored: prune only takes unused volumes)
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Removed        []string
	SpaceReclaimed uint64 // bytes of data in the removed volumes' dirs
}

// Prune removes the volumes no container uses.
func (m *Manager) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	unlock, err := m.lock()
	if err != nil {
		return rep, err
	}
	defer unlock()
	f := opts.Filter
	f.Dangling = nil
	vols, err := m.List(ctx, f)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, v := range vols {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if !opts.All && !v.Anonymous() {
			continue
		}
		used, err := m.isInUse(v.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if used {
			continue
		}
		size := m.size(v)
		if err := m.remove(v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Removed = append(rep.Removed, v.Name)
		rep.SpaceReclaimed += size
	}
	return rep, errors.Join(errs...)
}

// size is the bytes under a volume's data dir; 0 for driver_opts volumes,
// whose data does not live on berth's disk.
func (m *Manager) size(v *Volume) uint64 {
	if len(v.Options) > 0 {
		return 0
	}
	var n uint64
	filepath.WalkDir(v.Mountpoint, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

// RemoveProject removes every volume labelled with project (named and
// anonymous: `down -v`), except the names in keep (the project's external
// volumes, which berth never removes). Volumes in use are refused.
func (m *Manager) RemoveProject(ctx context.Context, project string, keep []string) ([]string, error) {
	if project == "" {
		return nil, fmt.Errorf("remove project volumes: empty project name: %w", ErrInvalidArgument)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	vols, err := m.List(ctx, Filter{Labels: map[string]string{LabelProject: project}})
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range vols {
		if slices.Contains(keep, v.Name) {
			continue
		}
		if err := m.remove(v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}

// Mount makes a driver_opts volume's filesystem present on its data dir and
// returns the data dir. It is idempotent and redoes the mount after a
// reboot. Volumes without driver_opts need nothing and just return.
func (m *Manager) Mount(ctx context.Context, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	unlock, err := m.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	return m.mount(name)
}

func (m *Manager) mount(name string) (string, error) {
	v, err := m.get(name)
	if err != nil {
		return "", fmt.Errorf("mount volume: %w", err)
	}
	if len(v.Options) == 0 {
		return v.Mountpoint, nil
	}
	o, err := parseDriverOpts(v.Options)
	if err != nil {
		return "", fmt.Errorf("mount volume %q: %w", name, err)
	}
	mounted, err := m.mounts.isMountpoint(v.Mountpoint)
	if err != nil {
		return "", fmt.Errorf("mount volume %q: %w", name, err)
	}
	if mounted {
		return v.Mountpoint, nil
	}
	if err := m.mounts.mount(o, v.Mountpoint); err != nil {
		return "", fmt.Errorf("mount volume %q (type=%s device=%s o=%s): %w", name, o.Type, o.Device, v.Options["o"], err)
	}
	m.log.Info("volume mounted", "volume", name, "type", o.Type)
	return v.Mountpoint, nil
}

// AnonymousName is the name of the anonymous volume at target of one
// replica of a project's service: stable across recreation of that replica,
// distinct between replicas, 64 hex digits like Docker's anonymous names.
func AnonymousName(project, service string, number int, target string) string {
	h := sha256.Sum256([]byte("berth-anonymous-volume\x00" + project + "\x00" + service + "\x00" + strconv.Itoa(number) + "\x00" + target))
	return hex.EncodeToString(h[:])
}

// RandomName is a fresh 64-hex volume name (volume create without a name, an
// anonymous volume outside a project).
func RandomName() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ProjectSpec completes the spec of a project's top-level volume key: the
// default name <project>_<key> and the project's labels.
func ProjectSpec(project, key string, s Spec) Spec {
	if s.Name == "" {
		s.Name = project + "_" + key
	}
	if s.External {
		return s
	}
	labels := cloneMap(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelProject] = project
	labels[LabelVolume] = key
	s.Labels = labels
	return s
}

func cloneMap(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	return maps.Clone(in)
}

// optsConflict is the error for a volume that exists with other driver
// options than asked for: berth never changes a volume's data silently.
func optsConflict(name string, have, want map[string]string) error {
	return fmt.Errorf("volume %q exists with driver options %s, but %s are asked for; remove it (berth volume rm %s) to apply them: %w",
		name, fmtOpts(have), fmtOpts(want), name, ErrConflict)
}

func fmtOpts(o map[string]string) string {
	if len(o) == 0 {
		return "(none)"
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		kv = append(kv, k+"="+o[k])
	}
	return "[" + strings.Join(kv, " ") + "]"
}

func sameOpts(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// UsedBy reports whether mounts (one container's) bind the named volume's
// data dir or a path below it. The caller's Options.InUse uses it over
// every container the runtime knows, running or not.
func (m *Manager) UsedBy(name string, mounts []runtime.Mount) bool {
	d := m.dataDir(name)
	for _, mt := range mounts {
		if mt.Type == "bind" && (mt.Source == d || strings.HasPrefix(mt.Source, d+string(filepath.Separator))) {
			return true
		}
	}
	return false
}

// ReleaseAnonymous gives each anonymous volume of the project's services a
// fresh random name, so that the next `up` starts with new ones, as
// Compose does after `down` without -v. The volumes stay (labelled with the
// project, so `down -v` or `volume prune` still find them). Volumes in use
// are left alone and reported. It returns the new names.
func (m *Manager) ReleaseAnonymous(ctx context.Context, project string) ([]string, error) {
	if project == "" {
		return nil, fmt.Errorf("release anonymous volumes: empty project name: %w", ErrInvalidArgument)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	vols, err := m.List(ctx, Filter{Labels: map[string]string{LabelProject: project, LabelAnonymous: "", LabelService: ""}})
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	for _, v := range vols {
		used, err := m.isInUse(v.Name)
		if err == nil && used {
			err = fmt.Errorf("release anonymous volume %q: %w", v.Name, ErrInUse)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := RandomName()
		if err := m.mounts.unmountAll(m.dir(v.Name)); err != nil {
			errs = append(errs, fmt.Errorf("release anonymous volume %q: %w", v.Name, err))
			continue
		}
		if err := os.Rename(m.dir(v.Name), m.dir(name)); err != nil {
			errs = append(errs, fmt.Errorf("release anonymous volume %q: %w", v.Name, err))
			continue
		}
		labels := cloneMap(v.Labels)
		delete(labels, LabelService)
		delete(labels, LabelNumber)
		md := metaFile{Version: metaVersion, Name: name, Driver: v.Driver, Options: v.Options, Labels: labels, CreatedAt: v.CreatedAt}
		if err := writeMeta(filepath.Join(m.dir(name), metaName), md); err != nil {
			errs = append(errs, fmt.Errorf("release anonymous volume %q: %w", v.Name, err))
		}
		m.log.Info("anonymous volume released", "volume", v.Name, "new_name", name)
		out = append(out, name)
	}
	return out, errors.Join(errs...)
}
