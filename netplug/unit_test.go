package netplug

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for allocator tests.
type memStore struct {
	leases map[netip.Addr]string
	last   netip.Addr
}

func (s *memStore) Lock() error   { return nil }
func (s *memStore) Unlock() error { return nil }
func (s *memStore) Reserve(owner string, ip netip.Addr) (bool, error) {
	if _, ok := s.leases[ip]; ok {
		return false, nil
	}
	s.leases[ip] = owner
	s.last = ip
	return true, nil
}
func (s *memStore) LastReserved() (netip.Addr, error) { return s.last, nil }
func (s *memStore) Leases() (map[netip.Addr]string, error) {
	m := map[netip.Addr]string{}
	for k, v := range s.leases {
		m[k] = v
	}
	return m, nil
}
func (s *memStore) ReleaseOwner(owner string) error {
	for k, v := range s.leases {
		if v == owner {
			delete(s.leases, k)
		}
	}
	return nil
}

func TestAllocator(t *testing.T) {
	t.Parallel()
	a := func() *Allocator {
		return &Allocator{Network: "n", Subnet: netip.MustParsePrefix("10.1.0.0/29"), Gateway: netip.MustParseAddr("10.1.0.1"), Store: &memStore{leases: map[netip.Addr]string{}}}
	}
	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		steps   func(a *Allocator) (netip.Addr, error)
		want    string
		wantErr error
	}{
		{"first skips network and gateway", func(a *Allocator) (netip.Addr, error) { return a.Allocate("c1", netip.Addr{}) }, "10.1.0.2", nil},
		{"idempotent per owner", func(a *Allocator) (netip.Addr, error) {
			a.Allocate("c1", netip.Addr{})
			return a.Allocate("c1", netip.Addr{})
		}, "10.1.0.2", nil},
		{"static", func(a *Allocator) (netip.Addr, error) { return a.Allocate("c1", ip("10.1.0.5")) }, "10.1.0.5", nil},
		{"static duplicate", func(a *Allocator) (netip.Addr, error) {
			a.Allocate("c1", ip("10.1.0.5"))
			return a.Allocate("c2", ip("10.1.0.5"))
		}, "", ErrInUse},
		{"static outside subnet", func(a *Allocator) (netip.Addr, error) { return a.Allocate("c1", ip("10.1.1.5")) }, "", ErrInvalidArgument},
		{"static gateway", func(a *Allocator) (netip.Addr, error) { return a.Allocate("c1", ip("10.1.0.1")) }, "", ErrInvalidArgument},
		{"static broadcast", func(a *Allocator) (netip.Addr, error) { return a.Allocate("c1", ip("10.1.0.7")) }, "", ErrInvalidArgument},
		{"owner asks for another address", func(a *Allocator) (netip.Addr, error) {
			a.Allocate("c1", netip.Addr{})
			return a.Allocate("c1", ip("10.1.0.6"))
		}, "", ErrAlreadyExists},
		{"rotates after release", func(a *Allocator) (netip.Addr, error) {
			a.Allocate("c1", netip.Addr{})
			a.Release("c1")
			return a.Allocate("c2", netip.Addr{})
		}, "10.1.0.3", nil},
		{"wraps around", func(a *Allocator) (netip.Addr, error) {
			for i := range 5 {
				if _, err := a.Allocate(fmt.Sprint("c", i), netip.Addr{}); err != nil {
					return netip.Addr{}, err
				}
			}
			a.Release("c0")
			return a.Allocate("c9", netip.Addr{})
		}, "10.1.0.2", nil},
		{"full", func(a *Allocator) (netip.Addr, error) {
			for i := range 5 {
				a.Allocate(fmt.Sprint("c", i), netip.Addr{})
			}
			return a.Allocate("c9", netip.Addr{})
		}, "", ErrInUse},
		{"range", func(a *Allocator) (netip.Addr, error) {
			a.Range = netip.MustParsePrefix("10.1.0.4/30")
			return a.Allocate("c1", netip.Addr{})
		}, "10.1.0.4", nil},
		{"static outside range is allowed", func(a *Allocator) (netip.Addr, error) {
			a.Range = netip.MustParsePrefix("10.1.0.4/30")
			return a.Allocate("c1", ip("10.1.0.2"))
		}, "10.1.0.2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.steps(a())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestDiskStoreConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var wg sync.WaitGroup
	got := make([]netip.Addr, 40)
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := NewDiskStore(dir) // one store per "process"
			if err != nil {
				errs[i] = err
				return
			}
			a := &Allocator{Network: "n", Subnet: netip.MustParsePrefix("10.2.0.0/24"), Gateway: netip.MustParseAddr("10.2.0.1"), Store: s}
			got[i], errs[i] = a.Allocate(fmt.Sprint("c", i), netip.Addr{})
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, ip := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[ip] {
			t.Fatalf("address %s handed out twice", ip)
		}
		seen[ip] = true
	}
	s, _ := NewDiskStore(dir)
	if err := s.ReleaseOwner("c3"); err != nil {
		t.Fatal(err)
	}
	leases, _ := s.Leases()
	if len(leases) != 39 {
		t.Fatalf("%d leases after releasing one of 40", len(leases))
	}
	for _, o := range leases {
		if o == "c3" {
			t.Fatal("c3 still has a lease")
		}
	}
}

