package netplug

import "net/netip"

// dataplane is everything that touches the kernel. The Linux implementation
// uses netlink, nftables and namespaces; unit tests use a fake, so the
// state, IPAM, naming and port logic of Manager is tested without root.
type dataplane interface {
	// ensureBridge creates or repairs the bridge of n: link, address, MTU,
	// up, and for non-internal networks route_localnet=1 (needed to DNAT
	// 127.0.0.1 to a container).
	ensureBridge(n *Network) error
	// deleteBridge removes a bridge; a missing one is not an error.
	deleteBridge(name string) error
	// routes lists the IPv4 destinations routed on the host (loopback and
	// default routes left out).
	routes() ([]netip.Prefix, error)

	// createNetNS makes a new network namespace, bind-mounted at path, with
	// lo up.
	createNetNS(path string) error
	// netnsAlive reports whether path is a mounted namespace handle (false
	// after a reboot).
	netnsAlive(path string) bool
	// deleteNetNS unmounts and removes path; a missing one is not an error.
	deleteNetNS(path string) error

	// addEndpoint creates the veth pair of ep (host end ep.HostVeth on the
	// bridge of n, container end ep.Interface in the namespace at nsPath),
	// with its address and MAC, up. It fills ep.MacAddress when empty. On
	// error nothing of it is left.
	addEndpoint(nsPath string, n *Network, ep *EndpointInfo) error
	// setDefaultRoute makes ep's gateway the namespace's default route.
	setDefaultRoute(nsPath string, ep *EndpointInfo) error
	// deleteLink removes a link of the host namespace; missing is done.
	deleteLink(name string) error
	// deleteVeth removes the host end of a sandbox's veth after its
	// namespace handle is gone (deleteNetNS). The kernel deletes the pair
	// with the namespace, many namespaces in one batch, so this mostly
	// waits a moment; an end still there after a short wait (something
	// else holds the namespace) is deleted by name.
	deleteVeth(name string) error

	// syncRules replaces berth's nftables table with rs (removes the table
	// when rs is empty).
	syncRules(rs ruleset) error
	// enableForwarding sets net.ipv4.ip_forward=1; changed says it was 0.
	enableForwarding() (changed bool, err error)

	// portFree checks that proto/ip:port can be bound by a program (a zero
	// ip means every address); an error wrapping ErrPortInUse otherwise.
	portFree(proto string, ip netip.Addr, port uint16) error
	// freePort asks the kernel for an unused port.
	freePort(proto string, ip netip.Addr) (uint16, error)
}
