package main

// Networking of single containers (`berth container run --network ...`):
// the flags, the netplug sandbox each container gets, its removal, and the
// network parts of inspect and port.
//
// Lifecycle of a container's sandbox:
//
//	run/create: lock ─▶ CreateSandbox ─▶ Attach (each network) ─▶ Publish ─▶ runtime Create ─▶ unlock ─▶ Start
//	            any failure before runtime Create succeeded: DeleteSandbox (nothing remains)
//	rm, run --rm (foreground) and a failed run --rm: runtime Remove, then DeleteSandbox
//	run -d --rm: the shim removes the container; the sandbox is collected by
//	            the next run/create/rm (collectSandboxes)
//
// The sandbox id is "ctr.<name>.<random>" and is recorded in the
// container's label berth.sandbox. The "ctr." prefix (a dot, which Compose
// project and service names cannot contain) keeps these sandboxes apart
// from the reconciler's, which are named after compose containers.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/spec"
)

const (
	// labelSandbox names the netplug sandbox of a single container.
	labelSandbox = "berth.sandbox"
	// sandboxPrefix starts the id of every single container's sandbox.
	sandboxPrefix = "ctr."
	// defaultNetwork is what a container joins without --network: Docker's
	// default network name, made on first use as a berth network.
	defaultNetwork = "bridge"
)

// netOptions are the network flags of run and create.
type netOptions struct {
	networks                          []string
	aliases                           []string
	ip, mac                           string
	publish                           []string
	publishAll                        bool
	addHosts, dns, dnsSearch, dnsOpts []string
}

func addNetFlags(c *cobra.Command, o *netOptions) {
	f := c.Flags()
	f.StringArrayVar(&o.networks, "network", nil, "connect to a network (repeatable): NAME (see berth network ls), none (only lo), host, or container:NAME (join its namespace). "+
		"Default: \"bridge\", berth's network of that name, made from the pool on first use as Docker's default bridge is, so that -p works without flags "+
		"(use --network none for a container without network)")
	f.StringArrayVar(&o.aliases, "network-alias", nil, "add a network-scoped alias (on every network of the container)")
	f.StringVar(&o.ip, "ip", "", "IPv4 address on the first network (e.g. 10.89.3.20)")
	f.StringVar(&o.mac, "mac-address", "", "MAC address on the first network (e.g. 02:42:ac:11:00:02)")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a container's port(s) on the host: [HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp]")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "publish every port the image exposes on a random host port")
	f.StringArrayVar(&o.addHosts, "add-host", nil, "add a line to /etc/hosts (HOST:IP, IP may be host-gateway)")
	f.StringArrayVar(&o.dns, "dns", nil, "set a DNS server")
	f.StringArrayVar(&o.dnsSearch, "dns-search", nil, "set a DNS search domain")
	f.StringArrayVar(&o.dnsOpts, "dns-option", nil, "set a DNS option")
	f.StringArrayVar(&o.dnsOpts, "dns-opt", nil, "set a DNS option")
	_ = f.MarkHidden("dns-opt")
}

// netPlan is the parsed network flags: what run/create must make.
type netPlan struct {
	mode      string   // netplug.ModeBridge (networks), ModeNone, ModeHost, ModeContainer
	target    string   // the container of ModeContainer
	networks  []string // ModeBridge: in priority order
	aliases   []string
	ip, mac   string
	ports     []netplug.PortMapping
	all       bool // -P
	sandbox   netplug.SandboxSpec
	hasFields []string // flags given that only a sandbox of its own can honour
}