func TestRenderHosts(t *testing.T) {
	t.Parallel()
	ep := func(sb, net, ip string, aliases ...string) EndpointInfo {
		return EndpointInfo{Sandbox: sb, Network: net, IPv4: netip.MustParseAddr(ip), Gateway: netip.MustParseAddr("10.0.0.1"), Aliases: aliases}
	}
	self := &sandboxState{ID: "a", Spec: SandboxSpec{Hostname: "a", Domainname: "example.test", ExtraHosts: []HostEntry{{"db.local", "10.9.9.9"}, {"host.docker.internal", "host-gateway"}}},
		Endpoints: []EndpointInfo{ep("a", "front", "10.0.0.2", "web", "proj-web-1")}}
	all := []*sandboxState{
		self,
		{ID: "b", Spec: SandboxSpec{Hostname: "b"}, Endpoints: []EndpointInfo{ep("b", "front", "10.0.0.3", "web", "proj-web-2")}},
		{ID: "c", Spec: SandboxSpec{Hostname: "c"}, Endpoints: []EndpointInfo{ep("c", "back", "10.0.1.3", "secret")}},
	}
	got := string(renderHosts(self, all))
	want := hostsHeader + `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
10.9.9.9	db.local
10.0.0.1	host.docker.internal
10.0.0.2	a.example.test a web proj-web-1
10.0.0.3	b web proj-web-2
`
	if got != want {
		t.Errorf("hosts:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderResolvConf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host string
		spec       SandboxSpec
		want       string
		dflt       bool
	}{
		{"drops loopback", "nameserver 127.0.0.53\nnameserver 10.0.0.53\nsearch a.test b.test\noptions ndots:2\n", SandboxSpec{},
			"nameserver 10.0.0.53\nsearch a.test b.test\noptions ndots:2\n", false},
		{"only loopback", "nameserver 127.0.0.53\n", SandboxSpec{}, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n", true},
		{"overrides", "nameserver 10.0.0.53\nsearch a.test\noptions rotate\n", SandboxSpec{DNS: []string{"1.1.1.1"}, DNSSearch: []string{"x.test"}, DNSOptions: []string{"ndots:1"}},
			"nameserver 1.1.1.1\nsearch x.test\noptions ndots:1\n", false},
		{"comments", "# hi\nnameserver 10.0.0.53 # there\n", SandboxSpec{}, "nameserver 10.0.0.53\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dflt := renderResolvConf(parseResolvConf([]byte(tt.host)), tt.spec)
			body := string(got[strings.IndexByte(string(got), '\n')+1:])
			if body != tt.want || dflt != tt.dflt {
				t.Errorf("got %q (default %v), want %q (default %v)", body, dflt, tt.want, tt.dflt)
			}
		})
	}
}

func TestParseNetworkSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    NetworkSpec
		wantErr error
	}{
		{NetworkSpec{Name: "ok", Subnet: "10.5.0.0/16", Gateway: "10.5.0.254", IPRange: "10.5.1.0/24"}, nil},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.1/16"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "nonsense"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.0/31"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "fd00::/64"}, ErrNotSupported},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.0/16", Gateway: "10.6.0.1"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.0/16", Gateway: "10.5.0.0"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.0/16", IPRange: "10.6.0.0/24"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Subnet: "10.5.0.0/16", IPRange: "10.0.0.0/8"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", Gateway: "10.5.0.1"}, ErrInvalidArgument},
		{NetworkSpec{Name: "x", MTU: 20}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		_, err := parseNetworkSpec(tt.spec)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%+v: err = %v, want %v", tt.spec, err, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "network x") {
			t.Errorf("error %q does not name the network", err)
		}
	}
}

