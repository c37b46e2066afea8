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

// DownOptions are the knobs of `berth down`.
type DownOptions struct {
	RemoveVolumes bool   // -v
	RemoveImages  string // --rmi: "", "local" or "all"
	StopTimeout   *time.Duration
	// RemoveOrphans is accepted for Compose compatibility: down always
	// removes every container of the project, as nothing may be left.
	RemoveOrphans bool
}

// Down stops and removes everything of the project: its containers
// (one-offs and orphans included; dependents stopped before what they
// depend on), sandboxes, networks (not external ones), with -v its volumes
// (not external ones), with --rmi its images, and its state dir. Without
// -v the anonymous volumes are released (kept, but not reused). p may be
// nil when the manifest is gone: what is found by label is removed anyway.
// Removing what is already gone succeeds, so Down converges after a crash.
func (e *Executor) Down(ctx context.Context, project string, p *spec.Project, o DownOptions) error {
	e.init()
	tr := newTracker(e.Progress, e.Clock)
	cs, err := e.Deps.Containers.List(ctx, project)
	if err != nil {
		return fmt.Errorf("down %s: list containers: %w", project, err)
	}
	if e.Store != nil {
		// Mark all as stopped by the user first: a supervisor that is still
		// running (or restarts) must not bring them back.
		for _, c := range cs {
			if err := e.Store.SetStoppedByUser(c.Name, true); err != nil {
				return err
			}
		}
	}
	var errs []error
	for _, level := range stopLevels(p, cs) {
		g, gctx := errgroup.WithContext(ctx)
		// A stop mostly waits for processes to end: more at once than
		// the work-bound operations.
		g.SetLimit(4 * e.Parallel)
		for _, c := range level {
			g.Go(func() error {
				var s *spec.Service
				if p != nil && !c.Oneoff() {
					s, _ = p.Service(c.Service())
				}
				if c.Running() {
					done := tr.emit("Container", c.Name, "Stopping")
					err := e.Deps.Containers.Stop(gctx, c.ID, StopTimeout(s, o.StopTimeout))
					if errors.Is(err, ErrNotFound) {
						err = nil
					}
					done("Stopped", err)
					if err != nil {
						return fmt.Errorf("stop container %s: %w", c.Name, err)
					}
				}
				// Its namespace can go now: the kernel deletes it
				// (and its veths, ≈ 40–70 ms for many) while the
				// others stop, instead of after all of them.
				if e.Deps.Networks != nil {
					if err := e.Deps.Networks.ReleaseNetNS(gctx, c.Name); err != nil {
						e.Log.Debug("release network namespace", "container", c.Name, "err", err)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	// The sandboxes and the networks go in one teardown, alongside the
	// removal of the containers: once every container has stopped,
	// nothing uses them.
	var sbs, nets []string
	var sbErr error
	var netErrs map[string]error
	var netDone []func(string, error)
	sbDone := make(chan struct{})
	batched := e.Deps.Networks != nil && len(errs) == 0
	if batched {
		if sbs, err = e.projectSandboxes(ctx, project, cs); err != nil {
			return err
		}
		if nets, err = e.projectNetworks(ctx, project, p); err != nil {
			return err
		}
		for _, n := range nets {
			netDone = append(netDone, tr.emit("Network", n, "Removing"))
		}
		go func() {
			defer close(sbDone)
			netErrs, sbErr = e.Deps.Networks.Teardown(ctx, sbs, nets)
		}()
	} else {
		close(sbDone)
	}
	var mu sync.Mutex
	var removed []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.Parallel)
	for _, c := range cs {
		g.Go(func() error {
			done := tr.emit("Container", c.Name, "Removing")
			// Its sandbox goes in the batch above (or below).
			err := e.removeContainerOnly(gctx, &c, -1)
			if err == nil && e.Store != nil {
				e.Store.ForgetContainer(c.Name)
			}
			done("Removed", err)
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			} else {
				removed = append(removed, c.Name)
			}
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	<-sbDone
	if batched {
		if sbErr != nil {
			errs = append(errs, fmt.Errorf("remove sandboxes: %w", sbErr))
		} else if e.Store != nil {
			for _, id := range sbs {
				e.Store.ForgetSandbox(id)
			}
		}
		for i, n := range nets {
			err := netErrs[n]
			netDone[i]("Removed", err)
			if err != nil {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n, err))
			}
		}
	}
	if len(errs) > 0 {
		// Some container did not stop or go: only the sandboxes of those
		// that went are surely unused.
		if e.Deps.Networks != nil && !batched {
			if err := e.Deps.Networks.DeleteSandboxes(ctx, removed); err != nil {
				errs = append(errs, fmt.Errorf("remove sandboxes: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	if e.Monitor != nil {
		e.Monitor.Close()
	}
	if !o.RemoveVolumes {
		errs = append(errs, e.releaseAnonymous(ctx, project)...)
	}
	if o.RemoveVolumes && e.Deps.Volumes != nil {
		var keep []string
		if p != nil {
			for _, v := range p.Volumes {
				if v.External {
					keep = append(keep, v.Name)
				}
			}
		}
		removed, err := e.Deps.Volumes.RemoveProjectVolumes(ctx, project, keep)
		for _, v := range removed {
			tr.emit("Volume", v, "Removing")("Removed", nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove volumes: %w", err))
		}
	}
	if o.RemoveImages != "" && p != nil && e.Deps.Images != nil {
		seen := map[string]bool{}
		for _, s := range p.Services {
			if seen[s.Image] {
				continue
			}
			seen[s.Image] = true
			// "local" removes only images without a custom tag; berth
			// builds nothing, so every image has the manifest's tag.
			if o.RemoveImages == "local" {
				continue
			}
			done := tr.emit("Image", s.Image, "Removing")
			err := e.Deps.Images.Remove(ctx, s.Image)
			done("Removed", err)
			if err != nil {
				errs = append(errs, fmt.Errorf("remove image %s: %w", s.Image, err))
			}
		}
	}
	if len(errs) == 0 && e.Store != nil {
		if err := e.Store.RemoveAll(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopLevels groups containers so that dependents stop before what they
// depend on: containers of services that nothing depends on first.
// Containers of unknown services and one-offs go in the first group.
func stopLevels(p *spec.Project, cs []Container) [][]Container {
	depth := map[string]int{} // longest chain of dependents above a service
	if p != nil {
		order, err := TopoOrder(p, nil)
		if err == nil {
			for i := len(order) - 1; i >= 0; i-- {
				s, _ := p.Service(order[i])
				for _, e := range Dependencies(p, s) {
					if d := depth[s.Name] + 1; d > depth[e.Before] {
						depth[e.Before] = d
					}
				}
			}
		}
	}
	max := 0
	for _, d := range depth {
		if d > max {
			max = d
		}
	}
	levels := make([][]Container, max+1)
	for _, c := range cs {
		d := 0
		if p != nil && !c.Oneoff() {
			d = depth[c.Service()]
		}
		levels[d] = append(levels[d], c)
	}
	return levels
}

// ReleaseAnonymous is releaseAnonymous for `rm` without -v: the removed
// containers' anonymous volumes stay, and the next up makes fresh ones.
func (e *Executor) ReleaseAnonymous(ctx context.Context, project string) error {
	return errors.Join(e.releaseAnonymous(ctx, project)...)
}

// releaseAnonymous detaches the project's anonymous volumes from their
// services once the containers are gone, so that the next `up` starts with
// fresh ones while the data stays on disk (Compose: anonymous volumes are
// kept across recreate, not across down/up; `down -v` removes them, and the
// released ones too as they keep the project label). A volume still in use
// is a warning, not a failure: it is simply reused by the next `up`.
//
// A down killed after removing the containers but before this step leaves
// the volumes under their service-derived names: a following `up` reuses
// them (the old data comes back, as if `down` had not been run), a
// following `down` releases them, and `down -v` removes them either way.
// Killed half way through, some volumes are released and some are not;
// the volume store keeps each one whole (see volumes.Manager.ReleaseAnonymous).
func (e *Executor) releaseAnonymous(ctx context.Context, project string) []error {
	if e.Deps.Volumes == nil {
		return nil
	}
	released, err := e.Deps.Volumes.ReleaseAnonymous(ctx, project)
	if len(released) > 0 {
		e.Log.Debug("anonymous volumes released", "project", project, "volumes", released)
	}
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	var errs []error
	for _, p := range parts {
		if errors.Is(p, ErrInUse) {
			e.Log.Warn("anonymous volume kept for the next up", "project", project, "err", p)
			continue
		}
		errs = append(errs, fmt.Errorf("down %s: release anonymous volumes: %w", project, p))
	}
	return errs
}

// projectNetworks names the project's networks that down removes: all
// but the external ones, sorted.
func (e *Executor) projectNetworks(ctx context.Context, project string, p *spec.Project) ([]string, error) {
	nets, err := e.Deps.Networks.ListNetworks(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("down %s: list networks: %w", project, err)
	}
	external := map[string]bool{}
	if p != nil {
		for _, n := range p.Networks {
			if n.External {
				external[n.Name] = true
			}
		}
	}
	var out []string
	for _, n := range nets {
		if !external[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// projectSandboxes names every sandbox of the project: those netplug finds
// on its networks, those the project state recorded, and the one named
// after each container (pod members and containers on another's network
// have none; deleting a missing one succeeds).
func (e *Executor) projectSandboxes(ctx context.Context, project string, cs []Container) ([]string, error) {
	sbs, err := e.Deps.Networks.ListSandboxes(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("down %s: list sandboxes: %w", project, err)
	}
	if e.Store != nil {
		recorded, err := e.Store.Sandboxes()
		if err != nil {
			return nil, err
		}
		sbs = append(sbs, recorded...)
	}
	for _, c := range cs {
		sbs = append(sbs, c.Name)
	}
	return sbs, nil
}
