package netplug

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linuxDataplane does the kernel work with netlink (links, addresses,
// routes), nftables (rules) and plain syscalls (namespaces, sysctls,
// sockets). It is stateless.
type linuxDataplane struct{}

func newDataplane(*Manager) dataplane { return linuxDataplane{} }

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV)
}

func (linuxDataplane) ensureBridge(n *Network) error {
	l, err := netlink.LinkByName(n.Bridge)
	if isNotFound(err) {
		// Made again after a reboot (or a manual ip link del): if
		// something else has routed the subnet since, a second bridge
		// with it would steal or lose its traffic.
		if dev, taken := routedElsewhere(n.Subnet); taken {
			return fmt.Errorf("subnet %s is now routed via %s (something else took it while the bridge was gone): remove that, or remove and re-create network %s: %w", n.Subnet, dev, n.Name, ErrAlreadyExists)
		}
		la := netlink.NewLinkAttrs()
		la.Name = n.Bridge
		la.MTU = n.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create: %w", err)
		}
		l, err = netlink.LinkByName(n.Bridge)
	}
	if err != nil {
		return err
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("%s exists but is a %s, not a bridge: %w", n.Bridge, l.Type(), ErrAlreadyExists)
	}
	if n.MTU != 0 && l.Attrs().MTU != n.MTU {
		if err := netlink.LinkSetMTU(l, n.MTU); err != nil {
			return fmt.Errorf("set mtu %d: %w", n.MTU, err)
		}
	}
	addrs, err := dumpRetry(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	want := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	have := false
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p == want {
			have = true
		}
	}
	if !have {
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(want)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s: %w", want, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	if !n.Internal {
		// Lets 127.0.0.1 be DNATed out of this bridge (KERNEL-NOTES §5).
		if err := writeSysctl("net/ipv4/conf/"+n.Bridge+"/route_localnet", "1"); err != nil {
			return err
		}
	}
	return nil
}

func (dp linuxDataplane) deleteBridge(name string) error { return dp.deleteLink(name) }

func (linuxDataplane) deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// vethGoneWait bounds how long deleteVeth waits for the kernel to delete
// a veth with its namespace. Measured here: 20 namespaces dropped at once
// took their host ends with them in ≈ 3 ms, while 20 LinkDel calls, which
// the kernel runs one at a time, took ≈ 330 ms.
const vethGoneWait = 200 * time.Millisecond

func (dp linuxDataplane) deleteVeth(name string) error {
	deadline := time.Now().Add(vethGoneWait)
	for {
		_, err := netlink.LinkByName(name)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			return dp.deleteLink(name)
		}
		time.Sleep(time.Millisecond)
	}
}

func (linuxDataplane) routes() ([]netip.Prefix, error) {
	rs, err := dumpRetry(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	// Routes through berth bridges count too: they may belong to another
	// root (the networks of this root are checked from state anyway).
	var out []netip.Prefix
	for _, r := range rs {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 && !p.Addr().IsLoopback() {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

func (linuxDataplane) addEndpoint(nsPath string, n *Network, ep *EndpointInfo) (err error) {
	nsf, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer nsf.Close()
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = ep.HostVeth
	la.MasterIndex = br.Attrs().Index
	la.MTU = n.MTU
	veth := &netlink.Veth{LinkAttrs: la, PeerName: ep.Interface, PeerNamespace: netlink.NsFd(nsf.Fd())}
	if n.MTU != 0 {
		veth.PeerMTU = uint32(n.MTU)
	}
	if ep.MacAddress != "" {
		if veth.PeerHardwareAddr, err = net.ParseMAC(ep.MacAddress); err != nil {
			return err
		}
	}
	if err := netlink.LinkAdd(veth); errors.Is(err, unix.EEXIST) {
		// A leftover of an interrupted attach: the name is ours.
		if derr := (linuxDataplane{}).deleteLink(ep.HostVeth); derr != nil {
			return derr
		}
		err = netlink.LinkAdd(veth)
		if err != nil {
			return fmt.Errorf("create veth %s: %w", ep.HostVeth, err)
		}
	} else if err != nil {
		return fmt.Errorf("create veth %s: %w", ep.HostVeth, err)
	}
	defer func() {
		if err != nil {
			(linuxDataplane{}).deleteLink(ep.HostVeth)
		}
	}()
	host, err := netlink.LinkByName(ep.HostVeth)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", ep.HostVeth, err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsf.Fd()))
	if err != nil {
		return fmt.Errorf("netlink in namespace: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(ep.Interface)
	if err != nil {
		return fmt.Errorf("%s in namespace: %w", ep.Interface, err)
	}
	addr := netip.PrefixFrom(ep.IPv4, ep.PrefixLen)
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", addr, ep.Interface, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", ep.Interface, err)
	}
	ep.MacAddress = l.Attrs().HardwareAddr.String()
	return nil
}

func (linuxDataplane) setDefaultRoute(nsPath string, ep *EndpointInfo) error {
	nsf, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer nsf.Close()
	h, err := netlink.NewHandleAt(netns.NsHandle(nsf.Fd()))
	if err != nil {
		return fmt.Errorf("netlink in namespace: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(ep.Interface)
	if err != nil {
		return fmt.Errorf("%s in namespace: %w", ep.Interface, err)
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(ep.Gateway.AsSlice()), Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("default route via %s dev %s: %w", ep.Gateway, ep.Interface, err)
	}
	return nil
}

func (linuxDataplane) enableForwarding() (bool, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(b)) == "1" {
		return false, nil
	}
	return true, writeSysctl("net/ipv4/ip_forward", "1")
}

func writeSysctl(key, val string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(val), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), val, err)
	}
	return nil
}

func (linuxDataplane) portFree(proto string, ip netip.Addr, port uint16) error {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	addr := netip.AddrPortFrom(ip, port).String()
	var err error
	if proto == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("in use by another program on the host: %w", ErrPortInUse)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("host_ip %s is not an address of this host: %w", ip, ErrInvalidArgument)
	default:
		return fmt.Errorf("test bind: %w", err)
	}
}

func (linuxDataplane) freePort(proto string, ip netip.Addr) (uint16, error) {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	addr := netip.AddrPortFrom(ip, 0).String()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// routedElsewhere reports the device of a route on the host as specific
// as subnet or more, inside it, if any.
func routedElsewhere(subnet netip.Prefix) (string, bool) {
	routes, err := dumpRetry(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return "", false
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue // default route
		}
		// A wider route (a VPN's 10.0.0.0/8) loses to the bridge's more
		// specific one; an equal or narrower one inside the subnet wins
		// or ties, and that is the conflict.
		p, ok := prefixOf(r.Dst)
		if !ok || p.Bits() < subnet.Bits() || !subnet.Contains(p.Addr()) {
			continue
		}
		name := fmt.Sprintf("ifindex %d", r.LinkIndex)
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		return name, true
	}
	return "", false
}

// dumpRetry runs a netlink dump again when the kernel interrupted it
// because the table changed meanwhile (ErrDumpInterrupted: the results may
// be incomplete), as happens while veths of other containers come and go.
func dumpRetry[T any](list func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range 10 {
		if out, err = list(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
