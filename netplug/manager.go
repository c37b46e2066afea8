package netplug

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Manager owns berth's networks and sandboxes. Changes take flocks under
// Root (see lock below), so several berth processes (and goroutines) may
// use one root at once, and sandboxes are built in parallel. A Manager holds no state in memory: every call reads the
// state files, so a killed process loses nothing.
type Manager struct {
	opts  Options
	log   *slog.Logger
	dp    dataplane
	hosts hostsBatch
}

// New returns a Manager for opts. It creates Root but touches no kernel
// object.
func New(opts Options) (*Manager, error) {
	return newManager(opts, nil)
}

func newManager(opts Options, dp dataplane) (*Manager, error) {
	if opts.Root == "" || opts.RunDir == "" {
		return nil, fmt.Errorf("netplug: Root and RunDir must be set: %w", ErrInvalidArgument)
	}
	if len(opts.Pool) == 0 {
		opts.Pool = DefaultPool
	}
	if opts.PoolBits == 0 {
		opts.PoolBits = 24
	}
	for _, p := range opts.Pool {
		if !p.Addr().Is4() || p.Bits() > opts.PoolBits || opts.PoolBits > 30 {
			return nil, fmt.Errorf("netplug: pool %s cannot be carved into /%d IPv4 subnets: %w", p, opts.PoolBits, ErrInvalidArgument)
		}
	}
	if opts.Table == "" {
		opts.Table = DefaultTable(opts.Root)
	}
	if opts.HostResolvConf == "" {
		opts.HostResolvConf = "/etc/resolv.conf"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("netplug: %w", err)
	}
	m := &Manager{opts: opts, log: opts.Logger}
	if dp == nil {
		dp = newDataplane(m)
	}
	m.dp = dp
	return m, nil
}

// DefaultTable is the nftables table of the state in root: "berth" for the
// default root, else "berth_" and a hash of root, so that several roots on
// one host (tests, a second installation) never rewrite each other's rules.
func DefaultTable(root string) string {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	if filepath.Clean(root) == "/var/lib/berth/networks" {
		return "berth"
	}
	return "berth_" + shortHash(filepath.Clean(root))[:8]
}

// Locks (flocks, so they hold across processes and goroutines alike), in
// the order they are taken:
//
//  1. <Root>/.lock: exclusive for changes to networks (create, repair,
//     remove, prune, stale-sandbox sweep); shared for changes to one
//     sandbox, so that sandboxes are built in parallel while no network
//     they use can change or go away.
//  2. <Root>/.locks/sb-<n>: exclusive per sandbox (striped by a hash of
//     its id, so the lock files stay few): one change to a sandbox at a
//     time (a batch takes its files in order). The slow kernel work —
//     namespace creation, veth moves (≈ 17 ms each, KERNEL-NOTES §4),
//     waiting for veths to go — runs under this lock only, so it overlaps
//     between sandboxes.
//  3. <Root>/.derived.lock: exclusive around what is derived from every
//     sandbox's state: hosts files, the nftables table and the choice of
//     published host ports. Short.
//
// IPAM leases have their own lock per network (DiskStore), taken last.

// lock takes lock 1 exclusively: for changes to networks.
func (m *Manager) lock() (func(), error) {
	f, err := flock(filepath.Join(m.opts.Root, ".lock"))
	if err != nil {
		return nil, err
	}
	return func() { funlock(f) }, nil
}

// sandboxStripes is the number of per-sandbox lock files.
const sandboxStripes = 64

// lockSandbox takes lock 1 shared and sandbox id's lock 2.
func (m *Manager) lockSandbox(id string) (func(), error) {
	return m.lockSandboxes([]string{id})
}

// lockSandboxes takes lock 1 shared and the lock 2 of each of ids, in the
// order of the lock files (a single sandbox's holder never waits for a
// second one, so the order is all that a batch needs).
func (m *Manager) lockSandboxes(ids []string) (func(), error) {
	g, err := flockShared(filepath.Join(m.opts.Root, ".lock"))
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.opts.Root, ".locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		funlock(g)
		return nil, fmt.Errorf("netplug: %w", err)
	}
	var stripes []uint32
	for _, id := range ids {
		stripes = append(stripes, sandboxStripe(id))
	}
	var held []*os.File
	release := func() {
		for _, f := range slices.Backward(held) {
			funlock(f)
		}
		funlock(g)
	}
	for _, n := range slices.Compact(slices.Sorted(slices.Values(stripes))) {
		f, err := flock(filepath.Join(dir, fmt.Sprintf("sb-%02d", n)))
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, f)
	}
	return release, nil
}

