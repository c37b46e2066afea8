package reconciler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// The fakes below are hand-written and state-based: they keep containers,
// networks, sandboxes, volumes and images in maps. They do not model:
// processes (a started container runs until the test calls exit), stop
// signals (Stop always succeeds at once), namespaces beyond fake paths,
// IP addresses, port conflicts, log output or image layers. Fault
// injection uses the per-method hook funcs, which run before the fake acts.

type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves time forward and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var keep []fakeWaiter
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	c.mu.Unlock()
}

// Pending is the number of timers not yet fired.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

type fakeContainer struct {
	c      Container
	spec   runtime.Spec
	exited chan struct{} // closed when the current run ends
	starts int
}

type fakeRuntime struct {
	clock Clock

	mu         sync.Mutex
	containers map[string]*fakeContainer // by ID; guarded by mu
	nextID     int
	calls      []string

	// Hooks; a non-nil error fails the call before it acts.
	onCreate func(runtime.Spec) error
	onStart  func(name string) error
	onExec   func(name string, args []string) (ExecResult, error)
	// exitOnStart makes a container exit at once with this code on start.
	exitOnStart map[string]int
	// kept counts KeepReady calls and stops their stop calls.
	kept, stops int
}

// KeepReady makes the fake a Prestarter: it counts what the supervisor
// asks for.
func (f *fakeRuntime) KeepReady(ctx context.Context) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stops++
	}
}

func newFakeRuntime(clock Clock) *fakeRuntime {
	return &fakeRuntime{clock: clock, containers: map[string]*fakeContainer{}, exitOnStart: map[string]int{}}
}

