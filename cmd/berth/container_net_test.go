package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/netplug"
)

func TestParseNetOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o       netOptions
		mode    string
		nets    string
		ports   string
		wantErr string
	}{
		{o: netOptions{}, mode: "bridge", nets: "bridge"},
		{o: netOptions{networks: []string{"a", "b"}, publish: []string{"127.0.0.1:8080:80", "9000-9001:90-91/udp", "53/udp", "127.0.0.1::81", "7000-7010:82"}},
			mode: "bridge", nets: "a,b",
			ports: "127.0.0.1:8080-0->80/tcp :9000-0->90/udp :9001-0->91/udp :0-0->53/udp 127.0.0.1:0-0->81/tcp :7000-7010->82/tcp"},
		{o: netOptions{networks: []string{"none"}}, mode: "none"},
		{o: netOptions{networks: []string{"host"}, publish: []string{"80"}}, mode: "host", ports: ":0-0->80/tcp"},
		{o: netOptions{networks: []string{"container:db"}}, mode: "container"},
		{o: netOptions{networks: []string{"container:db"}, publish: []string{"80"}}, wantErr: "conflicting options: -p"},
		{o: netOptions{networks: []string{"none"}, ip: "10.0.0.2"}, wantErr: "conflicting options: --ip"},
		{o: netOptions{networks: []string{"none", "a"}}, wantErr: "cannot be combined"},
		{o: netOptions{networks: []string{"service:db"}}, wantErr: "use container:NAME"},
		{o: netOptions{publish: []string{"80:80:80:80"}}, wantErr: "too many colons"},
		{o: netOptions{publish: []string{"80/sctp"}}, wantErr: "not supported"},
		{o: netOptions{ip: "nope"}, wantErr: "--ip"},
		{o: netOptions{dns: []string{"x"}}, wantErr: "--dns"},
		{o: netOptions{addHosts: []string{"justhost"}}, wantErr: "--add-host"},
	}
	for _, tt := range tests {
		p, err := parseNetOptions(&tt.o)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error %v, want %q", tt.o, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.o, err)
			continue
		}
		var ports []string
		for _, m := range p.ports {
			ports = append(ports, fmt.Sprintf("%s:%d-%d->%d/%s", m.HostIP, m.HostPort, m.HostPortEnd, m.ContainerPort, m.Protocol))
		}
		if p.mode != tt.mode || strings.Join(p.networks, ",") != tt.nets || strings.Join(ports, " ") != tt.ports {
			t.Errorf("%+v: mode %s nets %v ports %q", tt.o, p.mode, p.networks, strings.Join(ports, " "))
		}
	}
	p, err := parseNetOptions(&netOptions{addHosts: []string{"a:1.2.3.4", "b=::1", "gw:host-gateway"}, dnsOpts: []string{"ndots:2"}})
	if err != nil || fmt.Sprint(p.sandbox.ExtraHosts) != "[{a 1.2.3.4} {b ::1} {gw host-gateway}]" || p.sandbox.DNSOptions[0] != "ndots:2" {
		t.Errorf("add-host/dns: %+v %v", p.sandbox, err)
	}
}

func TestPortLines(t *testing.T) {
	t.Parallel()
	ports := []netplug.PortMapping{{HostPort: 32768, ContainerPort: 80, Protocol: "tcp"}, {HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		{HostPort: 8053, ContainerPort: 53}}
	tests := []struct{ filter, want, wantErr string }{
		{"", "53/tcp -> 0.0.0.0:8053|53/udp -> 127.0.0.1:5353|80/tcp -> 0.0.0.0:32768", ""},
		{"80", "0.0.0.0:32768", ""},
		{"53/udp", "127.0.0.1:5353", ""},
		{"81", "", "no public port '81/tcp' published"},
		{"x", "", "invalid port"},
	}
	for _, tt := range tests {
		got, err := portLines(ports, tt.filter)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v", tt.filter, err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != tt.want {
			t.Errorf("%q: %q, %v", tt.filter, got, err)
		}
	}
	if got := exposedPorts([]string{"80/tcp", "53/udp", "8000-8001/tcp", "443"}, []netplug.PortMapping{{ContainerPort: 80}}); fmt.Sprint(got) != "[{ 0 0 53 udp} { 0 0 443 tcp}]" {
		t.Errorf("exposedPorts = %v", got)
	}
}

