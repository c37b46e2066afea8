package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// Executor walks a Plan: it is the only place that drives Deps for up.
type Executor struct {
	Deps     Deps
	Store    *Store   // may be nil (tests without state)
	Monitor  *Monitor // runs healthchecks of started containers; nil = none
	Clock    Clock
	Log      *slog.Logger
	Progress ProgressFunc
	// Parallel bounds container operations in flight; default 16.
	Parallel int

	imagesMu sync.Mutex
	images   map[string]ImageInfo // guarded by imagesMu
}

// ApplyOptions are the knobs of applying a plan.
type ApplyOptions struct {
	NoStart bool
	// StopTimeout overrides stop_grace_period when stopping (-t).
	StopTimeout *time.Duration
}

func (e *Executor) init() {
	if e.Clock == nil {
		e.Clock = RealClock{}
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	if e.Parallel <= 0 {
		e.Parallel = 16
	}
	e.imagesMu.Lock()
	if e.images == nil {
		e.images = map[string]ImageInfo{}
	}
	e.imagesMu.Unlock()
}

// Apply executes plan for project p: networks, volumes and image pulls
// first, then removals, then each service's container actions once the
// services it depends on are done and their depends_on conditions hold.
// Independent services run in parallel. A failed service fails its
// dependents (required dependencies) with an error naming it; other
// services go on. The error joins every failure.
func (e *Executor) Apply(ctx context.Context, p *spec.Project, plan *Plan, o ApplyOptions) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	if err := e.prepare(ctx, p, plan, tr); err != nil {
		return err
	}
	if err := e.removeAll(ctx, p, plan.Remove, o, tr); err != nil {
		return err
	}

	type result struct {
		done chan struct{}
		err  error // written before done is closed
	}
	results := map[string]*result{}
	for _, st := range plan.Services {
		results[st.Service] = &result{done: make(chan struct{})}
	}
	sem := make(chan struct{}, e.Parallel)
	var wg sync.WaitGroup
	for _, st := range plan.Services {
		r := results[st.Service]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done)
			r.err = e.runStep(ctx, p, st, o, tr, sem, func(dep string) (chan struct{}, *error) {
				d := results[dep]
				return d.done, &d.err
			})
		}()
	}
	wg.Wait()
	var errs []error
	for _, st := range plan.Services {
		if err := results[st.Service].err; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Executor) prepare(ctx context.Context, p *spec.Project, plan *Plan, tr *tracker) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.Parallel)
	for _, a := range plan.Prepare {
		g.Go(func() error {
			switch a.Kind {
			case CreateNetwork:
				done := tr.emit("Network", a.Object, "Creating")
				var n spec.Network
				for _, pn := range p.Networks {
					if pn.Name == a.Object {
						n = pn
					}
				}
				err := e.Deps.Networks.EnsureNetwork(gctx, p.Name, n)
				done("Created", err)
				if err != nil {
					return fmt.Errorf("create network %s: %w", a.Object, err)
				}
			case CreateVolume:
				done := tr.emit("Volume", a.Object, "Creating")
				var v spec.Volume
				for _, pv := range p.Volumes {
					if pv.Name == a.Object {
						v = pv
					}
				}
				err := e.Deps.Volumes.EnsureVolume(gctx, p.Name, v)
				done("Created", err)
				if err != nil {
					return fmt.Errorf("create volume %s: %w", a.Object, err)
				}
			case PullImage:
				done := tr.emit("Image", a.Object, "Pulling")
				platform := ""
				if s, ok := p.Service(a.Service); ok {
					platform = s.Platform
				}
				img, err := e.Deps.Images.Pull(gctx, a.Object, platform)
				done("Pulled", err)
				if err != nil {
					return fmt.Errorf("pull image %s for service %s: %w", a.Object, a.Service, err)
				}
				e.imagesMu.Lock()
				e.images[a.Object] = img
				e.imagesMu.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}

func (e *Executor) removeAll(ctx context.Context, p *spec.Project, as []Action, o ApplyOptions, tr *tracker) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.Parallel)
	for _, a := range as {
		g.Go(func() error {
			s, _ := p.Service(a.Service)
			done := tr.emit("Container", a.Object, "Removing")
			err := e.removeContainer(gctx, p, s, a.Old, StopTimeout(s, o.StopTimeout))
			done("Removed", err)
			return err
		})
	}
	return g.Wait()
}

// removeContainer stops and removes c and what belongs to it alone: its
// sandbox, health and user-stop records.
func (e *Executor) removeContainer(ctx context.Context, p *spec.Project, s *spec.Service, c *Container, timeout time.Duration) error {
	if err := e.removeContainerOnly(ctx, c, timeout); err != nil {
		return err
	}
	if ownSandbox(s) && e.Deps.Networks != nil {
		if err := e.Deps.Networks.DeleteSandbox(ctx, c.Name); err != nil {
			return fmt.Errorf("remove network sandbox of %s: %w", c.Name, err)
		}
		if e.Store != nil {
			e.Store.ForgetSandbox(c.Name)
		}
	}
	if e.Store != nil {
		e.Store.ForgetContainer(c.Name)
	}
	return nil
}

// removeContainerOnly stops and removes c, leaving its sandbox (down
// deletes all of a project's sandboxes in one batch afterwards).
func (e *Executor) removeContainerOnly(ctx context.Context, c *Container, timeout time.Duration) error {
	if e.Monitor != nil {
		e.Monitor.Unwatch(c.ID)
	}
	if c.Running() {
		if err := e.Deps.Containers.Stop(ctx, c.ID, timeout); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("stop container %s: %w", c.Name, err)
		}
	}
	if err := e.Deps.Containers.Remove(ctx, c.ID, true); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove container %s: %w", c.Name, err)
	}
	return nil
}

