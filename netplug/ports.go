package netplug

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Publish sets the published ports of sandbox id to ports (replacing what
// it published before) and returns the actual mappings, one host port each.
// Every host port is checked before any rule is written: taken by another
// berth mapping or by a program on the host, it is refused with an error
// wrapping ErrPortInUse, and nothing changes. HostPort 0 takes a free port
// (the one this sandbox had for the same mapping before, when it still
// has one). Ports reach the container through its default-route endpoint;
// a sandbox on internal networks only publishes nothing (as Docker).
func (m *Manager) Publish(ctx context.Context, id string, ports []PortMapping) ([]PortMapping, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("sandbox", id); err != nil {
		return nil, err
	}
	reqs := make([]portReq, 0, len(ports))
	for _, p := range ports {
		r, err := parsePortMapping(id, p)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	unlockDerived, err := m.lockDerived()
	if err != nil {
		return nil, err
	}
	defer unlockDerived()
	s, err := m.loadSandbox(id)
	if err != nil {
		return nil, err
	}
	if len(reqs) > 0 && s.defaultEndpoint() == nil {
		m.log.Info("container is on no non-internal network; its ports are not published", "container", id)
		reqs = nil
	}
	all, err := m.loadSandboxes()
	if err != nil {
		return nil, err
	}
	var taken []takenPort
	for _, o := range all {
		if o.ID == id {
			continue
		}
		for _, p := range o.Ports {
			taken = append(taken, takenPort{owner: o.ID, proto: protocol(p.Protocol), ip: parseHostIP(p.HostIP), port: p.HostPort})
		}
	}
	out := make([]PortMapping, 0, len(reqs))
	for _, r := range reqs {
		port, err := m.choosePort(id, r, s.Ports, taken)
		if err != nil {
			return nil, err
		}
		pm := PortMapping{HostIP: r.hostIPString(), HostPort: port, ContainerPort: r.containerPort, Protocol: r.proto}
		out = append(out, pm)
		taken = append(taken, takenPort{owner: id, proto: r.proto, ip: r.hostIP, port: port})
	}
	old := s.Ports
	s.Ports = out
	if err := m.saveSandbox(s); err != nil {
		return nil, err
	}
	if len(old) > 0 || len(out) > 0 {
		if err := m.syncRules(); err != nil {
			s.Ports = old
			if serr := m.saveSandbox(s); serr != nil {
				err = errors.Join(err, serr)
			}
			return nil, fmt.Errorf("sandbox %s: publish ports: %w", id, err)
		}
	}
	return slices.Clone(out), nil
}

// portReq is a validated PortMapping.
type portReq struct {
	hostIP        netip.Addr // zero = all
	lo, hi        uint16     // host port range; 0,0 = any
	containerPort uint16
	proto         string
}

func (r portReq) hostIPString() string {
	if r.hostIP.IsValid() {
		return r.hostIP.String()
	}
	return ""
}

func parseHostIP(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func parsePortMapping(id string, p PortMapping) (portReq, error) {
	r := portReq{proto: protocol(p.Protocol), containerPort: p.ContainerPort, lo: p.HostPort, hi: p.HostPort}
	what := fmt.Sprintf("sandbox %s: port %s:%d->%d/%s", id, p.HostIP, p.HostPort, p.ContainerPort, p.Protocol)
	if r.proto != "tcp" && r.proto != "udp" {
		return r, fmt.Errorf("%s: protocol %q not supported (tcp or udp): %w", what, p.Protocol, ErrInvalidArgument)
	}
	if p.ContainerPort == 0 {
		return r, fmt.Errorf("%s: container port missing: %w", what, ErrInvalidArgument)
	}
	if p.HostPortEnd != 0 {
		if p.HostPort == 0 || p.HostPortEnd < p.HostPort {
			return r, fmt.Errorf("%s: host port range %d-%d is empty: %w", what, p.HostPort, p.HostPortEnd, ErrInvalidArgument)
		}
		r.hi = p.HostPortEnd
	}
	switch p.HostIP {
	case "", "0.0.0.0":
	case "::":
		// Docker publishes on both families for "::"; berth is IPv4 only yet,
		// so this is the same as "all addresses".
	default:
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil {
			return r, fmt.Errorf("%s: host_ip %q is not an IP address: %w", what, p.HostIP, ErrInvalidArgument)
		}
		if !a.Is4() {
			return r, fmt.Errorf("%s: host_ip %s: IPv6 is not implemented yet: %w", what, a, ErrNotSupported)
		}
		r.hostIP = a
	}
	return r, nil
}

type takenPort struct {
	owner string
	proto string
	ip    netip.Addr // zero = all
	port  uint16
}

func (t takenPort) clashes(proto string, ip netip.Addr, port uint16) bool {
	return t.proto == proto && t.port == port && (!t.ip.IsValid() || !ip.IsValid() || t.ip == ip)
}

func berthOwner(taken []takenPort, proto string, ip netip.Addr, port uint16) string {
	for _, t := range taken {
		if t.clashes(proto, ip, port) {
			return t.owner
		}
	}
	return ""
}

// choosePort picks r's host port.
func (m *Manager) choosePort(id string, r portReq, prev []PortMapping, taken []takenPort) (uint16, error) {
	desc := func(port uint16) string {
		ip := "0.0.0.0"
		if r.hostIP.IsValid() {
			ip = r.hostIP.String()
		}
		return fmt.Sprintf("sandbox %s: host port %s:%d/%s (for container port %d)", id, ip, port, r.proto, r.containerPort)
	}
	try := func(port uint16) error {
		if o := berthOwner(taken, r.proto, r.hostIP, port); o != "" {
			if o == id {
				return fmt.Errorf("%s: published twice by this container: %w", desc(port), ErrPortInUse)
			}
			return fmt.Errorf("%s: already published by container %s: %w", desc(port), o, ErrPortInUse)
		}
		// Our own previous mapping of this port is a DNAT rule, not a
		// socket, so the bind test below stays meaningful.
		if err := m.dp.portFree(r.proto, r.hostIP, port); err != nil {
			return fmt.Errorf("%s: %w", desc(port), err)
		}
		return nil
	}
	switch {
	case r.lo != 0 && r.lo == r.hi:
		return r.lo, try(r.lo)
	case r.lo != 0:
		var first error
		for p := int(r.lo); p <= int(r.hi); p++ {
			err := try(uint16(p))
			if err == nil {
				return uint16(p), nil
			}
			if first == nil {
				first = err
			}
		}
		return 0, fmt.Errorf("sandbox %s: no free host port in %d-%d/%s: %w", id, r.lo, r.hi, r.proto, ErrPortInUse)
	}
	// Random: keep the port this sandbox had for the same mapping, so that
	// Publish is idempotent.
	for _, p := range prev {
		if protocol(p.Protocol) == r.proto && p.ContainerPort == r.containerPort && parseHostIP(p.HostIP) == r.hostIP {
			if try(p.HostPort) == nil {
				return p.HostPort, nil
			}
		}
	}
	for range 50 {
		port, err := m.dp.freePort(r.proto, r.hostIP)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", desc(0), err)
		}
		if berthOwner(taken, r.proto, r.hostIP, port) == "" {
			return port, nil
		}
	}
	return 0, fmt.Errorf("%s: no free port found: %w", desc(0), ErrPortInUse)
}
