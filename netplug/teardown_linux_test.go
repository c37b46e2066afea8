package netplug

import (
	"errors"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// Teardown on the kernel: the bridges of networks whose sandboxes all go
// are deleted with them; a network another sandbox is on stays whole.
func TestIntegrationTeardown(t *testing.T) {
	it := newITest(t)
	a := it.network("tda", false)
	b := it.network("tdb", false)
	s1 := it.sandbox("td1", map[string][]string{"tda": {"one"}, "tdb": {"one"}})
	it.sandbox("td2", map[string][]string{"tda": {"two"}})
	it.sandbox("td3", map[string][]string{"tdb": {"three"}})
	s4 := it.sandbox("td4", map[string][]string{"tdb": {"four"}}) // not in the batch
	if _, err := it.m.Publish(it.ctx, "td1", []PortMapping{{ContainerPort: 80}}); err != nil {
		t.Fatal(err)
	}
	netErrs, err := it.m.Teardown(it.ctx, []string{"td1", "td2", "td3"}, []string{"tda", "tdb"})
	if err != nil {
		t.Fatal(err)
	}
	if len(netErrs) != 1 || !errors.Is(netErrs["tdb"], ErrInUse) {
		t.Errorf("network errors %v, want tdb in use (td4)", netErrs)
	}
	if _, err := netlink.LinkByName(a.Bridge); err == nil {
		t.Errorf("bridge %s of tda left", a.Bridge)
	}
	if _, err := netlink.LinkByName(b.Bridge); err != nil {
		t.Errorf("bridge %s of tdb (td4 is on it): %v", b.Bridge, err)
	}
	for _, ep := range s1.Endpoints {
		if _, err := netlink.LinkByName(ep.HostVeth); err == nil {
			t.Errorf("veth %s of td1 left", ep.HostVeth)
		}
	}
	if _, err := os.Stat(s1.NetNSPath); !os.IsNotExist(err) {
		t.Errorf("namespace of td1: %v", err)
	}
	if _, err := netlink.LinkByName(s4.Endpoints[0].HostVeth); err != nil {
		t.Errorf("veth of td4: %v", err)
	}
	if _, err := it.m.InspectNetwork(it.ctx, "tda"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tda after teardown: %v", err)
	}
	// The rest: nothing of the test is left (the leak check judges).
	if netErrs, err := it.m.Teardown(it.ctx, []string{"td4"}, []string{"tdb", "tda"}); err != nil || len(netErrs) != 0 {
		t.Fatalf("second teardown: %v, %v", netErrs, err)
	}
}

// ReleaseNetNS drops only the namespace handle: the kernel takes the
// veth with the namespace, the sandbox's state stays until Teardown, and
// a sandbox released but not torn down is made anew by CreateSandbox.
func TestIntegrationReleaseNetNS(t *testing.T) {
	it := newITest(t)
	it.network("rla", false)
	s := it.sandbox("rl1", map[string][]string{"rla": {"one"}})
	it.sandbox("rl2", map[string][]string{"rla": {"two"}})
	for range 2 { // the second time: nothing left to release, still fine
		if err := it.m.ReleaseNetNS(it.ctx, "rl1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(s.NetNSPath); !os.IsNotExist(err) {
		t.Errorf("namespace handle after release: %v", err)
	}
	eventually(t, "veth gone with the namespace", func() error {
		if _, err := netlink.LinkByName(s.Endpoints[0].HostVeth); err == nil {
			return errors.New("still there")
		}
		return nil
	})
	if _, err := it.m.Sandbox(it.ctx, "rl1"); err != nil {
		t.Errorf("state after release: %v", err)
	}
	again, err := it.m.CreateSandbox(it.ctx, "rl1", SandboxSpec{Hostname: "rl1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(again.NetNSPath); err != nil {
		t.Errorf("released sandbox not made anew: %v", err)
	}
	if netErrs, err := it.m.Teardown(it.ctx, []string{"rl1", "rl2"}, []string{"rla"}); err != nil || len(netErrs) != 0 {
		t.Fatalf("teardown: %v, %v", netErrs, err)
	}
}