// ownSandbox reports whether a container of s has a sandbox named after
// it (not a pod member, not sharing another's network). s is nil for an
// orphan, whose sandbox, if any, is named after it.
func ownSandbox(s *spec.Service) bool {
	return s == nil || (s.NetworkMode == "" && s.Pod == "")
}

type depResult func(dep string) (chan struct{}, *error)

func (e *Executor) runStep(ctx context.Context, p *spec.Project, st ServiceStep, o ApplyOptions, tr *tracker, sem chan struct{}, dep depResult) error {
	s, ok := p.Service(st.Service)
	if !ok {
		return fmt.Errorf("service %s: %w", st.Service, ErrNotFound)
	}
	for _, edge := range st.Deps {
		done, errp := dep(edge.Before)
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if *errp != nil {
			if edge.Required || edge.Condition == "" {
				return fmt.Errorf("service %s: dependency %s failed to start: %w", s.Name, edge.Before, ErrDependency)
			}
			e.Log.Info("optional dependency failed", "service", s.Name, "dependency", edge.Before)
			continue
		}
		if len(st.Actions) == 0 {
			// Nothing to start here: no reason to wait for conditions.
			continue
		}
		if err := e.waitCondition(ctx, p, edge, tr); err != nil {
			if edge.Required {
				return fmt.Errorf("service %s: %w", s.Name, err)
			}
			e.Log.Info("optional dependency not ready", "service", s.Name, "dependency", edge.Before, "err", err)
		}
	}
	if len(st.Actions) == 0 {
		return nil
	}
	img, err := e.image(ctx, s.Image)
	if err != nil {
		return fmt.Errorf("service %s: %w", s.Name, err)
	}
	if e.Store != nil {
		if err := e.Store.SaveConfig(s.ConfigHash, NormalizedConfig(s)); err != nil {
			return err
		}
	}
	// Pod members and service:x joiners run one at a time after the first
	// replica so that the first one's namespaces exist; others in parallel.
	var wg sync.WaitGroup
	errs := make([]error, len(st.Actions))
	for i, a := range st.Actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = e.runAction(ctx, p, s, a, img, o, tr)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Executor) image(ctx context.Context, ref string) (ImageInfo, error) {
	e.imagesMu.Lock()
	img, ok := e.images[ref]
	e.imagesMu.Unlock()
	if ok {
		return img, nil
	}
	img, err := e.Deps.Images.Get(ctx, ref)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %s: %w", ref, err)
	}
	e.imagesMu.Lock()
	e.images[ref] = img
	e.imagesMu.Unlock()
	return img, nil
}

