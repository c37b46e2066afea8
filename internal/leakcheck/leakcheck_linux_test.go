package leakcheck

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/vishvananda/netlink"
)

// A bridge with an address, made and removed between two snapshots, is
// reported while it exists and not after.
func TestLeakedFindsLink(t *testing.T) {
	testenv.RequireRoot(t)
	before, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = "bthleakchk0"
	br := &netlink.Bridge{LinkAttrs: la}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(br) })
	addr, _ := netlink.ParseAddr("10.235.0.1/24")
	if err := netlink.AddrAdd(br, addr); err != nil {
		t.Fatal(err)
	}
	during, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	leaked := before.Leaked(during, Contains("bthleakchk0"))
	for _, want := range []string{"link bthleakchk0 bridge", "addr bthleakchk0 10.235.0.1/24"} {
		if !slices.Contains(leaked, want) {
			t.Errorf("leaked = %v, want it to include %q", leaked, want)
		}
	}
	if err := netlink.LinkDel(br); err != nil {
		t.Fatal(err)
	}
	after, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	if l := before.Leaked(after, Contains("bthleakchk0")); len(l) != 0 {
		t.Errorf("after removal: %v", l)
	}
}