func TestRulesetString(t *testing.T) {
	t.Parallel()
	nets := []*networkState{
		{Network: Network{Name: "front", Bridge: "bth-aaaa", Subnet: netip.MustParsePrefix("10.0.0.0/24")}},
		{Network: Network{Name: "secret", Bridge: "bth-bbbb", Subnet: netip.MustParsePrefix("10.0.1.0/24"), Internal: true}},
	}
	sbs := []*sandboxState{
		{ID: "web", Endpoints: []EndpointInfo{{Network: "front", IPv4: netip.MustParseAddr("10.0.0.2"), DefaultRoute: true}},
			Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80}, {HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Protocol: "udp"}}},
		{ID: "db", Endpoints: []EndpointInfo{{Network: "secret", IPv4: netip.MustParseAddr("10.0.1.2")}}, Ports: []PortMapping{{HostPort: 1, ContainerPort: 2}}},
	}
	got := buildRuleset("berth", nets, sbs).String()
	want := `table ip berth {
  chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump ports }
  chain output { type nat hook output priority dstnat; fib daddr type local jump ports }
  chain ports {
    meta l4proto tcp th dport 8080 dnat to 10.0.0.2:80 comment "container=web"
    meta l4proto udp ip daddr 127.0.0.1 th dport 5353 dnat to 10.0.0.2:53 comment "container=web"
  }
  chain postrouting { type nat hook postrouting priority srcnat;
    ip saddr 10.0.0.0/24 oifname != bth-aaaa masquerade comment "network=front"
    ip saddr 127.0.0.0/8 oifname bth-aaaa masquerade comment "network=front"
    ip saddr 10.0.0.0/24 oifname bth-aaaa ct status dnat masquerade comment "network=front"
  }
  chain forward { type filter hook forward priority filter; policy accept;
    iifname bth-bbbb oifname != bth-bbbb drop comment "network=secret"
    oifname bth-bbbb iifname != bth-bbbb drop comment "network=secret"
    ct status dnat accept
    iifname bth-aaaa oifname != bth-aaaa oifname bth-* drop comment "network=front"
  }
}
`
	if got != want {
		t.Errorf("ruleset:\n%s\nwant:\n%s", got, want)
	}
	if s := buildRuleset("berth", nil, nil).String(); s != "" {
		t.Errorf("empty ruleset renders %q", s)
	}
}

func newFakeManager(t *testing.T) (*Manager, *fakeDataplane) {
	t.Helper()
	dp := newFakeDataplane()
	m, err := newManager(Options{
		Root: filepath.Join(t.TempDir(), "networks"), RunDir: t.TempDir(),
		Pool:           []netip.Prefix{netip.MustParsePrefix("10.89.0.0/22")},
		HostResolvConf: filepath.Join(t.TempDir(), "missing"),
	}, dp)
	if err != nil {
		t.Fatal(err)
	}
	return m, dp
}

