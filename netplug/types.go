package netplug

import (
	"log/slog"
	"net/netip"
	"time"
)

// DefaultPool is where network subnets come from when a network does not
// name one: 10.89.0.0/16 carved into /24s (not Docker's 172.17.0.0/16, so
// berth and Docker can live on one host).
var DefaultPool = []netip.Prefix{netip.MustParsePrefix("10.89.0.0/16")}

// Options configure a Manager.
type Options struct {
	// Root holds persistent state: networks, IP leases, sandboxes
	// (normally <root>/networks).
	Root string
	// RunDir holds what dies with a reboot: namespace handles
	// (<RunDir>/netns/<id>) and the hosts/resolv.conf files of containers
	// (normally $BERTH_RUN_DIR, /run/berth).
	RunDir string
	// Pool is where subnets come from when a network names none; default
	// DefaultPool. Subnets that overlap a route of the host or another
	// berth network are skipped.
	Pool []netip.Prefix
	// PoolBits is the prefix length carved out of Pool; default 24.
	PoolBits int
	// Table is the nftables table (family ip) holding all of berth's rules,
	// rebuilt from the state in Root on every change; default
	// DefaultTable(Root).
	Table string
	// HostResolvConf is the host's resolver configuration; default
	// /etc/resolv.conf (falling back to systemd-resolved's upstream file when
	// it lists only loopback servers).
	HostResolvConf string
	Logger         *slog.Logger
}

// NetworkSpec is the desired state of one network. Addresses are strings as
// a manifest writes them; New validates them and names the network in errors.
type NetworkSpec struct {
	Name   string
	Labels map[string]string
	// Subnet, Gateway, IPRange: Compose's ipam.config. Empty Subnet means one
	// from the pool; empty Gateway the first host address of the subnet;
	// empty IPRange the whole subnet.
	Subnet  string
	Gateway string
	IPRange string
	// Internal networks get no default route and no NAT: containers reach
	// only each other and the host's bridge address.
	Internal bool
	MTU      int // 0 = kernel default (1500)
	// External networks are never created or removed here: EnsureNetwork
	// only finds them and fails with ErrNotFound when they are missing.
	External bool
	// EnableIPv6 is refused for now (ErrNotSupported). The state format and
	// the rule generator keep address families apart so it can be added.
	EnableIPv6 bool
}

// Network is a network as it exists.
type Network struct {
	Name       string            `json:"Name"`
	ID         string            `json:"Id"`
	Bridge     string            `json:"Bridge"`
	Subnet     netip.Prefix      `json:"Subnet"`
	Gateway    netip.Addr        `json:"Gateway"`
	IPRange    netip.Prefix      `json:"IPRange,omitzero"`
	Internal   bool              `json:"Internal"`
	MTU        int               `json:"MTU,omitempty"`
	EnableIPv6 bool              `json:"EnableIPv6"`
	Labels     map[string]string `json:"Labels,omitempty"`
	Created    time.Time         `json:"Created"`
	// Endpoints on the network, filled by ListNetworks and InspectNetwork.
	Endpoints []EndpointInfo `json:"Endpoints"`
}

// SandboxSpec describes the network identity of one container.
type SandboxSpec struct {
	Hostname   string
	Domainname string
	// ExtraHosts are added to the hosts file before any container name, so
	// they win. IP may be "host-gateway": the gateway of the container's
	// first network, an address of the host.
	ExtraHosts []HostEntry
	// DNS replaces the host's nameservers, DNSSearch its search list,
	// DNSOptions its options.
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
}

// HostEntry is one extra_hosts line.
type HostEntry struct {
	Host string `json:"Host"`
	IP   string `json:"IP"`
}

// Sandbox is the network side of one container: a persistent network
// namespace and the files the runtime bind-mounts on /etc/hosts and
// /etc/resolv.conf.
type Sandbox struct {
	ID             string         `json:"Id"`
	NetNSPath      string         `json:"NetNSPath"`
	HostsPath      string         `json:"HostsPath"`
	ResolvConfPath string         `json:"ResolvConfPath"`
	Hostname       string         `json:"Hostname"`
	Endpoints      []EndpointInfo `json:"Endpoints"`
	Ports          []PortMapping  `json:"Ports"`
}

// Endpoint asks to attach a sandbox to a network.
type Endpoint struct {
	Network string
	// Aliases are the names this container answers to on this network:
	// service name, container name, Compose aliases. The sandbox's hostname
	// is always added.
	Aliases     []string
	IPv4Address string // "" = next free address from IPAM
	MacAddress  string // "" = random
	// Priority decides which non-internal network carries the default
	// route (highest wins; ties go to the first attached).
	Priority int
}

// EndpointInfo is one attachment as it exists.
type EndpointInfo struct {
	Sandbox    string     `json:"Sandbox"`
	Network    string     `json:"Network"`
	Interface  string     `json:"Interface"` // eth0, eth1, ... inside the sandbox
	HostVeth   string     `json:"HostVeth"`
	IPv4       netip.Addr `json:"IPv4Address"`
	PrefixLen  int        `json:"PrefixLen"`
	Gateway    netip.Addr `json:"Gateway"`
	MacAddress string     `json:"MacAddress"`
	Aliases    []string   `json:"Aliases,omitempty"`
	Priority   int        `json:"Priority,omitempty"`
	// DefaultRoute is true on the endpoint whose gateway is the sandbox's
	// default route.
	DefaultRoute bool `json:"DefaultRoute,omitempty"`
}

// PortMapping publishes one container port on the host.
type PortMapping struct {
	// HostIP restricts the mapping to one local address; "" or "0.0.0.0"
	// means every local address (127.0.0.1 included).
	HostIP string `json:"HostIp"`
	// HostPort 0 picks a free port. With HostPortEnd, any free port of
	// HostPort..HostPortEnd is taken. Results always have a single port.
	HostPort      uint16 `json:"HostPort"`
	HostPortEnd   uint16 `json:"HostPortEnd,omitempty"`
	ContainerPort uint16 `json:"ContainerPort"`
	Protocol      string `json:"Protocol"` // "tcp" (also for "") or "udp"
}