// sandboxStripe is the number of sandbox id's lock 2 file.
func sandboxStripe(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32() % sandboxStripes
}

// lockDerived takes lock 3.
func (m *Manager) lockDerived() (func(), error) {
	f, err := flock(filepath.Join(m.opts.Root, ".derived.lock"))
	if err != nil {
		return nil, err
	}
	return func() { funlock(f) }, nil
}

// withDerived runs fn under lock 3.
func (m *Manager) withDerived(fn func() error) error {
	unlock, err := m.lockDerived()
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// ---------------------------------------------------------------- networks

// EnsureNetwork makes the network exist and returns it. An existing network
// is repaired (bridge, address, rules) and returned; it is an error
// (ErrAlreadyExists) if spec names a different subnet, gateway or ip range
// than it has. External networks are only looked up.
func (m *Manager) EnsureNetwork(ctx context.Context, spec NetworkSpec) (*Network, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("network", spec.Name); err != nil {
		return nil, err
	}
	if spec.EnableIPv6 {
		return nil, fmt.Errorf("network %s: enable_ipv6: IPv6 is not implemented yet: %w", spec.Name, ErrNotSupported)
	}
	want, err := parseNetworkSpec(spec)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	n, err := m.loadNetwork(spec.Name)
	switch {
	case err == nil:
		if err := want.matches(&n.Network); err != nil {
			return nil, err
		}
		if err := m.realizeNetwork(n); err != nil {
			return nil, err
		}
		return m.withEndpoints(&n.Network)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	case spec.External:
		return nil, fmt.Errorf("network %s is declared as external, but could not be found (create it with `berth network create %s`): %w", spec.Name, spec.Name, ErrNotFound)
	}

	nets, err := m.loadNetworks()
	if err != nil {
		return nil, err
	}
	routes, err := m.dp.routes()
	if err != nil {
		return nil, fmt.Errorf("network %s: list host routes: %w", spec.Name, err)
	}
	subnet := want.subnet
	if subnet.IsValid() {
		if err := checkOverlap(spec.Name, subnet, nets, routes); err != nil {
			return nil, err
		}
	} else if subnet, err = m.pickSubnet(spec.Name, nets, routes); err != nil {
		return nil, err
	}
	gw := want.gateway
	if !gw.IsValid() {
		gw = firstHost(subnet)
	}
	id := randomID()
	n = &networkState{Network: Network{
		Name: spec.Name, ID: id, Bridge: bridgeName(id),
		Subnet: subnet, Gateway: gw, IPRange: want.ipRange,
		Internal: spec.Internal, MTU: spec.MTU, Labels: spec.Labels,
		Created: time.Now().UTC().Truncate(time.Second),
	}}
	// State first: a crash after it leaves a record that the next
	// EnsureNetwork repairs or RemoveNetwork removes; never a bridge that
	// nothing knows about.
	if err := m.saveNetwork(n); err != nil {
		return nil, fmt.Errorf("network %s: %w", spec.Name, err)
	}
	if err := m.realizeNetwork(n); err != nil {
		derr := m.dp.deleteBridge(n.Bridge)
		os.RemoveAll(m.networkDir(n.Name))
		if serr := m.withDerived(m.syncRules); derr == nil {
			derr = serr
		}
		if derr != nil {
			m.log.Info("cleanup after failed network creation", "network", spec.Name, "err", derr)
		}
		return nil, err
	}
	m.log.Info("network created", "network", n.Name, "bridge", n.Bridge, "subnet", n.Subnet, "internal", n.Internal)
	return m.withEndpoints(&n.Network)
}

// realizeNetwork brings the kernel in line with n's state.
func (m *Manager) realizeNetwork(n *networkState) error {
	if err := m.dp.ensureBridge(&n.Network); err != nil {
		return fmt.Errorf("network %s: bridge %s: %w", n.Name, n.Bridge, err)
	}
	if !n.Internal {
		changed, err := m.dp.enableForwarding()
		if err != nil {
			return fmt.Errorf("network %s: enable IPv4 forwarding for outbound NAT: %w", n.Name, err)
		}
		if changed {
			m.log.Info("enabled net.ipv4.ip_forward for outbound NAT of berth networks", "network", n.Name)
		}
	}
	return m.withDerived(m.syncRules)
}

// networkWant is a parsed NetworkSpec.
type networkWant struct {
	name            string
	external        bool
	internal        bool
	mtu             int
	subnet, ipRange netip.Prefix
	gateway         netip.Addr
}

func parseNetworkSpec(spec NetworkSpec) (networkWant, error) {
	w := networkWant{name: spec.Name, external: spec.External, internal: spec.Internal, mtu: spec.MTU}
	bad := func(what, val string, why string) error {
		return fmt.Errorf("network %s: %s %q: %s: %w", spec.Name, what, val, why, ErrInvalidArgument)
	}
	if spec.MTU != 0 && (spec.MTU < 68 || spec.MTU > 65535) {
		return w, bad("mtu", fmt.Sprint(spec.MTU), "must be between 68 and 65535")
	}
	if spec.Subnet == "" {
		if spec.Gateway != "" || spec.IPRange != "" {
			return w, fmt.Errorf("network %s: gateway and ip_range need a subnet: %w", spec.Name, ErrInvalidArgument)
		}
		return w, nil
	}
	p, err := netip.ParsePrefix(spec.Subnet)
	if err != nil {
		return w, bad("subnet", spec.Subnet, "not an address/prefix")
	}
	if !p.Addr().Is4() {
		return w, fmt.Errorf("network %s: subnet %s: only IPv4 subnets are supported: %w", spec.Name, p, ErrNotSupported)
	}
	if p != p.Masked() {
		return w, bad("subnet", spec.Subnet, fmt.Sprintf("has host bits set (did you mean %s?)", p.Masked()))
	}
	if p.Bits() > 30 {
		return w, bad("subnet", spec.Subnet, "too small (at most /30)")
	}
	w.subnet = p
	network, bcast := span(p)
	if spec.Gateway != "" {
		g, err := netip.ParseAddr(spec.Gateway)
		if err != nil || !g.Is4() {
			return w, bad("gateway", spec.Gateway, "not an IPv4 address")
		}
		if !p.Contains(g) {
			return w, bad("gateway", spec.Gateway, "outside the subnet "+p.String())
		}
		if g == network || g == bcast {
			return w, bad("gateway", spec.Gateway, "is the network or broadcast address")
		}
		w.gateway = g
	}
	if spec.IPRange != "" {
		r, err := netip.ParsePrefix(spec.IPRange)
		if err != nil || !r.Addr().Is4() || r != r.Masked() {
			return w, bad("ip_range", spec.IPRange, "not an IPv4 prefix without host bits")
		}
		if r.Bits() < p.Bits() || !p.Contains(r.Addr()) {
			return w, bad("ip_range", spec.IPRange, "not inside the subnet "+p.String())
		}
		w.ipRange = r
	}
	return w, nil
}

// matches checks an existing network against an explicit request.
func (w networkWant) matches(n *Network) error {
	conflict := func(what string, have, want any) error {
		return fmt.Errorf("network %s exists with %s %v, not %v (remove it first): %w", w.name, what, have, want, ErrAlreadyExists)
	}
	if w.subnet.IsValid() && w.subnet != n.Subnet {
		return conflict("subnet", n.Subnet, w.subnet)
	}
	if w.gateway.IsValid() && w.gateway != n.Gateway {
		return conflict("gateway", n.Gateway, w.gateway)
	}
	if w.ipRange.IsValid() && w.ipRange != n.IPRange {
		return conflict("ip_range", n.IPRange, w.ipRange)
	}
	if !w.external && w.internal != n.Internal {
		return conflict("internal", n.Internal, w.internal)
	}
	if w.mtu != 0 && w.mtu != n.MTU {
		return conflict("mtu", n.MTU, w.mtu)
	}
	return nil
}

func checkOverlap(name string, p netip.Prefix, nets []*networkState, routes []netip.Prefix) error {
	for _, n := range nets {
		if n.Subnet.Overlaps(p) {
			return fmt.Errorf("network %s: subnet %s overlaps subnet %s of network %s: %w", name, p, n.Subnet, n.Name, ErrInvalidArgument)
		}
	}
	for _, r := range routes {
		if r.Bits() > 0 && r.Overlaps(p) {
			return fmt.Errorf("network %s: subnet %s overlaps %s, routed on the host: %w", name, p, r, ErrInvalidArgument)
		}
	}
	return nil
}

// pickSubnet carves the first free subnet out of the pool.
func (m *Manager) pickSubnet(name string, nets []*networkState, routes []netip.Prefix) (netip.Prefix, error) {
	for _, pool := range m.opts.Pool {
		pool = pool.Masked()
		step := uint32(1) << (32 - m.opts.PoolBits)
		count := uint32(1) << (m.opts.PoolBits - pool.Bits())
		base := pool.Addr().As4()
		v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
		for i := uint32(0); i < count; i++ {
			a := v + i*step
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), m.opts.PoolBits)
			if checkOverlap(name, p, nets, routes) == nil {
				return p, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("network %s: no free /%d subnet left in the pool %v: %w", name, m.opts.PoolBits, m.opts.Pool, ErrInUse)
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// withEndpoints copies n and fills its endpoints from the sandboxes.
func (m *Manager) withEndpoints(n *Network) (*Network, error) {
	sbs, err := m.loadSandboxes()
	if err != nil {
		return nil, err
	}
	out := *n
	out.Endpoints = []EndpointInfo{}
	for _, s := range sbs {
		if ep := s.endpoint(n.Name); ep != nil {
			out.Endpoints = append(out.Endpoints, *ep)
		}
	}
	return &out, nil
}

// RemoveNetwork removes a network and its bridge. It refuses (ErrInUse)
// while sandboxes are attached; a missing network is ErrNotFound.
func (m *Manager) RemoveNetwork(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName("network", name); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.removeNetworkLocked(name)
}

func (m *Manager) removeNetworkLocked(name string) error {
	n, err := m.loadNetwork(name)
	if err != nil {
		return err
	}
	sbs, err := m.loadSandboxes()
	if err != nil {
		return err
	}
	var users []string
	for _, s := range sbs {
		if s.endpoint(name) != nil {
			users = append(users, s.ID)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("network %s has active endpoints (%s): %w", name, strings.Join(users, ", "), ErrInUse)
	}
	// Kernel first, state last: a crash in between leaves state that the
	// next RemoveNetwork finishes.
	if err := m.dp.deleteBridge(n.Bridge); err != nil {
		return fmt.Errorf("network %s: delete bridge %s: %w", name, n.Bridge, err)
	}
	if err := os.Rename(m.networkFile(name), m.networkFile(name)+".removed"); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if err := m.withDerived(m.syncRules); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if err := os.RemoveAll(m.networkDir(name)); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	m.log.Info("network removed", "network", name)
	return nil
}

// ListNetworks returns every network with its endpoints, sorted by name.
func (m *Manager) ListNetworks(ctx context.Context) ([]Network, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nets, err := m.loadNetworks()
	if err != nil {
		return nil, err
	}
	out := make([]Network, 0, len(nets))
	for _, n := range nets {
		full, err := m.withEndpoints(&n.Network)
		if err != nil {
			return nil, err
		}
		out = append(out, *full)
	}
	return out, nil
}

// InspectNetwork returns one network with its endpoints.
func (m *Manager) InspectNetwork(ctx context.Context, name string) (*Network, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("network", name); err != nil {
		return nil, err
	}
	n, err := m.loadNetwork(name)
	if err != nil {
		return nil, err
	}
	return m.withEndpoints(&n.Network)
}

// PruneNetworks removes every network without endpoints whose labels
// include all of labels, and returns their names.
func (m *Manager) PruneNetworks(ctx context.Context, labels map[string]string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.loadNetworks()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range nets {
		if !hasLabels(n.Labels, labels) {
			continue
		}
		err := m.removeNetworkLocked(n.Name)
		if errors.Is(err, ErrInUse) {
			continue
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, n.Name)
	}
	return removed, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || (v != "" && hv != v) {
			return false
		}
	}
	return true
}

// syncRules rewrites the nftables table from state. Callers hold lock 3.
func (m *Manager) syncRules() error {
	nets, err := m.loadNetworks()
	if err != nil {
		return err
	}
	sbs, err := m.loadSandboxes()
	if err != nil {
		return err
	}
	if err := m.dp.syncRules(buildRuleset(m.opts.Table, nets, sbs)); err != nil {
		return fmt.Errorf("nftables table %s: %w", m.opts.Table, err)
	}
	return nil
}

// --------------------------------------------------------------- sandboxes

// CreateSandbox makes the network namespace of container id (bind-mounted
// at NetNSPath(id), lo up, no other interface) and its hosts and
// resolv.conf files. Calling it again for a live sandbox updates the files
// from spec and returns it; a sandbox whose namespace is gone (a reboot)
// is cleaned up and made anew.
func (m *Manager) CreateSandbox(ctx context.Context, id string, spec SandboxSpec) (*Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("sandbox", id); err != nil {
		return nil, err
	}
	if err := checkSandboxSpec(id, spec); err != nil {
		return nil, err
	}
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s, err := m.loadSandbox(id)
	switch {
	case err == nil && m.dp.netnsAlive(s.NetNSPath):
		s.Spec = spec
		if err := m.saveSandbox(s); err != nil {
			return nil, err
		}
		if err := m.writeFiles(s); err != nil {
			return nil, err
		}
		pub := s.public()
		return &pub, nil
	case err == nil:
		m.log.Info("sandbox namespace is gone (reboot?), recreating it", "container", id)
		if err := m.deleteSandboxLocked(id); err != nil {
			return nil, err
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}

	dir := m.filesDir(id)
	s = &sandboxState{
		ID: id, Spec: spec,
		NetNSPath:      m.NetNSPath(id),
		HostsPath:      filepath.Join(dir, "hosts"),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		Endpoints:      []EndpointInfo{},
		Ports:          []PortMapping{},
		Created:        time.Now().UTC(),
	}
	ok := false
	defer func() {
		if !ok {
			if err := m.deleteSandboxLocked(id); err != nil {
				m.log.Info("cleanup after failed sandbox creation", "container", id, "err", err)
			}
		}
	}()
	if err := m.saveSandbox(s); err != nil {
		return nil, err
	}
	// Under lock 3: the shared self-bind of the netns dir is made by the
	// first sandbox and undone by the last one's deletion.
	if err := m.withDerived(func() error { return m.dp.createNetNS(s.NetNSPath) }); err != nil {
		return nil, fmt.Errorf("sandbox %s: network namespace: %w", id, err)
	}
	if err := m.writeFiles(s); err != nil {
		return nil, err
	}
	ok = true
	pub := s.public()
	return &pub, nil
}

func checkSandboxSpec(id string, spec SandboxSpec) error {
	what := "sandbox " + id + ": "
	if spec.Hostname != "" {
		if err := checkHostname(what+"hostname", spec.Hostname); err != nil {
			return err
		}
	}
	if spec.Domainname != "" {
		if err := checkHostname(what+"domainname", spec.Domainname); err != nil {
			return err
		}
	}
	for _, h := range spec.ExtraHosts {
		if err := checkHostname(what+"extra_hosts", h.Host); err != nil {
			return err
		}
		if _, err := netip.ParseAddr(h.IP); err != nil && h.IP != "host-gateway" {
			return fmt.Errorf("%sextra_hosts %s: %q is not an IP address or host-gateway: %w", what, h.Host, h.IP, ErrInvalidArgument)
		}
	}
	for _, d := range spec.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("%sdns: %q is not an IP address: %w", what, d, ErrInvalidArgument)
		}
	}
	for _, o := range append(slices.Clone(spec.DNSSearch), spec.DNSOptions...) {
		if o == "" || strings.ContainsAny(o, " \t\n") {
			return fmt.Errorf("%sdns_search/dns_opt: %q must be one word: %w", what, o, ErrInvalidArgument)
		}
	}
	return nil
}

// writeFiles writes s's resolv.conf and the hosts files of s and of every
// sandbox sharing a network with it.
func (m *Manager) writeFiles(s *sandboxState) error {
	host, err := m.hostResolvConf()
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", s.ID, err)
	}
	rc, usedDefault := renderResolvConf(host, s.Spec)
	if usedDefault {
		m.log.Info("host has only loopback nameservers; containers use public resolvers", "container", s.ID, "nameservers", defaultNameservers)
	}
	if err := writeInPlace(s.ResolvConfPath, rc); err != nil {
		return fmt.Errorf("sandbox %s: %w", s.ID, err)
	}
	return m.refreshHosts()
}

// rewriteHosts rewrites the hosts file of every sandbox in all that is on
// one of nets (what deleting sandboxes changes). Callers hold lock 3 and
// loaded all under it.
func (m *Manager) rewriteHosts(all []*sandboxState, nets []string) error {
	var errs []error
	for _, s := range all {
		if !slices.ContainsFunc(s.Endpoints, func(ep EndpointInfo) bool { return slices.Contains(nets, ep.Network) }) {
			continue
		}
		if err := writeInPlace(s.HostsPath, renderHosts(s, all)); err != nil {
			errs = append(errs, fmt.Errorf("sandbox %s: hosts file: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

// writeInPlace truncates and writes path without replacing the inode: the
// file is bind-mounted into a running container and a rename would leave
// the container looking at the old one.
func writeInPlace(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hostResolvConf reads the host's resolver configuration; when it names
// only loopback servers (systemd-resolved's 127.0.0.53), the upstream list
// of systemd-resolved is used instead when present.
func (m *Manager) hostResolvConf() (resolvConf, error) {
	b, err := os.ReadFile(m.opts.HostResolvConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return resolvConf{}, fmt.Errorf("read host resolv.conf: %w", err)
	}
	rc := parseResolvConf(b)
	if onlyLoopback(rc) {
		if b2, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			up := parseResolvConf(b2)
			if len(rc.Search) > 0 {
				up.Search = rc.Search
			}
			rc = up
		}
	}
	return rc, nil
}

// Attach connects sandbox id to a network: a veth pair whose container end
// is the next free ethN, an address from the network's IPAM, the default
// route when this is the highest-priority non-internal network so far, and
// hosts files rewritten for every peer. On error nothing of the attachment
// remains.
func (m *Manager) Attach(ctx context.Context, id string, ep Endpoint) (*EndpointInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("sandbox", id); err != nil {
		return nil, err
	}
	if err := checkName("network", ep.Network); err != nil {
		return nil, err
	}
	for _, a := range ep.Aliases {
		if err := checkHostname("sandbox "+id+": network "+ep.Network+": alias", a); err != nil {
			return nil, err
		}
	}
	var want netip.Addr
	if ep.IPv4Address != "" {
		a, err := netip.ParseAddr(ep.IPv4Address)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("sandbox %s: network %s: ipv4_address %q is not an IPv4 address: %w", id, ep.Network, ep.IPv4Address, ErrInvalidArgument)
		}
		want = a
	}
	var mac string
	if ep.MacAddress != "" {
		hw, err := net.ParseMAC(ep.MacAddress)
		if err != nil || len(hw) != 6 || hw[0]&1 == 1 {
			return nil, fmt.Errorf("sandbox %s: network %s: mac_address %q is not a unicast Ethernet address: %w", id, ep.Network, ep.MacAddress, ErrInvalidArgument)
		}
		mac = hw.String()
	}
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s, err := m.loadSandbox(id)
	if err != nil {
		return nil, err
	}
	n, err := m.loadNetwork(ep.Network)
	if err != nil {
		return nil, err
	}
	if s.endpoint(n.Name) != nil {
		return nil, fmt.Errorf("sandbox %s is already attached to network %s: %w", id, n.Name, ErrAlreadyExists)
	}
	store, err := NewDiskStore(m.leaseDir(n.Name))
	if err != nil {
		return nil, err
	}
	alloc := &Allocator{Network: n.Name, Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway, Store: store}
	ip, err := alloc.Allocate(id, want)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	info := EndpointInfo{
		Sandbox: id, Network: n.Name, Interface: nextInterface(s), HostVeth: vethName(id, n.ID),
		IPv4: ip, PrefixLen: n.Subnet.Bits(), Gateway: n.Gateway, MacAddress: mac,
		Aliases: slices.Clone(ep.Aliases), Priority: ep.Priority,
	}
	ok := false
	defer func() {
		if ok {
			return
		}
		if err := m.dp.deleteLink(info.HostVeth); err != nil {
			m.log.Info("cleanup after failed attach", "container", id, "network", n.Name, "err", err)
		}
		if err := alloc.Release(id); err != nil {
			m.log.Info("cleanup after failed attach", "container", id, "network", n.Name, "err", err)
		}
	}()
	if err := m.dp.ensureBridge(&n.Network); err != nil {
		return nil, fmt.Errorf("network %s: bridge %s: %w", n.Name, n.Bridge, err)
	}
	if err := m.dp.addEndpoint(s.NetNSPath, &n.Network, &info); err != nil {
		return nil, fmt.Errorf("attach sandbox %s to network %s: %w", id, n.Name, err)
	}
	cur := s.defaultEndpoint()
	moveDefault := !n.Internal && (cur == nil || info.Priority > cur.Priority)
	if moveDefault {
		if err := m.dp.setDefaultRoute(s.NetNSPath, &info); err != nil {
			return nil, fmt.Errorf("attach sandbox %s to network %s: default route: %w", id, n.Name, err)
		}
		if cur != nil {
			cur.DefaultRoute = false
		}
		info.DefaultRoute = true
	}
	s.Endpoints = append(s.Endpoints, info)
	if err := m.saveSandbox(s); err != nil {
		return nil, err
	}
	ok = true
	// From here the attachment stands; the rest is derived and repaired by
	// the next change.
	err = m.refreshHosts()
	if err == nil && moveDefault && len(s.Ports) > 0 {
		err = m.withDerived(m.syncRules)
	}
	if err != nil {
		return &info, err
	}
	m.log.Debug("sandbox attached", "container", id, "network", n.Name, "interface", info.Interface, "ip", ip)
	return &info, nil
}

func nextInterface(s *sandboxState) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(s.Endpoints, func(e EndpointInfo) bool { return e.Interface == name }) {
			return name
		}
	}
}

// DeleteSandbox removes everything of container id: its veth pairs, IP
// leases, published ports, namespace handle and files, and its names from
// the peers' hosts files. It is idempotent and also cleans up what an
// interrupted CreateSandbox or Attach left without state.
func (m *Manager) DeleteSandbox(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName("sandbox", id); err != nil {
		return err
	}
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return err
	}
	defer unlock()
	return m.deleteSandboxesLocked([]string{id}, nil)
}

// DeleteSandboxes removes every sandbox in ids as DeleteSandbox does, with
// the work derived from all sandboxes (hosts files of the peers, the
// nftables table) done once instead of once per sandbox: what `down` of a
// project needs. Missing ones succeed.
func (m *Manager) DeleteSandboxes(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := checkName("sandbox", id); err != nil {
			return err
		}
	}
	unlock, err := m.lockSandboxes(ids)
	if err != nil {
		return err
	}
	defer unlock()
	return m.deleteSandboxesLocked(ids, nil)
}

// deleteSandboxLocked is deleteSandboxesLocked for one sandbox.
func (m *Manager) deleteSandboxLocked(id string) error {
	return m.deleteSandboxesLocked([]string{id}, nil)
}

// ReleaseNetNS drops the handle of sandbox id's namespace, the first step
// of deleting the sandbox, for one that nothing will run in any more: the
// kernel then deletes the namespace, and its veths with it, in the
// background (≈ 40–70 ms here) while the caller goes on; a later
// DeleteSandboxes or Teardown finishes the sandbox. `down` releases each
// container's namespace as soon as the container has stopped. Until then
// the sandbox reads as stale (CreateSandbox makes it anew). A missing
// sandbox succeeds.
func (m *Manager) ReleaseNetNS(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName("sandbox", id); err != nil {
		return err
	}
	unlock, err := m.lockSandbox(id)
	if err != nil {
		return err
	}
	defer unlock()
	return m.withDerived(func() error {
		if err := m.dp.deleteNetNS(m.NetNSPath(id)); err != nil {
			return fmt.Errorf("sandbox %s: %w", id, err)
		}
		return nil
	})
}

// Teardown is DeleteSandboxes(sandboxes) and then RemoveNetwork of each
// of networks, as `down` needs them, with the kernel's slowest work
// overlapped: deleting a bridge takes ≈ 50 ms here, most of it waiting
// for the kernel (RCU), as does deleting the veths of the namespaces. So a
// network's bridge goes while the veths still go, as soon as the
// namespaces of all its sandboxes are gone and no other sandbox is on it.
// A kill from then on leaves sandboxes without namespace, which
// CreateSandbox makes anew, and networks without bridge, which
// EnsureNetwork realizes again (and a next Teardown removes). Missing
// sandboxes and networks succeed. The error of a network that stays is
// in the map; the error returned is the sandboxes'.
func (m *Manager) Teardown(ctx context.Context, sandboxes, networks []string) (map[string]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sandboxes = slices.Compact(slices.Sorted(slices.Values(sandboxes)))
	for _, id := range sandboxes {
		if err := checkName("sandbox", id); err != nil {
			return nil, err
		}
	}
	for _, name := range networks {
		if err := checkName("network", name); err != nil {
			return nil, err
		}
	}
	// Lock 1 exclusively: no sandbox changes (they hold it shared) while
	// the bridges go, so no new endpoint can appear on them.
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := m.loadSandboxes()
	if err != nil {
		return nil, err
	}
	var bridges sync.WaitGroup
	sbErr := m.deleteSandboxesLocked(sandboxes, func(released map[string]bool) {
		for _, name := range networks {
			n, err := m.loadNetwork(name)
			if err != nil || onNetwork(all, name, released) {
				continue // removeNetworkLocked below says why
			}
			// An error here comes back from removeNetworkLocked,
			// which deletes the bridge again.
			bridges.Go(func() { m.dp.deleteBridge(n.Bridge) })
		}
	})
	bridges.Wait()
	netErrs := map[string]error{}
	for _, name := range networks {
		if err := m.removeNetworkLocked(name); err != nil && !errors.Is(err, ErrNotFound) {
			netErrs[name] = err
		}
	}
	return netErrs, sbErr
}

// onNetwork reports whether a sandbox not in released has an endpoint on
// network name.
func onNetwork(sbs []*sandboxState, name string, released map[string]bool) bool {
	for _, s := range sbs {
		if !released[s.ID] && s.endpoint(name) != nil {
			return true
		}
	}
	return false
}

// deleteSandboxesLocked removes sandboxes whose lock 2 the caller holds.
// A sandbox whose kernel objects could not all be removed keeps its
// state, so that the next call retries it; the others go. nsGone, when
// not nil, is called once the namespaces are deleted, with the ids whose
// namespace is gone (their veths may still be going).
func (m *Manager) deleteSandboxesLocked(ids []string, nsGone func(map[string]bool)) error {
	nets, err := m.loadNetworks()
	if err != nil {
		return err
	}
	type victim struct {
		id string
		s  *sandboxState // nil if it had no state file
	}
	var victims []victim
	var errs []error
	for _, id := range ids {
		s, err := m.loadSandbox(id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		victims = append(victims, victim{id, s})
	}
	// The namespaces first: when its last handle goes, the kernel deletes
	// the veths in a namespace with their host ends, many namespaces in
	// one batch, instead of one LinkDel after another (deleteVeth).
	if err := m.withDerived(func() error {
		var errs []error
		for _, v := range victims {
			if err := m.dp.deleteNetNS(m.NetNSPath(v.id)); err != nil {
				errs = append(errs, fmt.Errorf("sandbox %s: %w", v.id, err))
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		errs = append(errs, err)
	}
	if nsGone != nil {
		released := map[string]bool{}
		for _, v := range victims {
			if !m.dp.netnsAlive(m.NetNSPath(v.id)) {
				released[v.id] = true
			}
		}
		nsGone(released)
	}
	gone := victims[:0:0]
	for _, v := range victims {
		var verrs []error
		// Every network, not only the recorded endpoints: an Attach
		// killed half way leaves a veth and a lease but no endpoint.
		for _, n := range nets {
			if err := m.dp.deleteVeth(vethName(v.id, n.ID)); err != nil {
				verrs = append(verrs, fmt.Errorf("sandbox %s: network %s: %w", v.id, n.Name, err))
			}
			store, err := NewDiskStore(m.leaseDir(n.Name))
			if err == nil {
				err = (&Allocator{Network: n.Name, Store: store}).Release(v.id)
			}
			if err != nil {
				verrs = append(verrs, fmt.Errorf("sandbox %s: network %s: %w", v.id, n.Name, err))
			}
		}
		if !m.dp.netnsAlive(m.NetNSPath(v.id)) && len(verrs) == 0 {
			gone = append(gone, v)
		}
		errs = append(errs, verrs...) // state kept: the next call retries
	}
	if len(gone) == 0 {
		return errors.Join(errs...)
	}
	// Files and state go under lock 3: a hosts rewrite of another sandbox
	// that loaded one of these must not write its hosts file back
	// afterwards.
	err = m.withDerived(func() error {
		ports := false
		var touched []string
		for _, v := range gone {
			if err := os.RemoveAll(m.filesDir(v.id)); err != nil {
				return fmt.Errorf("sandbox %s: %w", v.id, err)
			}
			if err := os.Remove(m.sandboxFile(v.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("sandbox %s: %w", v.id, err)
			}
			if v.s == nil {
				continue
			}
			ports = ports || len(v.s.Ports) > 0
			for _, ep := range v.s.Endpoints {
				touched = append(touched, ep.Network)
			}
		}
		if ports {
			if err := m.syncRules(); err != nil {
				return err
			}
		}
		if len(touched) > 0 {
			all, err := m.loadSandboxes()
			if err != nil {
				return err
			}
			if err := m.rewriteHosts(all, slices.Compact(slices.Sorted(slices.Values(touched)))); err != nil {
				return err
			}
		}
		for _, v := range gone {
			m.log.Debug("sandbox deleted", "container", v.id)
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// Sandbox returns one sandbox.
func (m *Manager) Sandbox(ctx context.Context, id string) (*Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName("sandbox", id); err != nil {
		return nil, err
	}
	s, err := m.loadSandbox(id)
	if err != nil {
		return nil, err
	}
	pub := s.public()
	return &pub, nil
}

// Sandboxes returns every sandbox, sorted by id (the reconciler's view of
// what exists).
func (m *Manager) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sbs, err := m.loadSandboxes()
	if err != nil {
		return nil, err
	}
	out := make([]Sandbox, 0, len(sbs))
	for _, s := range sbs {
		out = append(out, s.public())
	}
	return out, nil
}

// Ports returns the published ports of sandbox id.
func (m *Manager) Ports(ctx context.Context, id string) ([]PortMapping, error) {
	s, err := m.Sandbox(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.Ports, nil
}

// RemoveStaleSandboxes deletes every sandbox whose namespace handle is
// gone (after a reboot: /run is empty, state under Root is not), releasing
// its leases and ports, and returns their ids. The reconciler calls it
// once at start; CreateSandbox also recovers a stale sandbox on its own.
func (m *Manager) RemoveStaleSandboxes(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	sbs, err := m.loadSandboxes()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, s := range sbs {
		if m.dp.netnsAlive(s.NetNSPath) {
			continue
		}
		if err := m.deleteSandboxLocked(s.ID); err != nil {
			return removed, err
		}
		removed = append(removed, s.ID)
	}
	return removed, nil
}
