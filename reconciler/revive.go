package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/spec"
)

// reviveSandbox makes sure the network of an existing, stopped container
// is there before it starts again. After a reboot the state still lists
// its sandbox and networks while the namespace, veths, bridges, rules and
// ip_forward are gone: the networks are realized anew (EnsureNetwork is
// idempotent) and the sandbox is made anew with its addresses, names and
// ports (EnsureSandbox recreates a sandbox whose namespace is gone, and
// only updates a live one). Containers that join another's network
// (network_mode service:/container:, pod members after the first) are
// covered by their target's turn.
func (e *Executor) reviveSandbox(ctx context.Context, p *spec.Project, s *spec.Service, number int) error {
	if e.Deps.Networks == nil || p == nil || s == nil {
		return nil
	}
	target, n := s, number
	if x, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		if t, found := p.Service(x); found {
			target, n = t, 1
		}
	}
	id, req := SandboxFor(p, target, n)
	if req == nil {
		return nil
	}
	if err := e.ensureNetworks(ctx, p, req); err != nil {
		return err
	}
	if _, err := e.Deps.Networks.EnsureSandbox(ctx, id, *req); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// EnsureNetworks makes (or realizes again) the networks s's containers
// attach to, for a one-off of s on a project that was never up (`run`
// creates them as Compose does).
func (e *Executor) EnsureNetworks(ctx context.Context, p *spec.Project, s *spec.Service) error {
	if e.Deps.Networks == nil {
		return nil
	}
	if _, req := SandboxFor(p, s, 1); req != nil {
		return e.ensureNetworks(ctx, p, req)
	}
	return nil
}

func (e *Executor) ensureNetworks(ctx context.Context, p *spec.Project, req *SandboxRequest) error {
	for _, ep := range req.Endpoints {
		for _, net := range p.Networks {
			if net.Name == ep.Network {
				if err := e.Deps.Networks.EnsureNetwork(ctx, p.Name, net); err != nil {
					return fmt.Errorf("network %s: %w", net.Name, err)
				}
			}
		}
	}
	return nil
}