func TestManagerNetworks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, dp := newFakeManager(t)
	dp.hostRoutes = []netip.Prefix{netip.MustParsePrefix("10.89.0.0/24"), netip.MustParsePrefix("0.0.0.0/0")}
	a, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "a", Labels: map[string]string{"p": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Subnet.String() != "10.89.1.0/24" || a.Gateway.String() != "10.89.1.1" {
		t.Errorf("a: subnet %s gateway %s; want the first pool subnet not routed on the host", a.Subnet, a.Gateway)
	}
	if !strings.HasPrefix(a.Bridge, BridgePrefix) || len(a.Bridge) > 15 || !dp.bridges[a.Bridge] {
		t.Errorf("bridge %q", a.Bridge)
	}
	if !dp.forwarding {
		t.Error("forwarding not enabled for a non-internal network")
	}
	again, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "a"})
	if err != nil || again.ID != a.ID {
		t.Errorf("EnsureNetwork again: %v, %v", again, err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "a", Subnet: "10.77.0.0/24"}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("existing network with another subnet: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "a", Internal: true}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("existing network, now internal: %v", err)
	}
	b, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "b", Internal: true})
	if err != nil || b.Subnet.String() != "10.89.2.0/24" {
		t.Fatalf("b: %v, %v", b, err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "c", Subnet: "10.89.1.128/25"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("overlap with network a: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "c", Subnet: "10.89.0.0/25"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("overlap with a host route: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "ext", External: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing external network: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "a", External: true}); err != nil {
		t.Errorf("existing network as external: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "bad/name"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "v6", EnableIPv6: true}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("ipv6: %v", err)
	}
	dp.fail["ensureBridge"] = errors.New("boom")
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "broken"}); err == nil {
		t.Error("bridge failure not reported")
	}
	delete(dp.fail, "ensureBridge")
	if _, err := m.InspectNetwork(ctx, "broken"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed network left state: %v", err)
	}
	list, err := m.ListNetworks(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("ListNetworks = %+v, %v", list, err)
	}
	if !strings.Contains(dp.rules.String(), "network=a") || strings.Contains(dp.rules.String(), `oifname != `+b.Bridge+` masquerade`) {
		t.Errorf("rules:\n%s", dp.rules)
	}
	pruned, err := m.PruneNetworks(ctx, map[string]string{"p": "x"})
	if err != nil || len(pruned) != 1 || pruned[0] != "a" {
		t.Errorf("prune = %v, %v", pruned, err)
	}
	if err := m.RemoveNetwork(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveNetwork(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if len(dp.bridges) != 0 || !dp.rules.empty() {
		t.Errorf("left: bridges %v rules %v", dp.bridges, dp.rules)
	}
}

func TestManagerSandboxes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, dp := newFakeManager(t)
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "front"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "back", Internal: true}); err != nil {
		t.Fatal(err)
	}
	create := func(id string, spec SandboxSpec, eps ...Endpoint) *Sandbox {
		t.Helper()
		s, err := m.CreateSandbox(ctx, id, spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if _, err := m.Attach(ctx, id, ep); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	a := create("a", SandboxSpec{Hostname: "a"}, Endpoint{Network: "back", Aliases: []string{"db"}}, Endpoint{Network: "front", Aliases: []string{"web"}})
	sa, _ := m.Sandbox(ctx, "a")
	if sa.Endpoints[0].Interface != "eth0" || sa.Endpoints[1].Interface != "eth1" {
		t.Errorf("interfaces: %+v", sa.Endpoints)
	}
	if sa.Endpoints[0].DefaultRoute || !sa.Endpoints[1].DefaultRoute || dp.defaults[a.NetNSPath] != "eth1" {
		t.Errorf("default route should be on the non-internal network: %+v", sa.Endpoints)
	}
	// A container started later is resolvable by one already running: a's
	// hosts file (same inode) gains b.
	st0, _ := os.Stat(a.HostsPath)
	create("b", SandboxSpec{Hostname: "b"}, Endpoint{Network: "front", Aliases: []string{"web"}})
	hosts, _ := os.ReadFile(a.HostsPath)
	if !strings.Contains(string(hosts), "\tb web\n") {
		t.Errorf("a's hosts file lacks b:\n%s", hosts)
	}
	if st1, _ := os.Stat(a.HostsPath); !os.SameFile(st0, st1) {
		t.Error("hosts file was replaced, not rewritten in place")
	}
	if _, err := m.Attach(ctx, "b", Endpoint{Network: "front"}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("double attach: %v", err)
	}
	if _, err := m.Attach(ctx, "b", Endpoint{Network: "front", MacAddress: "01:00:00:00:00:01"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("multicast mac: %v", err)
	}
	if _, err := m.Attach(ctx, "nope", Endpoint{Network: "front"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown sandbox: %v", err)
	}
	// Failure half way: nothing recorded, lease and veth gone.
	create("c", SandboxSpec{})
	dp.fail["setDefaultRoute"] = errors.New("boom")
	if _, err := m.Attach(ctx, "c", Endpoint{Network: "front"}); err == nil {
		t.Fatal("injected failure not reported")
	}
	delete(dp.fail, "setDefaultRoute")
	sc, _ := m.Sandbox(ctx, "c")
	if len(sc.Endpoints) != 0 || len(dp.links) != 3 { // a: 2, b: 1
		t.Errorf("after a failed attach: endpoints %v, links %v", sc.Endpoints, dp.links)
	}
	if _, err := m.Attach(ctx, "c", Endpoint{Network: "front"}); err != nil {
		t.Fatal(err)
	}
	// Ports.
	dp.busyPorts["tcp/8080"] = true
	if _, err := m.Publish(ctx, "a", []PortMapping{{HostPort: 8080, ContainerPort: 80}}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("busy port: %v", err)
	}
	got, err := m.Publish(ctx, "a", []PortMapping{{HostPort: 9000, HostPortEnd: 9001, ContainerPort: 80}, {ContainerPort: 81}})
	if err != nil || got[0].HostPort != 9000 || got[1].HostPort == 0 {
		t.Fatalf("Publish = %+v, %v", got, err)
	}
	got2, err := m.Publish(ctx, "b", []PortMapping{{HostPort: 9000, HostPortEnd: 9001, ContainerPort: 80}})
	if err != nil || got2[0].HostPort != 9001 {
		t.Errorf("range with one port taken by a: %+v, %v", got2, err)
	}
	if _, err := m.Publish(ctx, "c", []PortMapping{{HostPort: 9000, HostPortEnd: 9001, ContainerPort: 80}}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("exhausted range: %v", err)
	}
	if _, err := m.Publish(ctx, "c", []PortMapping{{HostPort: 9000, ContainerPort: 80, Protocol: "udp"}, {HostPort: 1, ContainerPort: 0}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("container port 0: %v", err)
	}
	if _, err := m.Publish(ctx, "c", []PortMapping{{HostPort: 9000, ContainerPort: 80, Protocol: "sctp"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("sctp: %v", err)
	}
	rs := dp.rules.String()
	if !strings.Contains(rs, "th dport 9000 dnat to "+sa.Endpoints[1].IPv4.String()+":80") {
		t.Errorf("rules lack a's port:\n%s", rs)
	}
	// Delete: idempotent, peers' hosts files updated, rules gone.
	if err := m.DeleteSandbox(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSandbox(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if hosts, _ := os.ReadFile(a.HostsPath); strings.Contains(string(hosts), "\tb web") {
		t.Errorf("a's hosts file still lists b:\n%s", hosts)
	}
	if err := m.RemoveNetwork(ctx, "front"); !errors.Is(err, ErrInUse) {
		t.Errorf("remove in use: %v", err)
	}
	// A batch, as down deletes a project's sandboxes: the peers' hosts
	// files and the rules are rewritten once, for all of them.
	d := create("d", SandboxSpec{}, Endpoint{Network: "front"})
	for i := 0; i < 2; i++ { // the second time: nothing left, still fine
		if err := m.DeleteSandboxes(ctx, []string{"c", "a", "c"}); err != nil {
			t.Fatal(err)
		}
	}
	hosts, _ = os.ReadFile(d.HostsPath)
	for _, line := range strings.Split(string(hosts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && (slices.Contains(f[1:], "a") || slices.Contains(f[1:], "c")) {
			t.Errorf("d's hosts file still lists a or c: %q", line)
		}
	}
	if _, err := m.Sandbox(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a after the batch: %v", err)
	}
	if strings.Contains(dp.rules.String(), "dnat to") {
		t.Errorf("a's published port outlived the batch:\n%s", dp.rules)
	}
	if err := m.DeleteSandboxes(ctx, []string{"d", "bad/name"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a bad name in a batch: %v", err)
	}
	if err := m.DeleteSandbox(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if len(dp.links) != 0 || len(dp.netns) != 0 || strings.Contains(dp.rules.String(), "dnat to") {
		t.Errorf("left behind: links %v netns %v rules\n%s", dp.links, dp.netns, dp.rules)
	}
	// Stale sandboxes (namespace gone) are found and removed.
	st := create("stale", SandboxSpec{}, Endpoint{Network: "front"})
	delete(dp.netns, st.NetNSPath)
	if ids, err := m.RemoveStaleSandboxes(ctx); err != nil || len(ids) != 1 || ids[0] != "stale" {
		t.Errorf("RemoveStaleSandboxes = %v, %v", ids, err)
	}
	// A sandbox whose namespace vanished (reboot) is recreated.
	s := create("r", SandboxSpec{}, Endpoint{Network: "front", IPv4Address: "10.89.0.50"})
	delete(dp.netns, s.NetNSPath)
	if _, err := m.CreateSandbox(ctx, "r", SandboxSpec{}); err != nil {
		t.Fatal(err)
	}
	if sr, _ := m.Sandbox(ctx, "r"); len(sr.Endpoints) != 0 || !dp.netns[s.NetNSPath] {
		t.Errorf("stale sandbox not recreated: %+v", sr)
	}
	if _, err := m.Attach(ctx, "r", Endpoint{Network: "front", IPv4Address: "10.89.0.50"}); err != nil {
		t.Errorf("lease of the stale sandbox not released: %v", err)
	}
}

func TestCreateSandboxBadInput(t *testing.T) {
	t.Parallel()
	m, _ := newFakeManager(t)
	for _, spec := range []SandboxSpec{
		{Hostname: "bad host"},
		{ExtraHosts: []HostEntry{{"x", "not-an-ip"}}},
		{DNS: []string{"dns.example"}},
		{DNSOptions: []string{"a b"}},
	} {
		if _, err := m.CreateSandbox(context.Background(), "x", spec); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", spec, err)
		}
	}
	if _, err := m.CreateSandbox(context.Background(), "../x", SandboxSpec{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad id accepted")
	}
}

func TestParseNetworkMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]NetworkMode{
		"": {Kind: ModeBridge}, "bridge": {Kind: ModeBridge}, "none": {Kind: ModeNone}, "host": {Kind: ModeHost},
		"service:db": {Kind: ModeService, Target: "db"}, "container:proj-db-1": {Kind: ModeContainer, Target: "proj-db-1"},
	} {
		if got, err := ParseNetworkMode(in); err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"service:", "pod:x", "nat"} {
		if _, err := ParseNetworkMode(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Parallel Attach calls (several CLIs at once) get distinct addresses and
// every hosts file ends up listing every peer.
func TestManagerParallelAttach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newFakeManager(t)
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			if _, errs[i] = m.CreateSandbox(ctx, id, SandboxSpec{Hostname: id}); errs[i] == nil {
				_, errs[i] = m.Attach(ctx, id, Endpoint{Network: "n", Aliases: []string{"svc"}})
			}
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	sbs, _ := m.Sandboxes(ctx)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("c%d: %v", i, err)
		}
	}
	for _, s := range sbs {
		ip := s.Endpoints[0].IPv4
		if seen[ip] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip] = true
		hosts, _ := os.ReadFile(s.HostsPath)
		if c := strings.Count(string(hosts), " svc\n"); c != n {
			t.Errorf("%s's hosts file lists %d of %d endpoints:\n%s", s.ID, c, n, hosts)
		}
	}
}

// Callers that ask for a hosts rewrite while one is waiting for lock 3
// share the next one: n callers, at most two rewrites.
func TestRefreshHostsCoalesces(t *testing.T) {
	t.Parallel()
	m, _ := newFakeManager(t)
	unlock, err := m.lockDerived() // as another berth process would hold it
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.refreshHosts() }()
	}
	for asked := uint64(0); asked < n; {
		time.Sleep(time.Millisecond)
		m.hosts.mu.Lock()
		asked = m.hosts.asked
		m.hosts.mu.Unlock()
	}
	unlock()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if m.hosts.runs > 2 {
		t.Errorf("%d callers ran %d rewrites, want at most 2", n, m.hosts.runs)
	}
}

// Sandboxes are deleted while others are attached, all at once (they take
// per-sandbox locks): a deleted sandbox leaves no files behind (no peer's
// hosts rewrite brings its hosts file back), and every survivor's hosts
// file lists exactly the survivors.
func TestManagerParallelDeleteAndAttach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, dp := newFakeManager(t)
	if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	attach := func(id string) error {
		if _, err := m.CreateSandbox(ctx, id, SandboxSpec{Hostname: id}); err != nil {
			return err
		}
		_, err := m.Attach(ctx, id, Endpoint{Network: "n", Aliases: []string{"svc"}})
		return err
	}
	for i := range n {
		if err := attach(fmt.Sprintf("old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); errs[i] = m.DeleteSandbox(ctx, fmt.Sprintf("old%d", i)) }()
		go func() { defer wg.Done(); errs[n+i] = attach(fmt.Sprintf("new%d", i)) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	for i := range n {
		if _, err := os.Stat(m.filesDir(fmt.Sprintf("old%d", i))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("files of deleted sandbox old%d remain (stat: %v)", i, err)
		}
	}
	sbs, err := m.Sandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sbs) != n {
		t.Fatalf("%d sandboxes left, want %d", len(sbs), n)
	}
	for _, s := range sbs {
		hosts, _ := os.ReadFile(s.HostsPath)
		if c := strings.Count(string(hosts), " svc\n"); c != n || strings.Contains(string(hosts), "old") {
			t.Errorf("%s's hosts file lists %d endpoints (want the %d new ones):\n%s", s.ID, c, n, hosts)
		}
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if len(dp.links) != n || len(dp.netns) != n {
		t.Errorf("kernel objects left: %d veths, %d netns; want %d each", len(dp.links), len(dp.netns), n)
	}
}

// State written by version 1 still loads (persisted formats carry a
// version; samples live in testdata).
func TestLoadStateV1(t *testing.T) {
	t.Parallel()
	m, _ := newFakeManager(t)
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("testdata/network-v1.json", m.networkFile("proj_default"))
	copyFile("testdata/sandbox-v1.json", m.sandboxFile("proj-web-1"))
	n, err := m.InspectNetwork(context.Background(), "proj_default")
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet.String() != "10.89.3.0/24" || n.IPRange.String() != "10.89.3.128/25" || n.MTU != 1400 || len(n.Endpoints) != 1 ||
		n.Endpoints[0].IPv4.String() != "10.89.3.130" || !n.Endpoints[0].DefaultRoute {
		t.Errorf("network v1 = %+v", n)
	}
	s, err := m.Sandbox(context.Background(), "proj-web-1")
	if err != nil || s.Ports[0].HostPort != 8080 || s.Hostname != "web" {
		t.Errorf("sandbox v1 = %+v, %v", s, err)
	}
	rs := buildRuleset("t", []*networkState{{Network: *n}}, []*sandboxState{{ID: s.ID, Endpoints: s.Endpoints, Ports: s.Ports}})
	if !strings.Contains(rs.String(), "dnat to 10.89.3.130:80") {
		t.Errorf("rules from v1 state:\n%s", rs)
	}
}