func (e *Executor) runAction(ctx context.Context, p *spec.Project, s *spec.Service, a Action, img ImageInfo, o ApplyOptions, tr *tracker) error {
	switch a.Kind {
	case StartContainer:
		done := tr.emit("Container", a.Object, "Starting")
		err := e.reviveSandbox(ctx, p, s, a.Old.Number())
		if err == nil {
			err = e.start(ctx, p, s, *a.Old, img)
		}
		done("Started", err)
		return err
	case RecreateContainer:
		done := tr.emit("Container", a.Object, "Recreate")
		if err := e.removeContainer(ctx, p, s, a.Old, StopTimeout(s, o.StopTimeout)); err != nil {
			done("", err)
			return err
		}
		c, err := e.create(ctx, p, s, a.Number, img)
		if err != nil {
			done("", err)
			return err
		}
		done("Recreated", nil)
		if o.NoStart {
			return nil
		}
		done = tr.emit("Container", a.Object, "Starting")
		err = e.start(ctx, p, s, c, img)
		done("Started", err)
		return err
	case CreateContainer:
		done := tr.emit("Container", a.Object, "Creating")
		c, err := e.create(ctx, p, s, a.Number, img)
		done("Created", err)
		if err != nil || o.NoStart {
			return err
		}
		done = tr.emit("Container", a.Object, "Starting")
		err = e.start(ctx, p, s, c, img)
		done("Started", err)
		return err
	}
	return fmt.Errorf("service %s: unexpected action %s: %w", s.Name, a.Kind, ErrInvalidArgument)
}

// OneoffOptions shape a `berth run` container.
type OneoffOptions struct {
	Name string // container name; "" = <project>-<service>-run-<n>
	// Adjust, when set, edits the spec after conversion (command, env,
	// user, workdir, tty, auto-remove...).
	Adjust func(*runtime.Spec)
}

// CreateOneoff creates (does not start) a one-off container of s, with its
// own sandbox named after it (ports only when s still has them: the caller
// clears them unless --service-ports).
func (e *Executor) CreateOneoff(ctx context.Context, p *spec.Project, s *spec.Service, o OneoffOptions) (Container, error) {
	e.init()
	img, err := e.image(ctx, s.Image)
	if err != nil {
		return Container{}, err
	}
	cs, err := e.Deps.Containers.List(ctx, p.Name)
	if err != nil {
		return Container{}, err
	}
	number := 1
	for _, c := range cs {
		if c.Oneoff() && c.Service() == s.Name && c.Number() >= number {
			number = c.Number() + 1
		}
	}
	one := *s
	one.ContainerName = o.Name
	if one.ContainerName == "" {
		one.ContainerName = fmt.Sprintf("%s-%s-run-%d", p.Name, s.Name, number)
	}
	return e.createWith(ctx, p, &one, number, img, func(rs *runtime.Spec) {
		rs.Labels[LabelOneoff] = "True"
		if o.Adjust != nil {
			o.Adjust(rs)
		}
	})
}

// StartOneoff starts a container made by CreateOneoff.
func (e *Executor) StartOneoff(ctx context.Context, c Container) error {
	if err := e.Deps.Containers.Start(ctx, c.ID); err != nil {
		return fmt.Errorf("start container %s: %w", c.Name, err)
	}
	return nil
}

// RemoveOneoff removes a one-off container and its sandbox.
func (e *Executor) RemoveOneoff(ctx context.Context, c Container) error {
	e.init()
	return e.removeContainer(ctx, nil, nil, &c, -1)
}

// create makes replica number of s, with its mounts and network; what it
// made is undone when a later step fails.
func (e *Executor) create(ctx context.Context, p *spec.Project, s *spec.Service, number int, img ImageInfo) (_ Container, err error) {
	return e.createWith(ctx, p, s, number, img, nil)
}