// newNetTestRoot makes a root and run dir for a test that runs containers
// with networks: subnets from pool, a leak check of bridges, veths, netns
// handles and the root's nft table, and a cleanup that removes every
// container and network of the root.
func newNetTestRoot(t *testing.T, pool string) string {
	t.Helper()
	root := t.TempDir()
	run := filepath.Join(root, "run")
	t.Setenv("BERTH_RUN_DIR", run)
	t.Setenv("BERTH_NETWORK_POOL", pool)
	table := netplug.DefaultTable(filepath.Join(root, "networks"))
	// Every berth bridge and veth in CI, where packages run one at a time;
	// elsewhere only this root's objects (table, netns handles, addresses
	// and routes of the pool), since other berth tests may run beside.
	filter := leakcheck.Contains(table, run, "10.236.") // every subnet of these tests is in 10.236.0.0/16
	if os.Getenv("CI") == "true" {
		filter = leakcheck.Contains(netplug.BridgePrefix, netplug.VethPrefix, table, run)
	}
	leakcheck.Check(t, filter)
	t.Cleanup(func() {
		out, _, _ := berthCLI(t, root, nil, "container", "ps", "-aq", "--no-trunc")
		for _, id := range strings.Fields(out) {
			berthCLI(t, root, nil, "container", "rm", "-f", id)
		}
		out, _, _ = berthCLI(t, root, nil, "network", "ls", "-q")
		for _, n := range strings.Fields(out) {
			berthCLI(t, root, nil, "network", "rm", n)
		}
	})
	return root
}

// hostGetRetry fetches url from the host until it answers (the container's
// httpd may not listen yet).
func hostGetRetry(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	var last error
	for range 50 {
		resp, err := c.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				return string(b)
			}
			last = fmt.Errorf("status %d: %v", resp.StatusCode, err)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// freeLoopbackPort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return strings.Join(out, ",")
}

