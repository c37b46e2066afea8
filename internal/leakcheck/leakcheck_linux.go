package leakcheck

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// Snapshot is a set of object descriptions.
type Snapshot map[string]bool

// Take describes the objects that exist now in the caller's network and
// mount namespace. A netlink dump the kernel interrupted because links or
// routes changed meanwhile (veths of dying containers) is taken again.
func Take() (Snapshot, error) {
	for range 9 {
		s, err := take()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return s, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return take()
}

func take() (Snapshot, error) {
	s := Snapshot{}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		s["link "+l.Attrs().Name+" "+l.Type()] = true
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		s[fmt.Sprintf("addr %s %s", names[a.LinkIndex], a.IPNet)] = true
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		dst := "default"
		if r.Dst != nil {
			dst = r.Dst.String()
		}
		s[fmt.Sprintf("route %s dev %s", dst, names[r.LinkIndex])] = true
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list nft tables: %w", err)
	}
	for _, t := range tables {
		s["nft "+family(t.Family)+" "+t.Name] = true
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		s["mount "+fields[4]+" "+fields[sep+1]] = true
	}
	return s, sc.Err()
}

func family(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprint(int(f))
}

// Leaked lists, sorted, the objects in after that are not in s and that
// match selects (nil selects all).
func (s Snapshot) Leaked(after Snapshot, match func(string) bool) []string {
	var out []string
	for k := range after {
		if !s[k] && (match == nil || match(k)) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Check snapshots now and, when the test ends, reports every new object
// that match selects. Call it before creating anything, so its cleanup runs
// after the test's own. Deletion of some objects is asynchronous (a
// namespace's veths go when the kernel frees it), so a leak must persist
// for two seconds before it counts.
func Check(t testing.TB, match func(string) bool) {
	t.Helper()
	before, err := Take()
	if err != nil {
		t.Fatalf("leakcheck: %v", err)
	}
	t.Cleanup(func() {
		var leaked []string
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			after, err := Take()
			if err != nil {
				t.Errorf("leakcheck: %v", err)
				return
			}
			if leaked = before.Leaked(after, match); len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, l := range leaked {
			t.Errorf("leaked: %s", l)
		}
	})
}

// Contains returns a filter selecting objects whose description contains
// any of subs.
func Contains(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
}