func (e *Executor) createWith(ctx context.Context, p *spec.Project, s *spec.Service, number int, img ImageInfo, adjust func(*runtime.Spec)) (_ Container, err error) {
	rs := ContainerSpec(p, s, number, img)
	if adjust != nil {
		adjust(&rs)
	}
	if e.Deps.Volumes != nil {
		mounts, err := e.Deps.Volumes.Mounts(ctx, MountRequest{Project: p, Service: s, Number: number, ImageVolumes: img.Volumes})
		if err != nil {
			return Container{}, fmt.Errorf("container %s: %w", rs.Name, err)
		}
		rs.Mounts = mounts
	}
	files, err := e.fileMounts(s)
	if err != nil {
		return Container{}, fmt.Errorf("container %s: %w", rs.Name, err)
	}
	rs.Mounts = append(rs.Mounts, files...)
	defer func() {
		if err != nil && ownSandbox(s) && e.Deps.Networks != nil {
			if derr := e.Deps.Networks.DeleteSandbox(context.WithoutCancel(ctx), rs.Name); derr != nil {
				e.Log.Info("could not undo sandbox", "container", rs.Name, "err", derr)
			} else if e.Store != nil {
				e.Store.ForgetSandbox(rs.Name)
			}
		}
	}()
	if err := e.namespaces(ctx, p, s, number, &rs); err != nil {
		return Container{}, fmt.Errorf("container %s: %w", rs.Name, err)
	}
	c, err := e.Deps.Containers.Create(ctx, rs)
	if err != nil {
		return Container{}, fmt.Errorf("create container %s: %w", rs.Name, err)
	}
	return c, nil
}

// namespaces fills rs's network namespace (and, for pods, ipc/uts/pid),
// then the pid and ipc namespaces the service joins: pid:/ipc:
// service:<name> joins a running replica of that service, container:<name>
// that container (Docker's --pid/--ipc container:). "host" is set by
// ContainerSpec.
func (e *Executor) namespaces(ctx context.Context, p *spec.Project, s *spec.Service, number int, rs *runtime.Spec) error {
	if err := e.networkNamespaces(ctx, p, s, number, rs); err != nil {
		return err
	}
	for _, j := range []struct {
		kind, mode string
		dst        *string
	}{{"pid", s.Pid, &rs.Namespaces.PID}, {"ipc", s.Ipc, &rs.Namespaces.IPC}} {
		var match func(*Container) bool
		if x, ok := strings.CutPrefix(j.mode, "service:"); ok {
			// The lowest-numbered running replica: the planner recreates
			// joiners when replica 1 of their target is renewed.
			cs, err := e.Deps.Containers.List(ctx, p.Name)
			if err != nil {
				return err
			}
			best := 0
			for i := range cs {
				if c := &cs[i]; c.Service() == x && !c.Oneoff() && c.Running() && (best == 0 || c.Number() < best) {
					best = c.Number()
				}
			}
			match = func(c *Container) bool { return c.Service() == x && !c.Oneoff() && c.Number() == best }
		} else if name, ok := strings.CutPrefix(j.mode, "container:"); ok {
			match = func(c *Container) bool { return c.Name == name }
		} else {
			continue
		}
		c, err := e.findRunning(ctx, p.Name, match)
		if err != nil {
			return fmt.Errorf("%s %s: %w", j.kind, j.mode, err)
		}
		path := c.Namespaces[j.kind]
		if path == "" {
			return fmt.Errorf("%s %s: container %s has no %s namespace on record: %w", j.kind, j.mode, c.Name, j.kind, ErrNotFound)
		}
		*j.dst = path
	}
	return nil
}

