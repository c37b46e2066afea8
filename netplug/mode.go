package netplug

import (
	"fmt"
	"strings"
)

// NetworkMode is a parsed Compose network_mode.
//
// How each maps onto a container (the runtime's Spec.Namespaces.Network and
// HostsPath/ResolvConfPath):
//
//	""/"bridge"       CreateSandbox + Attach per network; Network = Sandbox.NetNSPath
//	none              CreateSandbox only (lo up, nothing else); Network = Sandbox.NetNSPath
//	host              no sandbox; Network = "host"; hosts/resolv.conf: the host's
//	container:NAME    no sandbox of its own; Network = NetNSPath(id of NAME), and
//	service:NAME      the files of that sandbox (its Sandbox.HostsPath/ResolvConfPath)
type NetworkMode struct {
	Kind   string // ModeBridge, ModeNone, ModeHost, ModeContainer, ModeService
	Target string // the container or service name for ModeContainer/ModeService
}

// Network mode kinds.
const (
	ModeBridge    = "bridge"
	ModeNone      = "none"
	ModeHost      = "host"
	ModeContainer = "container"
	ModeService   = "service"
)

// ParseNetworkMode parses a network_mode value.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch s {
	case "", ModeBridge:
		return NetworkMode{Kind: ModeBridge}, nil
	case ModeNone, ModeHost:
		return NetworkMode{Kind: s}, nil
	}
	kind, target, ok := strings.Cut(s, ":")
	if ok && (kind == ModeContainer || kind == ModeService) && target != "" {
		return NetworkMode{Kind: kind, Target: target}, nil
	}
	return NetworkMode{}, fmt.Errorf("network_mode %q: want none, host, bridge, service:NAME or container:NAME: %w", s, ErrInvalidArgument)
}

// HostHostsPath and HostResolvConfPath are the files a network_mode: host
// container sees, as with Docker.
const (
	HostHostsPath      = "/etc/hosts"
	HostResolvConfPath = "/etc/resolv.conf"
)
