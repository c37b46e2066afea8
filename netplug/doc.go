// Package netplug owns container networking: Linux bridges and veth pairs
// (vishvananda/netlink), persistent network namespaces, IPAM with leases on
// disk, name resolution between containers, outbound NAT, isolation between
// networks and host port publishing (google/nftables, no nft binary).
//
// It does not start processes or know projects and services: the runtime
// joins the namespace (runtime.Spec.Namespaces.Network = Sandbox.NetNSPath)
// and bind-mounts Sandbox.HostsPath and Sandbox.ResolvConfPath on
// /etc/hosts and /etc/resolv.conf; the reconciler decides which sandbox is
// attached where, with which aliases (service name, container name,
// Compose aliases) and ports. Names and labels are opaque here.
//
// # Objects
//
//	network  one bridge "bth-<10 hex of the network id>" with the gateway
//	         address; route_localnet=1 on it unless internal
//	sandbox  one network namespace per container, bind-mounted at
//	         <RunDir>/netns/<id> (that directory is a shared mount point
//	         bound on itself, as `ip netns` does, so unmounts propagate);
//	         it outlives the container's processes, so a restarted
//	         container keeps its address
//	endpoint a veth pair "bthv<11 hex>" (host, on the bridge) ⇄ ethN (in the
//	         sandbox, N in attach order), an address from IPAM, and the
//	         default route when it is the highest-priority non-internal
//	         network of the sandbox
//
// Every kernel name derives from ids by hashing, so DeleteSandbox and
// RemoveNetwork find what an interrupted run left without any state.
//
// # On disk
//
//	<Root>/.lock                   flock: exclusive for network changes, shared for sandbox changes
//	<Root>/.locks/sb-NN            flocks, one change per sandbox at a time (striped by id hash)
//	<Root>/.derived.lock           flock around hosts files, the nft table and host-port choice
//	<Root>/<network>/network.json  versioned, atomic (temp + fsync + rename)
//	<Root>/<network>/leases/<ip>   one file per address holding the owner
//	                               (sandbox id), made with O_EXCL; .lock, .last_reserved
//	<Root>/.sandboxes/<id>.json    endpoints, ports, spec of a sandbox
//	<RunDir>/netns/<id>            namespace handle (gone after a reboot)
//	<RunDir>/netplug/<id>/hosts, resolv.conf
//
// Order of writes: EnsureNetwork writes state before the bridge,
// RemoveNetwork removes the bridge before the state, CreateSandbox records
// the sandbox before making the namespace, Attach records the endpoint
// after the kernel work and undoes that work on error. Derived things (nft
// rules, hosts files) are recomputed from state on every change, so a
// crash at any point leaves state that the next call repairs: a network
// whose bridge is missing is repaired by EnsureNetwork, a sandbox whose
// namespace is gone (a reboot) is recreated by CreateSandbox and cleaned up
// by DeleteSandbox, which also releases leases and veths an Attach killed
// half way left behind. DeleteSandbox drops the namespace handle first and
// lets the kernel delete the veths in it (a LinkDel only for a host end
// that stays, ≈ 16 ms each and one at a time in the kernel);
// DeleteSandboxes does that for many sandboxes with the derived work
// (hosts files, nft table) done once, which is what down uses.
//
// # IPAM
//
// Allocator is pure logic over a Store (DiskStore on disk): the gateway,
// network and broadcast addresses are never handed out; dynamic addresses
// come from ip_range and rotate (the next after the last reserved, as CNI's
// host-local), so a recreated container gets a new address and nobody
// reaches a stale peer; ipv4_address may be anywhere in the subnet;
// duplicates are refused with ErrInUse naming the owner. Subnets without
// ipam config come from Options.Pool (default 10.89.0.0/16 in /24s),
// skipping any that overlaps another network or a route of the host.
//
// # Name resolution without a daemon
//
// berth has no daemon that could run a DNS server: the supervisor may be
// killed while containers live on, and a DNS server in every container
// would mean a process we do not own. So each container gets its own hosts
// file listing every endpoint of every network it is on (service name,
// container name, aliases, hostname), after extra_hosts. Whenever an
// endpoint joins or leaves, the hosts files of every sandbox on that
// network are rewritten in place (truncate + write, never rename, so the
// bind mount keeps seeing them): a container started later is resolvable by
// those already running, and a recreated one's name follows its new
// address. Replicas of a service share the service alias; resolvers return
// the first matching line (glibc with "multi on" all of them), so there is
// no round robin between replicas — a known limit of the hosts-file design.
// resolv.conf is the host's (systemd-resolved's upstream list when the
// host has only 127.0.0.53) minus loopback nameservers, with dns,
// dns_search and dns_opt applied; with no usable nameserver left, 8.8.8.8
// and 8.8.4.4 as Docker does.
//
// # nftables
//
// All rules live in one table, family ip, named Options.Table
// (DefaultTable: "berth" for the default root, "berth_<hash>" for other
// roots). It is rebuilt from state in one transaction on every change
// (add table, delete table, add table + chains + rules) and deleted when
// nothing needs it; no other table is read or changed. Rendered by
// ruleset.String:
//
//	prerouting, output (nat, dstnat): fib daddr type local jump ports
//	ports:       meta l4proto P [ip daddr HOSTIP] th dport H dnat to C:PORT  comment "container=<id>"
//	postrouting (nat, srcnat), per non-internal network:
//	             ip saddr SUBNET oifname != BRIDGE masquerade          outbound NAT
//	             ip saddr 127.0.0.0/8 oifname BRIDGE masquerade        127.0.0.1 publishing
//	             ip saddr SUBNET oifname BRIDGE ct status dnat masquerade   hairpin
//	forward (filter, accept):
//	             internal: nothing in or out but the bridge itself (first)
//	             ct status dnat accept   published ports stay reachable from
//	                                     other networks through a host address
//	             iifname BRIDGE oifname != BRIDGE oifname "bth-*" drop   isolation
//
// Publishing on 127.0.0.1 needs all three of OUTPUT DNAT, route_localnet=1
// on the bridge and the loopback masquerade (measured, KERNEL-NOTES §5).
// Data goes through kernel DNAT, never a userland copy. The first
// non-internal network makes netplug set net.ipv4.ip_forward=1 (logged),
// needed for outbound NAT; nothing else of the host's configuration is
// changed. If another table's forward chain drops by policy, outbound NAT
// and cross-network publishing need the host's admin to allow it.
//
// A host port is checked before any rule is written: against every other
// sandbox's mappings and by binding it (TCP listen / UDP bind) on the
// requested address; either conflict is ErrPortInUse naming the holder.
// Random ports come from the kernel's ephemeral range. berth holds no
// socket on published ports (there is no daemon to hold it), so a program
// that binds a published port later is shadowed by the DNAT rule.
//
// # network_mode
//
// See NetworkMode: none is a sandbox without endpoints; host is no sandbox;
// container:/service: join another sandbox's NetNSPath and files.
//
// # IPv6
//
// Not implemented: EnableIPv6 and IPv6 addresses return ErrNotSupported.
// The design keeps room for it: a network's state can grow a second subnet,
// the Allocator works on netip types, and the rules can move to an
// inet-family table beside the ip one.
package netplug
