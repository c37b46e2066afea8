package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/spec"
)

// Select returns the project's containers of the given services (all when
// empty), one-offs only when oneoff, sorted by name.
func Select(cs []Container, services []string, oneoff bool) []Container {
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []Container
	for _, c := range cs {
		if c.Oneoff() && !oneoff {
			continue
		}
		if len(want) > 0 && !want[c.Service()] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StopContainers stops cs (dependents first) and records that the user
// stopped them, so that the supervisor leaves them alone. This is the kill
// path of a project (Ctrl-C of foreground up, berth stop); contrast with
// cancelling a Supervisor's context, which leaves containers running.
func (e *Executor) StopContainers(ctx context.Context, p *spec.Project, cs []Container, timeout *time.Duration) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	if e.Store != nil {
		for _, c := range cs {
			if err := e.Store.SetStoppedByUser(c.Name, true); err != nil {
				return err
			}
		}
	}
	var errs []error
	for _, level := range stopLevels(p, cs) {
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(e.Parallel)
		for _, c := range level {
			if !c.Running() {
				continue
			}
			g.Go(func() error {
				var s *spec.Service
				if p != nil {
					s, _ = p.Service(c.Service())
				}
				done := tr.emit("Container", c.Name, "Stopping")
				err := e.Deps.Containers.Stop(gctx, c.ID, StopTimeout(s, timeout))
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
				if err == nil {
					e.releasePorts(gctx, p, s, c)
				}
				done("Stopped", err)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop container %s: %w", c.Name, err))
					mu.Unlock()
				}
				return nil
			})
		}
		g.Wait()
	}
	return errors.Join(errs...)
}

// KillContainers sends signal to the running containers of cs and records
// the user's intent as StopContainers does.
func (e *Executor) KillContainers(ctx context.Context, cs []Container, signal string) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	var errs []error
	for _, c := range cs {
		if !c.Running() {
			continue
		}
		if e.Store != nil && (signal == "" || signal == "KILL" || signal == "SIGKILL" || signal == "9") {
			if err := e.Store.SetStoppedByUser(c.Name, true); err != nil {
				return err
			}
		}
		done := tr.emit("Container", c.Name, "Killing")
		err := e.Deps.Containers.Kill(ctx, c.ID, signal)
		done("Killed", err)
		if err != nil {
			errs = append(errs, fmt.Errorf("kill container %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// StartContainers starts the stopped containers of cs in dependency order
// (berth start) and clears the user's stop.
func (e *Executor) StartContainers(ctx context.Context, p *spec.Project, cs []Container) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	levels := stopLevels(p, cs)
	var errs []error
	for i := len(levels) - 1; i >= 0; i-- {
		for _, c := range levels[i] {
			if c.Running() {
				continue
			}
			done := tr.emit("Container", c.Name, "Starting")
			var err error
			if e.Store != nil {
				err = e.Store.SetStoppedByUser(c.Name, false)
			}
			if err == nil && p != nil {
				if s, ok := p.Service(c.Service()); ok {
					err = e.reviveSandbox(ctx, p, s, c.Number())
				}
			}
			if err == nil {
				err = e.Deps.Containers.Start(ctx, c.ID)
			}
			done("Started", err)
			if err != nil {
				errs = append(errs, fmt.Errorf("start container %s: %w", c.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveContainers removes the stopped containers of cs (berth rm); with
// force also running ones.
func (e *Executor) RemoveContainers(ctx context.Context, p *spec.Project, cs []Container, force bool) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	var errs []error
	for _, c := range cs {
		if c.Running() && !force {
			continue
		}
		var s *spec.Service
		if p != nil && !c.Oneoff() {
			s, _ = p.Service(c.Service())
		}
		done := tr.emit("Container", c.Name, "Removing")
		err := e.removeContainer(ctx, p, s, &c, -1)
		done("Removed", err)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releasePorts frees the host ports of a stopped container that has a
// sandbox of its own (a pod's ports stay with the pod), as Docker does on
// stop: another project may take them meanwhile; start or up publishes
// them again. A failure is logged, not the stop's.
func (e *Executor) releasePorts(ctx context.Context, p *spec.Project, s *spec.Service, c Container) {
	if e.Deps.Networks == nil || p == nil || s == nil || s.Pod != "" {
		return
	}
	id, req := SandboxFor(p, s, c.Number())
	if req == nil || len(req.Ports) == 0 {
		return
	}
	if err := e.Deps.Networks.ReleasePorts(ctx, id); err != nil {
		e.Log.Info("could not release the ports of a stopped container", "container", c.Name, "err", err)
	}
}
