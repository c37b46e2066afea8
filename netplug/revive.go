package netplug

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ReviveSandbox makes a sandbox whose namespace is gone (after a reboot:
// /run is empty, the bridges and rules are gone, state under Root is not)
// anew from its recorded state: the same spec, networks (their bridges
// realized again, forwarding enabled), aliases, addresses, MAC addresses and
// published host ports. A live sandbox is returned as it is. Callers that
// keep their own description of the sandbox (the reconciler) use
// CreateSandbox and Attach instead; this is for those that do not (single
// containers).
func (m *Manager) ReviveSandbox(ctx context.Context, id string) (*Sandbox, error) {
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return nil, err
	}
	s, err := m.loadSandbox(id)
	unlock()
	if err != nil {
		return nil, err
	}
	if m.dp.netnsAlive(s.NetNSPath) {
		pub := s.public()
		return &pub, nil
	}
	m.log.Info("reviving sandbox whose namespace is gone (reboot?)", "container", id)
	spec, ports := s.Spec, slices.Clone(s.Ports)
	eps := slices.Clone(s.Endpoints)
	// eth0 first, so that interface names come back in the same order.
	slices.SortFunc(eps, func(a, b EndpointInfo) int { return strings.Compare(a.Interface, b.Interface) })
	for _, ep := range eps {
		if err := m.realizeNetworkByName(ep.Network); err != nil {
			return nil, fmt.Errorf("revive sandbox %s: %w", id, err)
		}
	}
	// CreateSandbox deletes the stale one (releasing its leases and
	// ports) and makes an empty one; the same addresses and host ports
	// are then free to be taken again.
	if _, err := m.CreateSandbox(ctx, id, spec); err != nil {
		return nil, fmt.Errorf("revive sandbox %s: %w", id, err)
	}
	for _, ep := range eps {
		want := Endpoint{Network: ep.Network, Aliases: ep.Aliases, MacAddress: ep.MacAddress, Priority: ep.Priority}
		if ep.IPv4.IsValid() {
			want.IPv4Address = ep.IPv4.String()
		}
		if _, err := m.Attach(ctx, id, want); err != nil {
			return nil, fmt.Errorf("revive sandbox %s: network %s: %w", id, ep.Network, err)
		}
	}
	if len(ports) > 0 {
		if _, err := m.Publish(ctx, id, ports); err != nil {
			return nil, fmt.Errorf("revive sandbox %s: ports: %w", id, err)
		}
	}
	return m.Sandbox(ctx, id)
}

// realizeNetworkByName recreates the bridge (and forwarding, rules) of a
// network that exists in state.
func (m *Manager) realizeNetworkByName(name string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.loadNetwork(name)
	if err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	return m.realizeNetwork(n)
}