// networkNamespaces fills rs's network (and, for pods, ipc/uts/pid)
// namespaces.
func (e *Executor) networkNamespaces(ctx context.Context, p *spec.Project, s *spec.Service, number int, rs *runtime.Spec) error {
	switch mode := s.NetworkMode; {
	case mode == "host", mode == "none":
		return nil
	case strings.HasPrefix(mode, "service:"):
		x, _ := p.Service(strings.TrimPrefix(mode, "service:"))
		if x == nil {
			return fmt.Errorf("network_mode %s: %w", mode, ErrNotFound)
		}
		id, req := SandboxFor(p, x, 1)
		if req == nil {
			c, err := e.findRunning(ctx, p.Name, func(c *Container) bool { return c.Service() == x.Name })
			if err != nil {
				return fmt.Errorf("network_mode %s: %w", mode, err)
			}
			rs.Namespaces.Network = c.Namespaces["net"]
			return nil
		}
		sb, err := e.Deps.Networks.EnsureSandbox(ctx, id, *req)
		if err != nil {
			return fmt.Errorf("network_mode %s: %w", mode, err)
		}
		rs.Namespaces.Network, rs.HostsPath, rs.ResolvConfPath = sb.NetNSPath, sb.HostsPath, sb.ResolvConfPath
		return nil
	case strings.HasPrefix(mode, "container:"):
		name := strings.TrimPrefix(mode, "container:")
		c, err := e.findRunning(ctx, p.Name, func(c *Container) bool { return c.Name == name })
		if err != nil {
			return fmt.Errorf("network_mode %s: %w", mode, err)
		}
		rs.Namespaces.Network = c.Namespaces["net"]
		return nil
	}
	id, req := SandboxFor(p, s, number)
	if e.Store != nil {
		// Recorded before it exists, so that down finds it even when this
		// process dies half-way through making it.
		if err := e.Store.RecordSandbox(id); err != nil {
			return err
		}
	}
	sb, err := e.Deps.Networks.EnsureSandbox(ctx, id, *req)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	rs.Namespaces.Network, rs.HostsPath, rs.ResolvConfPath = sb.NetNSPath, sb.HostsPath, sb.ResolvConfPath
	if s.Pod == "" {
		return nil
	}
	pod, ok := p.Pod(s.Pod)
	if !ok || len(pod.Services) == 0 || pod.Services[0] == s.Name {
		return nil
	}
	first := pod.Services[0]
	c, err := e.findRunning(ctx, p.Name, func(c *Container) bool { return c.Service() == first && !c.Oneoff() })
	if err != nil {
		return fmt.Errorf("pod %s: first member %s: %w", pod.Name, first, err)
	}
	if pod.Shares(spec.ShareIPC) {
		rs.Namespaces.IPC = c.Namespaces["ipc"]
	}
	if pod.Shares(spec.ShareUTS) {
		rs.Namespaces.UTS = c.Namespaces["uts"]
		rs.Hostname = ""
	}
	if pod.Shares(spec.SharePID) {
		rs.Namespaces.PID = c.Namespaces["pid"]
	}
	return nil
}

