package netplug

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// A network whose bridge is gone (a reboot) gets it back; if something
// else routes the subnet by then, EnsureNetwork refuses to make a second
// bridge with it and names the other device.
func TestIntegrationBridgeGoneSubnetTaken(t *testing.T) {
	it := newITest(t)
	n := it.network("gone", false)
	del := func() {
		if l, err := netlink.LinkByName(n.Bridge); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	del()
	if _, err := it.m.EnsureNetwork(it.ctx, NetworkSpec{Name: "gone"}); err != nil {
		t.Fatalf("bridge not made again: %v", err)
	}
	if _, err := netlink.LinkByName(n.Bridge); err != nil {
		t.Fatalf("bridge %s: %v", n.Bridge, err)
	}
	del()
	// Another device takes the subnet: a link with an address in it.
	la := netlink.NewLinkAttrs()
	la.Name = "bthtaker0"
	dummy := &netlink.Bridge{LinkAttrs: la} // (no dummy module on this kernel)
	if err := netlink.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(dummy) })
	_, ipn, _ := net.ParseCIDR(n.Subnet.String())
	ipn.IP[3] = 200
	if err := netlink.AddrAdd(dummy, &netlink.Addr{IPNet: ipn}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(dummy); err != nil {
		t.Fatal(err)
	}
	_, err := it.m.EnsureNetwork(it.ctx, NetworkSpec{Name: "gone"})
	if !errors.Is(err, ErrAlreadyExists) || !strings.Contains(err.Error(), "bthtaker0") || !strings.Contains(err.Error(), n.Subnet.String()) {
		t.Fatalf("EnsureNetwork with the subnet taken: %v", err)
	}
	if _, err := netlink.LinkByName(n.Bridge); err == nil {
		t.Errorf("a second bridge %s was made for a taken subnet", n.Bridge)
	}
	netlink.LinkDel(dummy)
}
