package runtime

import (
	"fmt"
	"path"
	"strings"
)

// validNameOK is Docker's container name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*),
// checked by hand: a regexp would be compiled at package init of every
// re-executed shim.
func validNameOK(s string) bool {
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return s != ""
}

// namespacedSysctls are the sysctl prefixes/keys that belong to a
// namespace the container owns (Docker's list); anything else would change
// the host and is rejected.
var namespacedSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
	"kernel.domainname": true, "kernel.hostname": true,
}

func sysctlAllowed(key string, s *Spec) error {
	switch {
	case namespacedSysctls[key] || strings.HasPrefix(key, "fs.mqueue."):
		if strings.HasPrefix(key, "kernel.") && (key == "kernel.hostname" || key == "kernel.domainname") {
			if s.Namespaces.UTS == "host" {
				return fmt.Errorf("%w: sysctl %q: not allowed with the host's UTS namespace", ErrInvalidArgument, key)
			}
			return nil
		}
		if s.Namespaces.IPC == "host" {
			return fmt.Errorf("%w: sysctl %q: not allowed with the host's IPC namespace", ErrInvalidArgument, key)
		}
		return nil
	case strings.HasPrefix(key, "net."):
		if s.Namespaces.Network == "host" {
			return fmt.Errorf("%w: sysctl %q: not allowed with the host's network namespace", ErrInvalidArgument, key)
		}
		return nil
	}
	return fmt.Errorf("%w: sysctl %q is not namespaced (it would change the host)", ErrInvalidArgument, key)
}

var rlimitNames = map[string]bool{
	"as": true, "core": true, "cpu": true, "data": true, "fsize": true, "locks": true,
	"memlock": true, "msgqueue": true, "nice": true, "nofile": true, "nproc": true,
	"rss": true, "rtprio": true, "rttime": true, "sigpending": true, "stack": true,
}

// validateSpec checks what can be checked without the image or the kernel.
func validateSpec(s *Spec) error {
	if s.Name != "" && !validNameOK(s.Name) {
		return fmt.Errorf("%w: container name %q: letters, digits and _.- (not first)", ErrInvalidArgument, s.Name)
	}
	if s.Image == "" {
		return fmt.Errorf("%w: container %q: no image", ErrInvalidArgument, s.Name)
	}
	for i, m := range s.Mounts {
		if !path.IsAbs(m.Target) {
			return fmt.Errorf("%w: mount %d: target %q is not absolute", ErrInvalidArgument, i, m.Target)
		}
		switch m.Type {
		case "bind":
			if !path.IsAbs(m.Source) {
				return fmt.Errorf("%w: mount %d (%s): source %q is not absolute", ErrInvalidArgument, i, m.Target, m.Source)
			}
		case "tmpfs":
		default:
			return fmt.Errorf("%w: mount %d (%s): unknown type %q (bind or tmpfs)", ErrInvalidArgument, i, m.Target, m.Type)
		}
		switch m.Propagation {
		case "", "private", "rprivate", "shared", "rshared", "slave", "rslave":
		default:
			return fmt.Errorf("%w: mount %d (%s): unknown propagation %q", ErrInvalidArgument, i, m.Target, m.Propagation)
		}
	}
	for k := range s.Sysctls {
		if err := sysctlAllowed(k, s); err != nil {
			return err
		}
	}
	for _, u := range s.Ulimits {
		if !rlimitNames[u.Name] {
			return fmt.Errorf("%w: ulimit %q: unknown name", ErrInvalidArgument, u.Name)
		}
		if u.Soft > u.Hard {
			return fmt.Errorf("%w: ulimit %s: soft limit %d above hard limit %d", ErrInvalidArgument, u.Name, u.Soft, u.Hard)
		}
	}
	if err := checkUlimits(s.Ulimits); err != nil {
		return err
	}
	if _, err := capabilities(s.Privileged, s.CapAdd, s.CapDrop); err != nil {
		return err
	}
	if s.StopSignal != "" {
		if _, err := ParseSignal(s.StopSignal); err != nil {
			return err
		}
	}
	for _, ns := range []struct{ kind, v string }{{"network", s.Namespaces.Network}, {"ipc", s.Namespaces.IPC}, {"uts", s.Namespaces.UTS}, {"pid", s.Namespaces.PID}} {
		if ns.v != "" && ns.v != "host" && !path.IsAbs(ns.v) {
			return fmt.Errorf("%w: %s namespace %q: want \"\", \"host\" or an absolute path", ErrInvalidArgument, ns.kind, ns.v)
		}
	}
	return nil
}