// parseNetOptions checks the network flags without touching anything.
func parseNetOptions(o *netOptions) (netPlan, error) {
	p := netPlan{mode: netplug.ModeBridge, aliases: o.aliases, ip: o.ip, mac: o.mac, all: o.publishAll}
	nets := o.networks
	if len(nets) == 0 {
		nets = []string{defaultNetwork}
	}
	for _, n := range nets {
		var kind, target string
		switch {
		case n == netplug.ModeNone || n == netplug.ModeHost:
			kind = n
		case strings.HasPrefix(n, netplug.ModeContainer+":"):
			m, err := netplug.ParseNetworkMode(n)
			if err != nil {
				return p, fmt.Errorf("--network %q: want container:NAME", n)
			}
			kind, target = m.Kind, m.Target
		case strings.HasPrefix(n, netplug.ModeService+":"):
			return p, fmt.Errorf("--network %q: service: is for compose files; use container:NAME", n)
		default:
			p.networks = append(p.networks, n)
			continue
		}
		if len(nets) > 1 {
			return p, fmt.Errorf("--network %s cannot be combined with other networks", n)
		}
		p.mode, p.target = kind, target
	}
	if p.ip != "" {
		if a, err := netip.ParseAddr(p.ip); err != nil || !a.Is4() {
			return p, fmt.Errorf("--ip %q: not an IPv4 address", p.ip)
		}
	}
	for _, s := range o.publish {
		ms, err := spec.ParsePortSpec(s)
		if err != nil {
			return p, fmt.Errorf("-p: %w", err)
		}
		for _, m := range ms {
			pm := netplug.PortMapping{HostIP: m.HostIP, HostPort: m.Published.Start, ContainerPort: m.Target, Protocol: m.Protocol}
			if m.Published.End != m.Published.Start {
				pm.HostPortEnd = m.Published.End
			}
			p.ports = append(p.ports, pm)
		}
	}
	for _, h := range o.addHosts {
		// HOST:IP as Docker; HOST=IP as well (newer Docker), which also
		// leaves IPv6 addresses unambiguous.
		host, ip, ok := strings.Cut(h, "=")
		if !ok {
			host, ip, ok = strings.Cut(h, ":")
		}
		if !ok || host == "" || ip == "" {
			return p, fmt.Errorf("--add-host %q: want HOST:IP", h)
		}
		p.sandbox.ExtraHosts = append(p.sandbox.ExtraHosts, netplug.HostEntry{Host: host, IP: strings.Trim(ip, "[]")})
	}
	for _, d := range o.dns {
		if _, err := netip.ParseAddr(d); err != nil {
			return p, fmt.Errorf("--dns %q: not an IP address", d)
		}
	}
	p.sandbox.DNS, p.sandbox.DNSSearch, p.sandbox.DNSOptions = o.dns, o.dnsSearch, o.dnsOpts
	for flag, given := range map[string]bool{"--ip": o.ip != "", "--mac-address": o.mac != "", "--network-alias": len(o.aliases) > 0,
		"-p": len(o.publish) > 0, "-P": o.publishAll, "--add-host": len(o.addHosts) > 0, "--dns": len(o.dns) > 0,
		"--dns-search": len(o.dnsSearch) > 0, "--dns-option": len(o.dnsOpts) > 0} {
		if given {
			p.hasFields = append(p.hasFields, flag)
		}
	}
	slices.Sort(p.hasFields)
	switch p.mode {
	case netplug.ModeContainer:
		if len(p.hasFields) > 0 {
			return p, fmt.Errorf("conflicting options: %s cannot be used with --network container:%s (the container shares that one's network)", strings.Join(p.hasFields, ", "), p.target)
		}
	case netplug.ModeHost, netplug.ModeNone:
		for _, f := range p.hasFields {
			if f == "--ip" || f == "--mac-address" || f == "--network-alias" {
				return p, fmt.Errorf("conflicting options: %s needs a network, not --network %s", f, p.mode)
			}
		}
	}
	return p, nil
}

// openNetplug opens the network state under --root (openNetworks, which
// honours $BERTH_NETWORK_POOL).

// newSandboxID names the sandbox of a container that is about to be made.
func newSandboxID(name string) string {
	b := make([]byte, 8)
	rand.Read(b)
	if name == "" {
		return sandboxPrefix + hex.EncodeToString(b)
	}
	return sandboxPrefix + name + "." + hex.EncodeToString(b)
}

