package runtime

import (
	"fmt"
	"os"
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

// validateSpec checks what can be checked without the image or the
// kernel, plus that every device's host path is a device node, so that a
// bad one fails the create before anything exists.
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
	if err := validateDevices(s.Devices); err != nil {
		return err
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

// validateDevices checks the devices' paths and permissions, and stats
// each source on the host: it must exist and be a character or block
// device (Docker's --device also takes a directory of devices; berth does
// not).
func validateDevices(ds []Device) error {
	targets := map[string]string{}
	for _, d := range ds {
		if !path.IsAbs(d.Source) {
			return fmt.Errorf("%w: device %q: the host path must be absolute", ErrInvalidArgument, d.Source)
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		if !path.IsAbs(target) {
			return fmt.Errorf("%w: device %s: target %q is not absolute", ErrInvalidArgument, d.Source, target)
		}
		if path.Clean(target) == "/dev" || path.Clean(target) == "/" {
			return fmt.Errorf("%w: device %s: target %q is not a file path", ErrInvalidArgument, d.Source, target)
		}
		if other, ok := targets[path.Clean(target)]; ok {
			return fmt.Errorf("%w: device %s: target %s is also the target of %s", ErrInvalidArgument, d.Source, target, other)
		}
		targets[path.Clean(target)] = d.Source
		if !validDevicePermissions(d.Permissions) {
			return fmt.Errorf("%w: device %s: permissions %q: want a combination of r, w and m", ErrInvalidArgument, d.Source, d.Permissions)
		}
		fi, err := os.Stat(d.Source)
		if err != nil {
			return fmt.Errorf("%w: device %s: %w", ErrInvalidArgument, d.Source, err)
		}
		if fi.Mode()&os.ModeDevice == 0 {
			what := "a regular file"
			switch {
			case fi.IsDir():
				what = "a directory"
			case !fi.Mode().IsRegular():
				what = "a " + fi.Mode().Type().String() + " file"
			}
			return fmt.Errorf("%w: device %s: not a device node but %s", ErrInvalidArgument, d.Source, what)
		}
	}
	return nil
}

// validDevicePermissions: "" (all) or each of r, w, m at most once.
func validDevicePermissions(p string) bool {
	seen := map[rune]bool{}
	for _, r := range p {
		if !strings.ContainsRune("rwm", r) || seen[r] {
			return false
		}
		seen[r] = true
	}
	return true
}