func (f *fakeRuntime) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns and clears the recorded mutating calls, sorted (the
// executor runs independent ones in parallel).
func (f *fakeRuntime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	sort.Strings(out)
	return out
}

func (f *fakeRuntime) List(ctx context.Context, project string) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, fc := range f.containers {
		if fc.c.Labels[LabelProject] == project {
			c := fc.c
			c.Labels = cloneLabels(c.Labels)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func cloneLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (f *fakeRuntime) byName(name string) *fakeContainer {
	for _, fc := range f.containers {
		if fc.c.Name == name {
			return fc
		}
	}
	return nil
}

func (f *fakeRuntime) Create(ctx context.Context, s runtime.Spec) (Container, error) {
	if f.onCreate != nil {
		if err := f.onCreate(s); err != nil {
			return Container{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byName(s.Name) != nil {
		return Container{}, fmt.Errorf("container name %s: already exists", s.Name)
	}
	f.nextID++
	id := fmt.Sprintf("id%04d", f.nextID)
	fc := &fakeContainer{spec: s, c: Container{ID: id, Name: s.Name, Labels: cloneLabels(s.Labels), Status: runtime.StatusCreated, Image: s.Image, Created: f.clock.Now()}}
	f.containers[id] = fc
	f.record("create %s", s.Name)
	return fc.c, nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	fc, ok := f.containers[id]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if f.onStart != nil {
		if err := f.onStart(fc.c.Name); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc.c.Running() {
		return fmt.Errorf("container %s is running: %w", fc.c.Name, runtime.ErrInvalidState)
	}
	fc.starts++
	fc.c.Status = runtime.StatusRunning
	fc.c.StartedAt = f.clock.Now().Add(time.Duration(fc.starts)) // distinct per run
	fc.c.Pid = 1000 + fc.starts
	fc.c.Namespaces = map[string]string{"net": "/proc/" + fc.c.Name + "/ns/net", "ipc": "/proc/" + fc.c.Name + "/ns/ipc", "uts": "/proc/" + fc.c.Name + "/ns/uts", "pid": "/proc/" + fc.c.Name + "/ns/pid"}
	fc.exited = make(chan struct{})
	f.record("start %s", fc.c.Name)
	if code, ok := f.exitOnStart[fc.c.Name]; ok {
		f.exitLocked(fc, code)
	}
	return nil
}

func (f *fakeRuntime) exitLocked(fc *fakeContainer, code int) {
	if !fc.c.Running() {
		return
	}
	fc.c.Status = runtime.StatusExited
	fc.c.ExitCode = code
	fc.c.FinishedAt = f.clock.Now().Add(time.Duration(fc.starts))
	fc.c.Pid = 0
	fc.c.Namespaces = nil
	close(fc.exited)
}

// exit ends a container's process as if it crashed with code.
func (f *fakeRuntime) exit(name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.byName(name)
	if fc == nil {
		panic("fake: no container " + name)
	}
	f.exitLocked(fc, code)
}

func (f *fakeRuntime) get(name string) (Container, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.byName(name)
	if fc == nil {
		return Container{}, false
	}
	return fc.c, true
}

func (f *fakeRuntime) starts(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc := f.byName(name); fc != nil {
		return fc.starts
	}
	return 0
}

func (f *fakeRuntime) specOf(name string) runtime.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName(name).spec
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if fc.c.Running() {
		f.record("stop %s", fc.c.Name)
		f.exitLocked(fc, 137)
	}
	return nil
}

func (f *fakeRuntime) Kill(ctx context.Context, id, signal string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	f.record("kill %s", fc.c.Name)
	f.exitLocked(fc, 137)
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, ok := f.containers[id]
	if !ok {
		return nil
	}
	if fc.c.Running() {
		if !force {
			return fmt.Errorf("container %s is running: %w", fc.c.Name, runtime.ErrInvalidState)
		}
		f.exitLocked(fc, 137)
	}
	delete(f.containers, id)
	f.record("remove %s", fc.c.Name)
	return nil
}

func (f *fakeRuntime) Wait(ctx context.Context, id string) (ExitResult, error) {
	f.mu.Lock()
	fc, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		return ExitResult{}, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	ch := fc.exited
	running := fc.c.Running()
	f.mu.Unlock()
	if running {
		select {
		case <-ch:
		case <-ctx.Done():
			return ExitResult{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return ExitResult{Code: fc.c.ExitCode, FinishedAt: fc.c.FinishedAt}, nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, args []string) (ExecResult, error) {
	f.mu.Lock()
	fc, ok := f.containers[id]
	var name string
	running := ok && fc.c.Status == runtime.StatusRunning
	if ok {
		name = fc.c.Name
	}
	f.mu.Unlock()
	if !running {
		return ExecResult{}, fmt.Errorf("container %s is not running: %w", id, runtime.ErrInvalidState)
	}
	if f.onExec != nil {
		return f.onExec(name, args)
	}
	return ExecResult{}, nil
}

type fakeImages struct {
	mu       sync.Mutex
	store    map[string]ImageInfo // guarded by mu
	registry map[string]ImageInfo
	pulls    []string
}

func newFakeImages(refs ...string) *fakeImages {
	f := &fakeImages{store: map[string]ImageInfo{}, registry: map[string]ImageInfo{}}
	for _, r := range refs {
		f.store[r] = ImageInfo{ID: "sha256:" + strings.Repeat("a", 60) + fmt.Sprintf("%04d", len(f.store)), Ref: r}
	}
	return f
}

func (f *fakeImages) Get(ctx context.Context, ref string) (ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.store[ref]
	if !ok {
		return ImageInfo{}, fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	return img, nil
}

func (f *fakeImages) Pull(ctx context.Context, ref, platform string) (ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.registry[ref]
	if !ok {
		return ImageInfo{}, fmt.Errorf("pull %s: manifest unknown: %w", ref, ErrNotFound)
	}
	f.pulls = append(f.pulls, ref)
	f.store[ref] = img
	return img, nil
}

func (f *fakeImages) Remove(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.store, ref)
	return nil
}

type fakeNetworks struct {
	mu        sync.Mutex
	networks  map[string]string // name -> project; guarded by mu
	sandboxes map[string]SandboxRequest
	onEnsure  func(id string) error
	released  []string // ReleasePorts calls, in order
	batches   int      // DeleteSandboxes calls (Teardown's too)
	// releasedNS are the sandboxes whose namespace ReleaseNetNS dropped,
	// in order; onRelease sees each first.
	releasedNS []string
	onRelease  func(id string)
}

func newFakeNetworks() *fakeNetworks {
	return &fakeNetworks{networks: map[string]string{}, sandboxes: map[string]SandboxRequest{}}
}

func (f *fakeNetworks) EnsureNetwork(ctx context.Context, project string, n spec.Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n.External {
		if _, ok := f.networks[n.Name]; !ok {
			return fmt.Errorf("network %s: %w", n.Name, ErrNotFound)
		}
		return nil
	}
	f.networks[n.Name] = project
	return nil
}

func (f *fakeNetworks) RemoveNetwork(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.sandboxes {
		for _, e := range r.Endpoints {
			if e.Network == name {
				return fmt.Errorf("network %s has active endpoint %s", name, id)
			}
		}
	}
	delete(f.networks, name)
	return nil
}

func (f *fakeNetworks) ListNetworks(ctx context.Context, project string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n, p := range f.networks {
		if p == project {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeNetworks) EnsureSandbox(ctx context.Context, id string, r SandboxRequest) (Sandbox, error) {
	if f.onEnsure != nil {
		if err := f.onEnsure(id); err != nil {
			return Sandbox{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range r.Endpoints {
		if _, ok := f.networks[e.Network]; !ok {
			return Sandbox{}, fmt.Errorf("network %s: %w", e.Network, ErrNotFound)
		}
	}
	if _, ok := f.sandboxes[id]; !ok {
		f.sandboxes[id] = r
	}
	return Sandbox{NetNSPath: "/run/netns/" + id, HostsPath: "/run/hosts/" + id, ResolvConfPath: "/run/resolv/" + id}, nil
}

func (f *fakeNetworks) DeleteSandbox(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, id)
	return nil
}

func (f *fakeNetworks) DeleteSandboxes(ctx context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	for _, id := range ids {
		delete(f.sandboxes, id)
	}
	return nil
}

func (f *fakeNetworks) ReleaseNetNS(ctx context.Context, id string) error {
	if f.onRelease != nil {
		f.onRelease(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sandboxes[id]; ok {
		f.releasedNS = append(f.releasedNS, id)
	}
	return nil
}

func (f *fakeNetworks) Teardown(ctx context.Context, sandboxes, networks []string) (map[string]error, error) {
	if err := f.DeleteSandboxes(ctx, sandboxes); err != nil {
		return nil, err
	}
	errs := map[string]error{}
	for _, n := range networks {
		if err := f.RemoveNetwork(ctx, n); err != nil {
			errs[n] = err
		}
	}
	return errs, nil
}

func (f *fakeNetworks) ListSandboxes(ctx context.Context, project string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, r := range f.sandboxes {
		if r.Project == project {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

type fakeVolumes struct {
	mu      sync.Mutex
	volumes map[string]string // name -> project; guarded by mu
}

func newFakeVolumes() *fakeVolumes { return &fakeVolumes{volumes: map[string]string{}} }

func (f *fakeVolumes) EnsureVolume(ctx context.Context, project string, v spec.Volume) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes[v.Name] = project
	return nil
}

func (f *fakeVolumes) ListVolumes(ctx context.Context, project string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n, p := range f.volumes {
		if p == project {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeVolumes) Mounts(ctx context.Context, r MountRequest) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, m := range r.Service.Mounts {
		switch m.Type {
		case spec.MountVolume:
			name := m.Source
			if v, ok := r.Project.Volume(m.Source); ok {
				name = v.Name
			}
			f.mu.Lock()
			if _, ok := f.volumes[name]; !ok {
				f.mu.Unlock()
				return nil, fmt.Errorf("volume %s: %w", name, ErrNotFound)
			}
			f.mu.Unlock()
			out = append(out, runtime.Mount{Type: "bind", Source: "/volumes/" + name, Target: m.Target})
		case spec.MountBind:
			out = append(out, runtime.Mount{Type: "bind", Source: m.Source, Target: m.Target})
		}
	}
	return out, nil
}

func (f *fakeVolumes) RemoveProjectVolumes(ctx context.Context, project string, keep []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed []string
	for n, p := range f.volumes {
		if p == project && !contains(keep, n) {
			delete(f.volumes, n)
			removed = append(removed, n)
		}
	}
	sort.Strings(removed)
	return removed, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// world is a full set of fakes.
type world struct {
	clock *fakeClock
	rt    *fakeRuntime
	imgs  *fakeImages
	nets  *fakeNetworks
	vols  *fakeVolumes
}

func newWorld(images ...string) *world {
	c := newFakeClock()
	return &world{clock: c, rt: newFakeRuntime(c), imgs: newFakeImages(images...), nets: newFakeNetworks(), vols: newFakeVolumes()}
}

func (w *world) deps() Deps {
	return Deps{Containers: w.rt, Images: w.imgs, Networks: w.nets, Volumes: w.vols}
}

var (
	_ Containers = (*fakeRuntime)(nil)
	_ Images     = (*fakeImages)(nil)
	_ Networks   = (*fakeNetworks)(nil)
	_ Volumes    = (*fakeVolumes)(nil)
)