// setupNetwork prepares the network of a container before the runtime
// creates it: it fills s (namespace path, hosts and resolv.conf, the
// sandbox label) and returns the sandbox id ("" when the container has no
// sandbox of its own) and an undo that deletes the sandbox. The caller
// holds the container-network lock until the container exists.
func setupNetwork(ctx context.Context, warn io.Writer, nets *netplug.Manager, rt *runtime.Runtime, img *image.Image, p netPlan, s *runtime.Spec) (id string, err error) {
	switch p.mode {
	case netplug.ModeHost:
		if len(p.ports) > 0 || p.all {
			fmt.Fprintln(warn, "WARNING: Published ports are discarded when using host network mode")
		}
		s.Namespaces.Network = "host"
		return "", nil
	case netplug.ModeContainer:
		return "", joinContainer(ctx, nets, rt, p.target, s)
	}
	if s.Hostname == "" {
		// A name the hosts file can list: the container name, as the
		// reconciler does, else a random one (the runtime's default, the
		// short id, is not known before the container exists).
		s.Hostname = s.Name
		if s.Hostname == "" {
			b := make([]byte, 6)
			rand.Read(b)
			s.Hostname = hex.EncodeToString(b)
		}
	}
	ss := p.sandbox
	ss.Hostname, ss.Domainname = s.Hostname, s.Domainname
	sbID := newSandboxID(s.Name)
	id = sbID
	sb, err := nets.CreateSandbox(ctx, id, ss)
	if err != nil {
		return "", fmt.Errorf("network: %w", err)
	}
	defer func() {
		// sbID, not id: a `return "", err` has already cleared id.
		if err != nil {
			if derr := nets.DeleteSandbox(context.WithoutCancel(ctx), sbID); derr != nil {
				err = errors.Join(err, fmt.Errorf("clean up network sandbox %s: %w", sbID, derr))
			}
		}
	}()
	if p.mode == netplug.ModeNone {
		if len(p.ports) > 0 || p.all {
			fmt.Fprintln(warn, "WARNING: Published ports are discarded when using --network none")
		}
	} else {
		if err := attachNetworks(ctx, nets, id, s.Name, p); err != nil {
			return "", err
		}
		ports := slices.Clone(p.ports)
		if p.all && img != nil {
			ports = append(ports, exposedPorts(img.Config.ExposedPorts, ports)...)
		}
		if len(ports) > 0 {
			if _, err := nets.Publish(ctx, id, ports); err != nil {
				return "", fmt.Errorf("publish ports: %w", err)
			}
		}
	}
	s.Namespaces.Network, s.HostsPath, s.ResolvConfPath = sb.NetNSPath, sb.HostsPath, sb.ResolvConfPath
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[labelSandbox] = id
	return id, nil
}

// attachNetworks attaches sandbox id to p's networks; the first has the
// highest priority (default route), as with Docker's first --network.
func attachNetworks(ctx context.Context, nets *netplug.Manager, id, name string, p netPlan) error {
	for i, n := range p.networks {
		if n == defaultNetwork {
			if _, err := nets.EnsureNetwork(ctx, netplug.NetworkSpec{Name: defaultNetwork}); err != nil {
				return fmt.Errorf("default network %s: %w", defaultNetwork, err)
			}
		}
		ep := netplug.Endpoint{Network: n, Aliases: slices.Clone(p.aliases), Priority: len(p.networks) - i}
		if name != "" && !slices.Contains(ep.Aliases, name) {
			ep.Aliases = append([]string{name}, ep.Aliases...)
		}
		if i == 0 {
			ep.IPv4Address, ep.MacAddress = p.ip, p.mac
		}
		if _, err := nets.Attach(ctx, id, ep); err != nil {
			if errors.Is(err, netplug.ErrNotFound) {
				return fmt.Errorf("network %s not found (create it with `berth network create %s`): %w", n, n, err)
			}
			return fmt.Errorf("network %s: %w", n, err)
		}
	}
	return nil
}

// exposedPorts are the image's exposed ports that -p did not publish yet,
// each on a random host port (-P).
func exposedPorts(exposed []string, have []netplug.PortMapping) []netplug.PortMapping {
	var out []netplug.PortMapping
	for _, e := range exposed {
		ps, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			continue // a range or garbage in the image config: Docker skips it too
		}
		if slices.ContainsFunc(have, func(p netplug.PortMapping) bool {
			return p.ContainerPort == uint16(n) && (p.Protocol == proto || p.Protocol == "" && proto == "tcp")
		}) {
			continue
		}
		out = append(out, netplug.PortMapping{ContainerPort: uint16(n), Protocol: proto})
	}
	return out
}

