package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/berth-dev/berth/reconciler"
)

// checkHostPorts refuses an up whose fixed host ports are held by another
// program on the host, before anything is pulled, created or started:
// otherwise `up` would start the services that come first in dependency
// order (a database, say) and fail only at the one that publishes the
// port. Services that already run keep their ports (a DNAT rule, no
// socket) and are not checked; random ports and ranges are left to
// netplug, which picks a free one, as are clashes with other berth
// projects (netplug knows them).
func checkHostPorts(ctx context.Context, env *composeEnv, services []string, noDeps bool) error {
	scope, err := reconciler.Scope(env.project, services, noDeps)
	if err != nil {
		return err
	}
	cs, err := env.containers(ctx)
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, c := range cs {
		if c.Running() {
			running[c.Service()] = true
		}
	}
	for _, s := range env.project.Services {
		if !scope[s.Name] || running[s.Name] {
			continue
		}
		for _, p := range s.Ports {
			if p.Published.IsZero() || p.Published.Start != p.Published.End {
				continue
			}
			ip := netip.IPv4Unspecified()
			if p.HostIP != "" {
				a, err := netip.ParseAddr(p.HostIP)
				if err != nil || !a.Unmap().Is4() {
					continue // netplug reports it
				}
				ip = a.Unmap()
			}
			addr := netip.AddrPortFrom(ip, p.Published.Start).String()
			if hostPortTaken(p.Protocol, addr) {
				return fmt.Errorf("service %s: host port %s/%s (for container port %d) is already in use by another program on the host; nothing was started", s.Name, addr, p.Protocol, p.Target)
			}
		}
	}
	return nil
}

// hostPortTaken test-binds addr; only "address in use" counts as taken
// (any other error is netplug's to report when it publishes the port).
func hostPortTaken(proto, addr string) bool {
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
	return errors.Is(err, syscall.EADDRINUSE)
}
