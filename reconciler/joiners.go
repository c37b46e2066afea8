package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/berth-dev/berth/spec"
)

// processJoinTargets returns the services whose running process the
// containers of s join through /proc/<pid>/ns paths: pid: and ipc:
// service:X, network_mode service:X when X has no network sandbox of its
// own, and the pod's first member for the later ones when the pod shares
// ipc, uts or pid (its network is a persistent sandbox). Such a path
// names one run of X: once X or s has restarted, s must be made anew to
// share X's namespaces again; a plain start would reuse the path of a dead
// run, or of whatever process got its pid since.
func processJoinTargets(p *spec.Project, s *spec.Service) []string {
	var out []string
	add := func(x string) {
		if x != "" && x != s.Name && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	for _, j := range namespaceJoins(s) {
		if j.kind == "network" {
			// Joined through the target's sandbox when it has one.
			if t, found := p.Service(j.service); !found {
				continue
			} else if _, req := SandboxFor(p, t, 1); req != nil {
				continue
			}
		}
		add(j.service)
	}
	if s.Pod != "" {
		if pod, ok := p.Pod(s.Pod); ok && len(pod.Services) > 0 &&
			(pod.Shares(spec.ShareIPC) || pod.Shares(spec.ShareUTS) || pod.Shares(spec.SharePID)) {
			add(pod.Services[0])
		}
	}
	return out
}

// restartJoined restarts c as the supervisor's restart policy asks. A
// container that joins another's namespaces by process is recreated
// instead (see processJoinTargets); after replica 1 of a service restarts,
// its running joiners are recreated so that they share its new namespaces.
// Callers hold the project lock.
func (s *Supervisor) restartJoined(ctx context.Context, c Container) error {
	svc, ok := s.Project.Service(c.Service())
	if ok && len(processJoinTargets(s.Project, svc)) > 0 {
		return s.recreate(ctx, svc, c)
	}
	if err := s.Exec.Deps.Containers.Start(ctx, c.ID); err != nil {
		return fmt.Errorf("restart container %s: %w", c.Name, err)
	}
	if !ok || c.Number() != 1 {
		return nil
	}
	cs, err := s.Exec.Deps.Containers.List(ctx, s.Project.Name)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range cs {
		js, found := s.Project.Service(j.Service())
		if !found || j.Oneoff() || !j.Running() || !slices.Contains(processJoinTargets(s.Project, js), svc.Name) {
			continue
		}
		s.log().Info("recreating a container that shared the restarted one's namespaces", "container", j.Name, "restarted", c.Name)
		if err := s.recreate(ctx, js, j); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restart container %s: %w", c.Name, err)
	}
	return nil
}

// recreate makes c anew from svc, as up does for a changed service.
func (s *Supervisor) recreate(ctx context.Context, svc *spec.Service, c Container) error {
	img, err := s.Exec.image(ctx, svc.Image)
	if err != nil {
		return fmt.Errorf("recreate container %s: %w", c.Name, err)
	}
	a := Action{Kind: RecreateContainer, Object: c.Name, Service: svc.Name, Number: c.Number(), Old: &c, Cause: "shares namespaces by process"}
	if err := s.Exec.runAction(ctx, s.Project, svc, a, img, ApplyOptions{}, newTracker(nil, s.Exec.Clock)); err != nil {
		return fmt.Errorf("recreate container %s: %w", c.Name, err)
	}
	return nil
}