// joinContainer points s at the network of container ref: its sandbox
// when it has one (it outlives the container's processes), else the
// namespace of its running process.
func joinContainer(ctx context.Context, nets *netplug.Manager, rt *runtime.Runtime, ref string, s *runtime.Spec) error {
	st, err := rt.Inspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("--network container:%s: %w", ref, err)
	}
	if id := sandboxOf(nets, st); id != "" {
		sb, err := nets.Sandbox(ctx, id)
		if err != nil {
			return fmt.Errorf("--network container:%s: %w", ref, err)
		}
		s.Namespaces.Network, s.HostsPath, s.ResolvConfPath = sb.NetNSPath, sb.HostsPath, sb.ResolvConfPath
		return nil
	}
	if st.Spec.Namespaces.Network == "host" {
		s.Namespaces.Network = "host"
		return nil
	}
	if st.Status != runtime.StatusRunning && st.Status != runtime.StatusPaused {
		return fmt.Errorf("--network container:%s: the container is not running (%s)", ref, st.Status)
	}
	s.Namespaces.Network = st.Namespaces["net"]
	return nil
}

// sandboxOf is the sandbox id of a container: its label, or (a compose
// container) the sandbox named after it whose namespace it joined.
func sandboxOf(nets *netplug.Manager, st *runtime.State) string {
	if id := st.Spec.Labels[labelSandbox]; id != "" {
		return id
	}
	if st.Spec.Namespaces.Network != "" && st.Spec.Namespaces.Network == nets.NetNSPath(st.Name) {
		return st.Name
	}
	return ""
}

// removeContainer removes a container and then its own sandbox.
func removeContainer(ctx context.Context, rt *runtime.Runtime, nets *netplug.Manager, ref string, force bool) error {
	st, err := rt.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if err := rt.Remove(ctx, st.ID, force); err != nil {
		return err
	}
	if id := st.Spec.Labels[labelSandbox]; id != "" && nets != nil {
		if err := nets.DeleteSandbox(context.WithoutCancel(ctx), id); err != nil && !errors.Is(err, netplug.ErrNotFound) {
			return fmt.Errorf("container %s: remove its network sandbox: %w", st.Name, err)
		}
	}
	return nil
}

