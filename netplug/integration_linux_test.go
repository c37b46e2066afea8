package netplug

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Integration tests: real bridges, namespaces and nftables, as root.
// Subnets come from 10.231.0.0/16 (not the default pool), the nft table
// and bridge names are unique per test, traffic goes only to 127.0.0.1 and
// to addresses of the bridges and sandboxes the test made.

var testPool = []netip.Prefix{netip.MustParsePrefix("10.231.0.0/16")}

// integrationMu keeps the integration tests of this package sequential:
// they share the test pool.
var integrationMu sync.Mutex

type itest struct {
	t     *testing.T
	m     *Manager
	table string
	run   string
	ctx   context.Context
}

func newITest(t *testing.T) *itest {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter", "apt-get install util-linux")
	testenv.RequireCommand(t, "unshare", "apt-get install util-linux")
	testenv.RequireCommand(t, "busybox", "apt-get install busybox-static")
	integrationMu.Lock()
	t.Cleanup(integrationMu.Unlock)
	b := make([]byte, 4)
	rand.Read(b)
	table := "berth_t" + hex.EncodeToString(b)
	run := t.TempDir()
	leakcheck.Check(t, leakcheck.Contains("bth", table, run))
	m, err := New(Options{
		Root: filepath.Join(t.TempDir(), "networks"), RunDir: run, Pool: testPool, Table: table,
		HostResolvConf: writeTemp(t, "resolv.conf", "nameserver 127.0.0.53\nsearch example.test\n"),
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	it := &itest{t: t, m: m, table: table, run: run, ctx: context.Background()}
	t.Cleanup(it.teardown)
	return it
}

// teardown removes whatever the test left in its Manager, so that a failing
// test still cleans up (and the leak check judges DeleteSandbox and
// RemoveNetwork, which are what a test calls on success).
func (it *itest) teardown() {
	sbs, _ := it.m.Sandboxes(it.ctx)
	for _, s := range sbs {
		if err := it.m.DeleteSandbox(it.ctx, s.ID); err != nil {
			it.t.Errorf("teardown: %v", err)
		}
	}
	nets, _ := it.m.ListNetworks(it.ctx)
	for _, n := range nets {
		if err := it.m.RemoveNetwork(it.ctx, n.Name); err != nil {
			it.t.Errorf("teardown: %v", err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func writeTemp(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (it *itest) network(name string, internal bool) *Network {
	it.t.Helper()
	n, err := it.m.EnsureNetwork(it.ctx, NetworkSpec{Name: name, Internal: internal})
	if err != nil {
		it.t.Fatal(err)
	}
	return n
}

func (it *itest) sandbox(id string, nets map[string][]string) *Sandbox {
	it.t.Helper()
	s, err := it.m.CreateSandbox(it.ctx, id, SandboxSpec{Hostname: id})
	if err != nil {
		it.t.Fatal(err)
	}
	for _, n := range sortedKeys(nets) {
		if _, err := it.m.Attach(it.ctx, id, Endpoint{Network: n, Aliases: nets[n]}); err != nil {
			it.t.Fatal(err)
		}
	}
	s, err = it.m.Sandbox(it.ctx, id)
	if err != nil {
		it.t.Fatal(err)
	}
	return s
}

func sortedKeys(m map[string][]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	for i := range k {
		for j := i + 1; j < len(k); j++ {
			if k[j] < k[i] {
				k[i], k[j] = k[j], k[i]
			}
		}
	}
	return k
}

// start runs busybox applet args in sandbox s, in the background, until
// the test ends. Its output is returned as it grows.
func (it *itest) start(s *Sandbox, args ...string) *testenv.SyncBuffer {
	it.t.Helper()
	out := &testenv.SyncBuffer{}
	cmd := exec.Command("nsenter", append([]string{"--net=" + s.NetNSPath, "busybox"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		it.t.Fatal(err)
	}
	it.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return out
}

// httpd serves, in sandbox s on port, a file "id" holding s's id.
func (it *itest) httpd(s *Sandbox, port int) {
	dir := it.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "id"), []byte(s.ID), 0o644); err != nil {
		it.t.Fatal(err)
	}
	it.start(s, "httpd", "-f", "-p", fmt.Sprint(port), "-h", dir)
}

// fetch runs wget in sandbox s with its hosts file on /etc/hosts (a
// private mount namespace, as the runtime will do) and returns the body.
func (it *itest) fetch(s *Sandbox, url string) (string, error) {
	script := fmt.Sprintf("mount --bind %s /etc/hosts && exec busybox wget -q -O - %s", s.HostsPath, url)
	cmd := exec.Command("timeout", "5", "nsenter", "--net="+s.NetNSPath, "unshare", "-m", "sh", "-c", script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s from %s: %v: %s", url, s.ID, err, errb.String())
	}
	return out.String(), nil
}

// eventually retries f for a few seconds: servers started in the
// background need a moment to listen. It is a readiness wait, not a
// performance assertion.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func (it *itest) wantBody(s *Sandbox, url, want string) {
	it.t.Helper()
	eventually(it.t, "fetch "+url+" from "+s.ID, func() error {
		got, err := it.fetch(s, url)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

func hostGet(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func nsRoutes(t *testing.T, s *Sandbox) []netlink.Route {
	t.Helper()
	f, err := os.Open(s.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := netlink.NewHandleAt(netns.NsHandle(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func hasDefault(rs []netlink.Route) bool {
	for _, r := range rs {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			return true
		}
	}
	return false
}

func TestIntegrationNamesIsolationRecreate(t *testing.T) {
	it := newITest(t)
	it.network("front", false)
	it.network("back", false)
	web := it.sandbox("web-1", map[string][]string{"front": {"web", "proj-web-1", "www"}})
	client := it.sandbox("client-1", map[string][]string{"front": {"client"}})
	other := it.sandbox("other-1", map[string][]string{"back": {"other"}})
	it.httpd(web, 8080)

	// By service name, container name, alias and hostname.
	for _, name := range []string{"web", "proj-web-1", "www", "web-1"} {
		it.wantBody(client, "http://"+name+":8080/id", "web-1")
	}
	// Routes in the sandbox: default via the gateway.
	if !hasDefault(nsRoutes(t, client)) {
		t.Errorf("client has no default route")
	}

	// Isolation: forwarding is on (EnsureNetwork enabled it), so only
	// berth's rules keep the networks apart.
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("ip_forward = %q, want 1 after creating a non-internal network", b)
	}
	webIP := web.Endpoints[0].IPv4
	if _, err := it.fetch(other, fmt.Sprintf("http://%s:8080/id", webIP)); err == nil {
		t.Errorf("other-1 (network back) reached web-1 (network front) at %s", webIP)
	}
	if hosts, _ := os.ReadFile(other.HostsPath); strings.Contains(string(hosts), "www") {
		t.Errorf("other-1's hosts file lists a name of another network:\n%s", hosts)
	}
	// The host reaches the container directly.
	if got, err := hostGet(fmt.Sprintf("http://%s:8080/id", webIP)); err != nil || got != "web-1" {
		t.Errorf("host -> %s: %q, %v", webIP, got, err)
	}

	// Recreate: the name follows the new address in the running client's
	// hosts file.
	if err := it.m.DeleteSandbox(it.ctx, "web-1"); err != nil {
		t.Fatal(err)
	}
	if err := it.m.DeleteSandbox(it.ctx, "web-1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if hosts, _ := os.ReadFile(client.HostsPath); strings.Contains(string(hosts), "www") {
		t.Errorf("deleted container still in client's hosts file:\n%s", hosts)
	}
	web2 := it.sandbox("web-2", map[string][]string{"front": {"web", "proj-web-2", "www"}})
	if web2.Endpoints[0].IPv4 == webIP {
		t.Errorf("recreated container got the old address %s again", webIP)
	}
	it.httpd(web2, 8080)
	it.wantBody(client, "http://www:8080/id", "web-2")
}

func TestIntegrationPublishedPorts(t *testing.T) {
	it := newITest(t)
	n := it.network("pub", false)
	srv := it.sandbox("srv", map[string][]string{"pub": {"srv"}})
	peer := it.sandbox("peer", map[string][]string{"pub": {"peer"}})
	it.httpd(srv, 8080)
	udp := listenUDPIn(t, srv, 9999)

	fixed := freeTCPPort(t)
	got, err := it.m.Publish(it.ctx, "srv", []PortMapping{
		{ContainerPort: 8080},                  // random
		{HostPort: fixed, ContainerPort: 8080}, // fixed
		{ContainerPort: 9999, Protocol: "udp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].HostPort == 0 || got[1].HostPort != fixed || got[2].HostPort == 0 || got[2].Protocol != "udp" {
		t.Fatalf("Publish = %+v", got)
	}
	random := got[0].HostPort
	if ports, err := it.m.Ports(it.ctx, "srv"); err != nil || len(ports) != 3 || ports[0] != got[0] {
		t.Errorf("Ports = %+v, %v; want %+v", ports, err, got)
	}
	for _, url := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/id", random),
		fmt.Sprintf("http://127.0.0.1:%d/id", fixed),
		fmt.Sprintf("http://%s:%d/id", n.Gateway, fixed), // a host address
	} {
		eventually(t, "host "+url, func() error {
			b, err := hostGet(url)
			if err == nil && b != "srv" {
				err = fmt.Errorf("body %q", b)
			}
			return err
		})
	}
	// Hairpin: a peer on the same bridge through the host address.
	it.wantBody(peer, fmt.Sprintf("http://%s:%d/id", n.Gateway, fixed), "srv")
	// A container of another network through the host address (isolation
	// lets published ports through, as with Docker).
	it.network("pub-other", false)
	far := it.sandbox("far", map[string][]string{"pub-other": {"far"}})
	it.wantBody(far, fmt.Sprintf("http://%s:%d/id", n.Gateway, fixed), "srv")

	// UDP.
	eventually(t, "udp", func() error {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", got[2].HostPort))
		if err != nil {
			return err
		}
		c.Write([]byte("ping-udp"))
		c.Close()
		udp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 64)
		n, _, err := udp.ReadFrom(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != "ping-udp" {
			return fmt.Errorf("received %q", buf[:n])
		}
		return nil
	})

	// Idempotent: publishing again keeps the random port.
	again, err := it.m.Publish(it.ctx, "srv", []PortMapping{{ContainerPort: 8080}, {HostPort: fixed, ContainerPort: 8080}, {ContainerPort: 9999, Protocol: "udp"}})
	if err != nil || again[0].HostPort != random {
		t.Errorf("Publish again = %+v, %v; want random port %d kept", again, err, random)
	}

	// Conflicts: another berth mapping, another program.
	if _, err := it.m.Publish(it.ctx, "peer", []PortMapping{{HostPort: fixed, ContainerPort: 80}}); !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "srv") {
		t.Errorf("publish of a berth-taken port: %v, want ErrPortInUse naming srv", err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := uint16(l.Addr().(*net.TCPAddr).Port)
	if _, err := it.m.Publish(it.ctx, "peer", []PortMapping{{HostPort: busy, ContainerPort: 80}}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("publish of a port a program listens on: %v, want ErrPortInUse", err)
	}
	if ports, _ := it.m.Ports(it.ctx, "peer"); len(ports) != 0 {
		t.Errorf("refused Publish left ports %+v", ports)
	}

	// Unpublish: the rules go, the host port no longer answers.
	if _, err := it.m.Publish(it.ctx, "srv", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := hostGet(fmt.Sprintf("http://127.0.0.1:%d/id", fixed)); err == nil {
		t.Errorf("port %d still answers after unpublish", fixed)
	}
}

// listenUDPIn opens a UDP socket on port inside sandbox s (busybox nc has
// no UDP): a locked thread enters the namespace, makes the socket and
// dies with the goroutine; the socket stays in the namespace.
func listenUDPIn(t *testing.T, s *Sandbox, port int) net.PacketConn {
	t.Helper()
	type result struct {
		c   net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			ch <- result{err: err}
			return
		}
		f, err := os.Open(s.NetNSPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

func freeTCPPort(t *testing.T) uint16 {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func TestIntegrationInternal(t *testing.T) {
	it := newITest(t)
	n := it.network("secret", true)
	a := it.sandbox("in-a", map[string][]string{"secret": {"a"}})
	b := it.sandbox("in-b", map[string][]string{"secret": {"b"}})
	if hasDefault(nsRoutes(t, a)) {
		t.Errorf("sandbox on an internal network has a default route: %+v", nsRoutes(t, a))
	}
	it.httpd(b, 8080)
	it.wantBody(a, "http://b:8080/id", "in-b")
	// Published ports of internal-only containers are ignored, as Docker does.
	if got, err := it.m.Publish(it.ctx, "in-b", []PortMapping{{ContainerPort: 8080}}); err != nil || len(got) != 0 {
		t.Errorf("Publish on internal = %+v, %v; want nothing", got, err)
	}
	// A published port of another network, through the internal bridge's
	// host address: DNAT happens, forwarding out of the internal network
	// does not.
	it.network("outside", false)
	pub := it.sandbox("pub-out", map[string][]string{"outside": {"pub"}})
	it.httpd(pub, 8080)
	ports, err := it.m.Publish(it.ctx, "pub-out", []PortMapping{{ContainerPort: 8080}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "published port from the host", func() error {
		_, err := hostGet(fmt.Sprintf("http://127.0.0.1:%d/id", ports[0].HostPort))
		return err
	})
	if got, err := it.fetch(b, fmt.Sprintf("http://%s:%d/id", n.Gateway, ports[0].HostPort)); err == nil {
		t.Errorf("internal container reached a published port of another network: %q", got)
	}
	// A second, external network gives the default route.
	if _, err := it.m.Attach(it.ctx, "in-a", Endpoint{Network: "outside"}); err != nil {
		t.Fatal(err)
	}
	if !hasDefault(nsRoutes(t, a)) {
		t.Errorf("no default route after attaching a non-internal network")
	}
}

// failingDP fails setDefaultRoute, after the veth pair exists: an attach
// that breaks half way.
type failingDP struct{ linuxDataplane }

func (failingDP) setDefaultRoute(string, *EndpointInfo) error { return errors.New("injected failure") }

func TestIntegrationFailedAttachLeavesNothing(t *testing.T) {
	it := newITest(t)
	m, err := newManager(it.m.opts, failingDP{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.EnsureNetwork(it.ctx, NetworkSpec{Name: "half", Subnet: "10.231.77.0/24", IPRange: "10.231.77.128/25"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateSandbox(it.ctx, "c1", SandboxSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(it.ctx, "c1", Endpoint{Network: "half"}); err == nil {
		t.Fatal("attach with an injected failure succeeded")
	}
	if _, err := netlink.LinkByName(vethName("c1", n.ID)); err == nil {
		t.Errorf("veth of the failed attach is still there")
	}
	if leases, _ := os.ReadDir(m.leaseDir("half")); len(leases) > 2 { // .lock, .last_reserved
		t.Errorf("lease of the failed attach is still there: %v", leases)
	}
	s, _ := m.Sandbox(it.ctx, "c1")
	if len(s.Endpoints) != 0 {
		t.Errorf("failed attach recorded: %+v", s.Endpoints)
	}
	// Bad input on the real thing: duplicate address, address outside the
	// subnet, unknown network. Each a clear error, nothing created.
	if _, err := it.m.Attach(it.ctx, "c1", Endpoint{Network: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown network: %v", err)
	}
	if _, err := it.m.Attach(it.ctx, "c1", Endpoint{Network: "half", IPv4Address: "10.231.78.5"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("address outside the subnet: %v", err)
	}
	if _, err := it.m.CreateSandbox(it.ctx, "c2", SandboxSpec{}); err != nil {
		t.Fatal(err)
	}
	ep, err := it.m.Attach(it.ctx, "c1", Endpoint{Network: "half", IPv4Address: "10.231.77.9", MacAddress: "02:00:00:aa:bb:cc"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.IPv4.String() != "10.231.77.9" || ep.MacAddress != "02:00:00:aa:bb:cc" {
		t.Errorf("endpoint = %+v, want ipv4_address and mac_address honoured", ep)
	}
	if _, err := it.m.Attach(it.ctx, "c2", Endpoint{Network: "half", IPv4Address: "10.231.77.9"}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("duplicate address: %v, want ErrInUse naming c1", err)
	}
	ep2, err := it.m.Attach(it.ctx, "c2", Endpoint{Network: "half"})
	if err != nil {
		t.Fatal(err)
	}
	if !netip.MustParsePrefix("10.231.77.128/25").Contains(ep2.IPv4) {
		t.Errorf("dynamic address %s outside ip_range", ep2.IPv4)
	}
	if err := it.m.RemoveNetwork(it.ctx, "half"); !errors.Is(err, ErrInUse) {
		t.Errorf("remove of a network in use: %v, want ErrInUse", err)
	}
	if _, err := it.m.EnsureNetwork(it.ctx, NetworkSpec{Name: "overlap", Subnet: "10.231.77.0/25"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("overlapping subnet: %v", err)
	}
	for _, id := range []string{"c1", "c2"} {
		if err := it.m.DeleteSandbox(it.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := it.m.RemoveNetwork(it.ctx, "half"); err != nil {
		t.Fatal(err)
	}
}

// network_mode none: a sandbox without endpoints has lo, up, and nothing
// else; a second process joining the same path (container:NAME) sees the
// same namespace.
func TestIntegrationModeNone(t *testing.T) {
	it := newITest(t)
	s, err := it.m.CreateSandbox(it.ctx, "lonely", SandboxSpec{Hostname: "lonely"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(s.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := netlink.NewHandleAt(netns.NsHandle(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("links in a none sandbox: %+v", links)
	}
	it.httpd(s, 8081)
	eventually(t, "joined namespace reaches localhost", func() error {
		b, err := exec.Command("timeout", "5", "nsenter", "--net="+it.m.NetNSPath("lonely"), "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8081/id").Output()
		if err != nil {
			return err
		}
		if string(b) != "lonely" {
			return fmt.Errorf("got %q", b)
		}
		return nil
	})
}
