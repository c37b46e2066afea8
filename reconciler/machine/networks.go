package machine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
)

// LabelNetwork is Compose's label naming a network's key in the manifest.
const LabelNetwork = "com.docker.compose.network"

// Networks adapts *netplug.Manager.
type Networks struct{ M *netplug.Manager }

var _ reconciler.Networks = Networks{}

// NetworkSpec converts a project network.
func NetworkSpec(project string, n spec.Network) (netplug.NetworkSpec, error) {
	ns := netplug.NetworkSpec{Name: n.Name, Internal: n.Internal, External: n.External, EnableIPv6: n.EnableIPv6}
	if !n.External {
		ns.Labels = maps.Clone(n.Labels)
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[reconciler.LabelProject] = project
		ns.Labels[LabelNetwork] = n.Key
	}
	if len(n.IPAM.Config) > 1 {
		return ns, fmt.Errorf("network %s: ipam.config: only one subnet is supported: %w", n.Key, reconciler.ErrInvalidArgument)
	}
	if len(n.IPAM.Config) == 1 {
		c := n.IPAM.Config[0]
		ns.Subnet, ns.Gateway, ns.IPRange = c.Subnet, c.Gateway, c.IPRange
	}
	if mtu := n.DriverOpts["com.docker.network.driver.mtu"]; mtu != "" {
		v, err := strconv.Atoi(mtu)
		if err != nil {
			return ns, fmt.Errorf("network %s: driver_opts com.docker.network.driver.mtu %q: %w", n.Key, mtu, reconciler.ErrInvalidArgument)
		}
		ns.MTU = v
	}
	return ns, nil
}

func (a Networks) EnsureNetwork(ctx context.Context, project string, n spec.Network) error {
	ns, err := NetworkSpec(project, n)
	if err != nil {
		return err
	}
	_, err = a.M.EnsureNetwork(ctx, ns)
	return err
}

func (a Networks) RemoveNetwork(ctx context.Context, name string) error {
	err := a.M.RemoveNetwork(ctx, name)
	if errors.Is(err, netplug.ErrNotFound) {
		return nil
	}
	return err
}

func (a Networks) ListNetworks(ctx context.Context, project string) ([]string, error) {
	ns, err := a.M.ListNetworks(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range ns {
		if n.Labels[reconciler.LabelProject] == project {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

// EnsureSandbox creates the sandbox (idempotent in netplug), attaches the
// networks it is not yet on, and publishes its ports. A sandbox this call
// made is deleted again when a later step fails.
func (a Networks) EnsureSandbox(ctx context.Context, id string, r reconciler.SandboxRequest) (_ reconciler.Sandbox, err error) {
	_, getErr := a.M.Sandbox(ctx, id)
	fresh := errors.Is(getErr, netplug.ErrNotFound)
	ss := netplug.SandboxSpec{Hostname: r.Hostname, Domainname: r.Domainname, DNS: r.DNS, DNSSearch: r.DNSSearch, DNSOptions: r.DNSOptions}
	for _, h := range r.ExtraHosts {
		ss.ExtraHosts = append(ss.ExtraHosts, netplug.HostEntry{Host: h.Host, IP: h.IP})
	}
	sb, err := a.M.CreateSandbox(ctx, id, ss)
	if err != nil {
		return reconciler.Sandbox{}, err
	}
	defer func() {
		if err != nil && fresh {
			a.M.DeleteSandbox(context.WithoutCancel(ctx), id)
		}
	}()
	on := map[string]bool{}
	for _, e := range sb.Endpoints {
		on[e.Network] = true
	}
	for _, e := range r.Endpoints {
		if on[e.Network] {
			continue
		}
		if _, err := a.M.Attach(ctx, id, netplug.Endpoint{Network: e.Network, Aliases: validAliases(e.Aliases), IPv4Address: e.IPv4Address, MacAddress: e.MacAddress, Priority: e.Priority}); err != nil {
			return reconciler.Sandbox{}, err
		}
	}
	out := reconciler.Sandbox{NetNSPath: sb.NetNSPath, HostsPath: sb.HostsPath, ResolvConfPath: sb.ResolvConfPath}
	if len(r.Ports) > 0 {
		var ports []netplug.PortMapping
		for _, p := range r.Ports {
			ports = append(ports, netplug.PortMapping{HostIP: p.HostIP, HostPort: p.Published.Start, HostPortEnd: p.Published.End, ContainerPort: p.Target, Protocol: p.Protocol})
		}
		got, err := a.M.Publish(ctx, id, ports)
		if err != nil {
			return reconciler.Sandbox{}, err
		}
		for _, p := range got {
			out.Ports = append(out.Ports, reconciler.PublishedPort{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
		}
	}
	return out, nil
}

// validAliases drops duplicates; netplug checks each one's syntax.
func validAliases(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range in {
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	return out
}

func (a Networks) DeleteSandbox(ctx context.Context, id string) error {
	err := a.M.DeleteSandbox(ctx, id)
	if errors.Is(err, netplug.ErrNotFound) {
		return nil
	}
	return err
}

func (a Networks) DeleteSandboxes(ctx context.Context, ids []string) error {
	err := a.M.DeleteSandboxes(ctx, ids)
	if errors.Is(err, netplug.ErrNotFound) {
		return nil
	}
	return err
}

func (a Networks) ReleaseNetNS(ctx context.Context, id string) error {
	return a.M.ReleaseNetNS(ctx, id)
}

func (a Networks) Teardown(ctx context.Context, sandboxes, networks []string) (map[string]error, error) {
	return a.M.Teardown(ctx, sandboxes, networks)
}

// ListSandboxes returns the sandboxes named like the project's containers
// whose endpoints are all on the project's networks. (The reconciler also
// records the sandboxes it makes in the project state dir; this catches
// the rest.)
func (a Networks) ListSandboxes(ctx context.Context, project string) ([]string, error) {
	nets, err := a.ListNetworks(ctx, project)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, n := range nets {
		mine[n] = true
	}
	sbs, err := a.M.Sandboxes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sbs {
		if !strings.HasPrefix(s.ID, project+"-") {
			continue
		}
		ok := true
		for _, e := range s.Endpoints {
			if !mine[e.Network] {
				ok = false
			}
		}
		if ok {
			out = append(out, s.ID)
		}
	}
	return out, nil
}

// Ports returns the published ports of sandbox id (ps, port).
func (a Networks) Ports(ctx context.Context, id string) ([]reconciler.PublishedPort, error) {
	ps, err := a.M.Ports(ctx, id)
	if errors.Is(err, netplug.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []reconciler.PublishedPort
	for _, p := range ps {
		out = append(out, reconciler.PublishedPort{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return out, nil
}

// ReleasePorts unpublishes the sandbox's ports (netplug.Publish with none).
func (a Networks) ReleasePorts(ctx context.Context, id string) error {
	if _, err := a.M.Publish(ctx, id, nil); err != nil && !errors.Is(err, netplug.ErrNotFound) {
		return err
	}
	return nil
}