// collectSandboxes deletes the sandboxes of single containers that no
// longer exist (a detached --rm container that its shim removed, a CLI
// killed between CreateSandbox and the runtime's Create). The caller holds
// the container-network lock, so no sandbox is half made.
func collectSandboxes(ctx context.Context, rt *runtime.Runtime, nets *netplug.Manager) error {
	sbs, err := nets.Sandboxes(ctx)
	if err != nil {
		return err
	}
	var mine []string
	for _, s := range sbs {
		if strings.HasPrefix(s.ID, sandboxPrefix) {
			mine = append(mine, s.ID)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	list, err := rt.List(ctx, nil)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, st := range list {
		used[st.Spec.Labels[labelSandbox]] = true
	}
	var errs []error
	for _, id := range mine {
		if !used[id] {
			if err := nets.DeleteSandbox(ctx, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// netLock serialises the making of single containers' sandboxes with
// collectSandboxes, across processes.
func netLock(g *globalOptions) (func(), error) {
	if err := os.MkdirAll(g.runDir(), 0o711); err != nil {
		return nil, err
	}
	return lockPath(filepath.Join(g.runDir(), "container-net.lock"))
}

// portBinding and endpointSettings are Docker's shapes in inspect.
type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type endpointSettings struct {
	Aliases     []string `json:"Aliases"`
	NetworkID   string   `json:"NetworkID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	MacAddress  string   `json:"MacAddress"`
	DNSNames    []string `json:"DNSNames"`
}

type networkSettings struct {
	SandboxID   string                       `json:"SandboxID"`
	SandboxKey  string                       `json:"SandboxKey"`
	Ports       map[string][]portBinding     `json:"Ports"`
	Gateway     string                       `json:"Gateway"`
	IPAddress   string                       `json:"IPAddress"`
	IPPrefixLen int                          `json:"IPPrefixLen"`
	MacAddress  string                       `json:"MacAddress"`
	Networks    map[string]*endpointSettings `json:"Networks"`
}

// inspectNetwork is the NetworkSettings of a container for inspect.
func inspectNetwork(ctx context.Context, nets *netplug.Manager, st *runtime.State) *networkSettings {
	ns := &networkSettings{Ports: map[string][]portBinding{}, Networks: map[string]*endpointSettings{}}
	switch n := st.Spec.Namespaces.Network; {
	case n == "host":
		ns.Networks["host"] = &endpointSettings{}
		return ns
	case n == "":
		ns.Networks["none"] = &endpointSettings{}
		return ns
	}
	id := sandboxOf(nets, st)
	if id == "" {
		ns.SandboxKey = st.Spec.Namespaces.Network // container:NAME
		return ns
	}
	sb, err := nets.Sandbox(ctx, id)
	if err != nil {
		return ns
	}
	ns.SandboxID, ns.SandboxKey = sb.ID, sb.NetNSPath
	if len(sb.Endpoints) == 0 {
		ns.Networks["none"] = &endpointSettings{}
	}
	for _, ep := range sb.Endpoints {
		es := &endpointSettings{Aliases: ep.Aliases, Gateway: addrString(ep.Gateway), IPAddress: addrString(ep.IPv4),
			IPPrefixLen: ep.PrefixLen, MacAddress: ep.MacAddress, DNSNames: append(slices.Clone(ep.Aliases), sb.Hostname)}
		if n, err := nets.InspectNetwork(ctx, ep.Network); err == nil {
			es.NetworkID = n.ID
		}
		ns.Networks[ep.Network] = es
		if ep.DefaultRoute || ns.IPAddress == "" {
			ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = es.Gateway, es.IPAddress, es.IPPrefixLen, es.MacAddress
		}
	}
	for _, p := range sb.Ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, portProto(p.Protocol))
		ns.Ports[key] = append(ns.Ports[key], portBinding{HostIP: hostIPOrAll(p.HostIP), HostPort: strconv.Itoa(int(p.HostPort))})
	}
	return ns
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func portProto(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

func hostIPOrAll(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// portLines renders published ports as `docker port` does: every
// mapping as "80/tcp -> 0.0.0.0:32768", or with filter ("80" or "80/udp")
// only the host side of the matching ones.
func portLines(ports []netplug.PortMapping, filter string) ([]string, error) {
	var want string
	if filter != "" {
		ps, proto, _ := strings.Cut(filter, "/")
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("invalid port %q", filter)
		}
		want = fmt.Sprintf("%d/%s", n, portProto(proto))
	}
	ports = slices.Clone(ports)
	slices.SortStableFunc(ports, func(a, b netplug.PortMapping) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		return strings.Compare(portProto(a.Protocol), portProto(b.Protocol))
	})
	var out []string
	for _, p := range ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, portProto(p.Protocol))
		host := fmt.Sprintf("%s:%d", hostIPOrAll(p.HostIP), p.HostPort)
		switch {
		case want == "":
			out = append(out, key+" -> "+host)
		case key == want:
			out = append(out, host)
		}
	}
	if want != "" && len(out) == 0 {
		return nil, fmt.Errorf("no public port '%s' published", want)
	}
	return out, nil
}

func containerPortCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, nets, err := g.openRuntimeNets()
			if err != nil {
				return berthErr(err)
			}
			st, err := rt.Inspect(cmd.Context(), args[0])
			if err != nil {
				return berthErr(err)
			}
			var ports []netplug.PortMapping
			if id := sandboxOf(nets, st); id != "" {
				if ports, err = nets.Ports(cmd.Context(), id); err != nil && !errors.Is(err, netplug.ErrNotFound) {
					return berthErr(err)
				}
			}
			filter := ""
			if len(args) == 2 {
				filter = args[1]
			}
			lines, err := portLines(ports, filter)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%w for %s", err, args[0])}
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return nil
		},
	}
}

// startContainer starts ref; a stopped container whose network sandbox a
// reboot took (its namespace, veths, bridge and rules are gone, its state
// is not) gets it back first, with the same addresses and host ports.
func startContainer(ctx context.Context, g *globalOptions, rt *runtime.Runtime, ref string) error {
	st, err := rt.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if id := st.Spec.Labels[labelSandbox]; id != "" && st.Status != runtime.StatusRunning && st.Status != runtime.StatusPaused {
		nets, err := g.openNetworks()
		if err != nil {
			return err
		}
		unlock, err := netLock(g)
		if err != nil {
			return err
		}
		_, err = nets.ReviveSandbox(ctx, id)
		unlock()
		if err != nil {
			return fmt.Errorf("container %s: %w", st.Name, err)
		}
	}
	return rt.Start(ctx, st.ID)
}