func (e *Executor) findRunning(ctx context.Context, project string, match func(*Container) bool) (*Container, error) {
	cs, err := e.Deps.Containers.List(ctx, project)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if match(&cs[i]) && cs[i].Running() {
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("no running container: %w", ErrNotFound)
}

// start starts c and, when it has a healthcheck, starts probing it.
func (e *Executor) start(ctx context.Context, p *spec.Project, s *spec.Service, c Container, img ImageInfo) error {
	if e.Store != nil {
		// Clear a user's stop before starting, so that a crash between
		// the two leaves the container supervised.
		if err := e.Store.SetStoppedByUser(c.Name, false); err != nil {
			return err
		}
	}
	if err := e.Deps.Containers.Start(ctx, c.ID); err != nil {
		return fmt.Errorf("start container %s: %w", c.Name, err)
	}
	if hc := ResolveHealthcheck(s.Healthcheck, img.Healthcheck); hc != nil && e.Monitor != nil {
		// The health status belongs to this run: stamp it with the
		// runtime's start time so that a later supervisor resumes it.
		c.StartedAt = time.Time{}
		if in, ok := e.Deps.Containers.(Inspector); ok {
			if cur, err := in.Inspect(ctx, c.ID); err == nil {
				c.StartedAt = cur.StartedAt
			}
		}
		if c.StartedAt.IsZero() {
			c.StartedAt = e.Clock.Now()
		}
		c.Status = runtime.StatusRunning
		e.Monitor.Watch(context.WithoutCancel(ctx), c, *hc)
	}
	return nil
}

// serviceContainers lists the replicas (not one-offs) of service.
func (e *Executor) serviceContainers(ctx context.Context, project, service string) ([]Container, error) {
	cs, err := e.Deps.Containers.List(ctx, project)
	if err != nil {
		return nil, err
	}
	var out []Container
	for _, c := range cs {
		if c.Service() == service && !c.Oneoff() {
			out = append(out, c)
		}
	}
	return out, nil
}

// waitCondition blocks until the dependency of edge satisfies its condition.
func (e *Executor) waitCondition(ctx context.Context, p *spec.Project, edge Edge, tr *tracker) error {
	if edge.Condition == "" || edge.Condition == spec.ConditionStarted {
		return nil
	}
	cs, err := e.serviceContainers(ctx, p.Name, edge.Before)
	if err != nil {
		return fmt.Errorf("dependency %s: %w", edge.Before, err)
	}
	dep, _ := p.Service(edge.Before)
	for _, c := range cs {
		switch edge.Condition {
		case spec.ConditionHealthy:
			done := tr.emit("Container", c.Name, "Waiting")
			err := e.waitHealthy(ctx, dep, c)
			done("Healthy", err)
			if err != nil {
				return fmt.Errorf("%w to start: %w", ErrDependency, err)
			}
		case spec.ConditionCompleted:
			done := tr.emit("Container", c.Name, "Waiting")
			res, err := e.Deps.Containers.Wait(ctx, c.ID)
			if err == nil && res.Code != 0 {
				err = fmt.Errorf("service %q didn't complete successfully: exit %d: %w", edge.Before, res.Code, ErrDependency)
			}
			done("Exited", err)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Executor) waitHealthy(ctx context.Context, s *spec.Service, c Container) error {
	if e.Monitor == nil {
		return fmt.Errorf("container %s: no health monitor", c.Name)
	}
	if _, watched := e.Monitor.Status(c.ID); !watched && c.Running() {
		// An unchanged dependency that nobody probes yet (adopted).
		img, err := e.image(ctx, s.Image)
		if err != nil {
			return err
		}
		if hc := ResolveHealthcheck(s.Healthcheck, img.Healthcheck); hc != nil {
			e.Monitor.Watch(context.WithoutCancel(ctx), c, *hc)
		}
	}
	// A dependency that exits fails its dependents at once instead of
	// after its next probe.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		res, err := e.Deps.Containers.Wait(wctx, c.ID)
		if err == nil {
			cancel(fmt.Errorf("container %s exited (%d) before it was healthy", c.Name, res.Code))
		}
	}()
	err := e.Monitor.WaitHealthy(wctx, c.ID, c.Name)
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(wctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
	}
	return err
}

// WaitReady blocks until every replica of the project's services in scope
// (all when nil) is running and, when it has a healthcheck, healthy: what
// `up --wait` waits for. A finished job (exit 0, not restarted by its
// policy) counts as ready; any other exit fails.
func (e *Executor) WaitReady(ctx context.Context, p *spec.Project, scope map[string]bool) error {
	e.init()
	if e.Monitor == nil {
		e.Monitor = NewMonitor(e.Deps.Containers, e.Store, e.Clock, e.Log)
	}
	tr := newTracker(e.Progress, e.Clock)
	cs, err := e.Deps.Containers.List(ctx, p.Name)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		s, ok := p.Service(c.Service())
		if !ok || c.Oneoff() || (scope != nil && !scope[s.Name]) {
			continue
		}
		g.Go(func() error {
			if !c.Running() {
				if c.Status == runtime.StatusExited && c.ExitCode == 0 && s.Restart.Name != spec.RestartAlways && s.Restart.Name != spec.RestartUnlessStopped {
					return nil
				}
				return fmt.Errorf("container %s is %s (exit %d)", c.Name, c.Status, c.ExitCode)
			}
			img, err := e.image(gctx, s.Image)
			if err != nil {
				return err
			}
			if ResolveHealthcheck(s.Healthcheck, img.Healthcheck) == nil {
				tr.emit("Container", c.Name, "Waiting")("Running", nil)
				return nil
			}
			done := tr.emit("Container", c.Name, "Waiting")
			err = e.waitHealthy(gctx, s, c)
			done("Healthy", err)
			return err
		})
	}
	return g.Wait()
}