// Single containers on networks: names and aliases between containers,
// published ports from the host (fixed, random, conflicting), none,
// container:NAME, inspect and port, network rm refused while in use, and
// nothing left after rm (leak check).
func TestContainerNetworks(t *testing.T) {
	testenv.RequireRoot(t)
	root := newNetTestRoot(t, "10.236.32.0/20")
	run := os.Getenv("BERTH_RUN_DIR")
	loadBusybox(t, root, nil)
	httpd := func(body string) []string {
		return []string{"busybox", "sh", "-c", "mkdir -p /www && echo " + body + " > /www/index.html && exec httpd -f -p 80 -h /www"}
	}
	// fetch gets http://HOST/ with HOST looked up in /etc/hosts by awk:
	// the static glibc busybox of the test image crashes (SIGSEGV) in
	// its resolver and in wget to a non-loopback address, so this is nc.
	// The hosts file is what berth provides for name resolution.
	fetch := func(host string) []string {
		return []string{"busybox", "sh", "-c", "ip=$(awk -v n=" + host + " '{for(i=2;i<=NF;i++) if($i==n){print $1; exit}}' /etc/hosts); " +
			"[ -n \"$ip\" ] || { echo " + host + " not in /etc/hosts >&2; cat /etc/hosts >&2; exit 2; }; " +
			"for i in $(seq 50); do out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $ip 80) && [ -n \"$out\" ] && { echo \"$out\" | tail -n 1; exit 0; }; sleep 0.1; done; exit 1"}
	}
	runArgs := func(flags []string, cmd []string) []string {
		return append(append([]string{"container", "run"}, flags...), cmd...)
	}

	mustBerth(t, root, "network", "create", "--subnet", "10.236.1.0/24", "tnet")
	mustBerth(t, root, runArgs([]string{"-d", "--name", "srv", "--network", "tnet", "--network-alias", "web"}, httpd("hello-srv"))...)
	for _, host := range []string{"srv", "web"} {
		if out := mustBerth(t, root, runArgs([]string{"--rm", "--network", "tnet"}, fetch(host))...); out != "hello-srv\n" {
			t.Errorf("fetch http://%s/ from a peer: %q", host, out)
		}
	}
	if out := mustBerth(t, root, runArgs([]string{"--rm", "--network", "container:srv"}, fetch("localhost"))...); out != "hello-srv\n" {
		t.Errorf("--network container:srv: %q", out)
	}
	var insp []struct {
		Name            string
		NetworkSettings networkSettings
	}
	if err := json.Unmarshal([]byte(mustBerth(t, root, "container", "inspect", "srv")), &insp); err != nil {
		t.Fatal(err)
	}
	ep := insp[0].NetworkSettings.Networks["tnet"]
	if ep == nil || !strings.HasPrefix(ep.IPAddress, "10.236.1.") || ep.Gateway != "10.236.1.1" || ep.IPPrefixLen != 24 || !strings.Contains(strings.Join(ep.Aliases, ","), "web") {
		t.Errorf("inspect srv NetworkSettings = %+v, endpoint %+v", insp[0].NetworkSettings, ep)
	}

	// A fixed port on 127.0.0.1 on the default network "bridge".
	port := freeLoopbackPort(t)
	mustBerth(t, root, runArgs([]string{"-d", "--name", "pub", "-p", fmt.Sprintf("127.0.0.1:%d:80", port)}, httpd("hello-pub"))...)
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello-pub\n" {
		t.Errorf("published port: %q", got)
	}
	if out := mustBerth(t, root, "container", "port", "pub"); out != fmt.Sprintf("80/tcp -> 127.0.0.1:%d\n", port) {
		t.Errorf("port pub = %q", out)
	}
	if out := mustBerth(t, root, "network", "ls", "-q"); out != "bridge\ntnet\n" {
		t.Errorf("networks after a run without --network: %q", out)
	}

	// A random host port.
	mustBerth(t, root, runArgs([]string{"-d", "--name", "rnd", "-p", "80"}, httpd("hello-rnd"))...)
	out := mustBerth(t, root, "container", "port", "rnd", "80/tcp")
	hp, ok := strings.CutPrefix(strings.TrimSpace(out), "0.0.0.0:")
	if n, err := strconv.Atoi(hp); !ok || err != nil || n == 0 {
		t.Fatalf("port rnd 80/tcp = %q", out)
	}
	if got := hostGetRetry(t, "http://127.0.0.1:"+hp+"/"); got != "hello-rnd\n" {
		t.Errorf("random port %s: %q", hp, got)
	}
	if all := mustBerth(t, root, "container", "port", "rnd"); all != "80/tcp -> 0.0.0.0:"+hp+"\n" {
		t.Errorf("port rnd = %q", all)
	}
	if _, errOut, code := berthCLI(t, root, nil, "container", "port", "rnd", "81"); code != 1 || !strings.Contains(errOut, "no public port '81/tcp' published for rnd") {
		t.Errorf("port rnd 81: exit %d, %q", code, errOut)
	}

	// Host ports already in use, by a program and by another container:
	// refused before anything starts, nothing left.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	netnsBefore, sbBefore := dirNames(t, filepath.Join(run, "netns")), dirNames(t, filepath.Join(root, "networks", ".sandboxes"))
	for _, p := range []int{busy, port} {
		_, errOut, code := berthCLI(t, root, nil, runArgs([]string{"-d", "--name", "clash", "-p", fmt.Sprintf("127.0.0.1:%d:80", p)}, []string{"busybox", "sleep", "60"})...)
		if code != 125 || !strings.Contains(errOut, fmt.Sprintf("127.0.0.1:%d/tcp", p)) || !strings.Contains(errOut, "in use") {
			t.Errorf("port %d in use: exit %d, %q", p, code, errOut)
		}
		if ps := mustBerth(t, root, "container", "ps", "-a"); strings.Contains(ps, "clash") {
			t.Errorf("a container is left after a port conflict:\n%s", ps)
		}
		if a, b := dirNames(t, filepath.Join(run, "netns")), dirNames(t, filepath.Join(root, "networks", ".sandboxes")); a != netnsBefore || b != sbBefore {
			t.Errorf("sandbox left after a port conflict: netns %q (was %q), sandboxes %q (was %q)\n%s", a, netnsBefore, b, sbBefore, errOut)
		}
	}

	// none: only lo.
	if out := mustBerth(t, root, "container", "run", "--rm", "--network", "none", "busybox", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"); out != "lo\n" {
		t.Errorf("--network none interfaces: %q", out)
	}

	// A detached --rm container's sandbox goes with the next command.
	mustBerth(t, root, "container", "run", "-d", "--rm", "--name", "brief", "busybox", "true")
	for i := 0; strings.Contains(mustBerth(t, root, "container", "ps", "-a"), "brief"); i++ {
		if i > 100 {
			t.Fatal("run -d --rm: the container is not removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mustBerth(t, root, "container", "rm", "-f", "rnd")
	if sbs := dirNames(t, filepath.Join(root, "networks", ".sandboxes")); strings.Contains(sbs, "brief") || strings.Contains(sbs, ".rnd.") {
		t.Errorf("sandboxes after rm: %s", sbs)
	}

	if _, errOut, code := berthCLI(t, root, nil, "network", "rm", "tnet"); code == 0 || !strings.Contains(errOut, "active endpoints") {
		t.Errorf("network rm of a network in use: exit %d, %q", code, errOut)
	}
	mustBerth(t, root, "container", "rm", "-f", "srv", "pub")
	if n := dirNames(t, filepath.Join(run, "netns")); n != "" {
		t.Errorf("netns handles after rm: %s", n)
	}
	mustBerth(t, root, "network", "rm", "tnet", "bridge")
}
