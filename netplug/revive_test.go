package netplug

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
)

// A sandbox whose namespace is gone comes back as it was: addresses,
// aliases, MACs, interface order, extra hosts and host ports.
func TestReviveSandbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, dp := newFakeManager(t)
	for _, n := range []string{"front", "back"} {
		if _, err := m.EnsureNetwork(ctx, NetworkSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	spec := SandboxSpec{Hostname: "solo", ExtraHosts: []HostEntry{{Host: "db.example", IP: "10.1.2.3"}}}
	if _, err := m.CreateSandbox(ctx, "solo", spec); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []Endpoint{{Network: "front", Aliases: []string{"web"}, Priority: 2}, {Network: "back", Priority: 1}} {
		if _, err := m.Attach(ctx, "solo", ep); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Publish(ctx, "solo", []PortMapping{{ContainerPort: 80}, {HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 81, Protocol: "udp"}}); err != nil {
		t.Fatal(err)
	}
	before, err := m.Sandbox(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	// Live: nothing changes.
	if got, err := m.ReviveSandbox(ctx, "solo"); err != nil || !reflect.DeepEqual(got, before) {
		t.Fatalf("revive of a live sandbox: %v\n got %+v\nwant %+v", err, got, before)
	}
	// The reboot: namespace and veths gone.
	delete(dp.netns, before.NetNSPath)
	for _, ep := range before.Endpoints {
		delete(dp.links, ep.HostVeth)
	}
	after, err := m.ReviveSandbox(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	if !dp.netns[after.NetNSPath] {
		t.Error("namespace not made again")
	}
	strip := func(eps []EndpointInfo) []EndpointInfo {
		out := []EndpointInfo{}
		for _, e := range eps {
			e.HostVeth = "" // a new veth pair
			out = append(out, e)
		}
		return out
	}
	if !reflect.DeepEqual(strip(after.Endpoints), strip(before.Endpoints)) {
		t.Errorf("endpoints\n got %+v\nwant %+v", after.Endpoints, before.Endpoints)
	}
	if !reflect.DeepEqual(after.Ports, before.Ports) {
		t.Errorf("ports\n got %+v\nwant %+v", after.Ports, before.Ports)
	}
	if hosts, _ := os.ReadFile(after.HostsPath); !strings.Contains(string(hosts), "db.example") {
		t.Errorf("extra hosts lost:\n%s", hosts)
	}
	if _, err := m.ReviveSandbox(ctx, "nope"); err == nil {
		t.Error("revive of an unknown sandbox: no error")
	}
}
