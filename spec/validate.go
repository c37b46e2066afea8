package spec

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// checkInput is what every check sees: the converted project, the names
// of services switched off by profiles, and a way to ask whether a key was
// written in a manifest (as opposed to filled in by normalization).
type checkInput struct {
	p        *Project
	cp       *types.Project
	disabled map[string]bool
	written  func(path string) bool
}

// checks run in order; each returns its errors with a key path. Hard
// errors stop the load; warnings go on the project instead.
var checks = []struct {
	name string
	fn   func(*checkInput) []*Error
}{
	{"image", checkImage},
	{"pods", checkPods},
	{"network_mode", checkNetworkMode},
	{"pid and ipc", checkPidIpc},
	{"devices", checkDevices},
	{"networks", checkNetworkRefs},
	{"ipam", checkIPAM},
	{"volumes", checkVolumeRefs},
	{"depends_on", checkDependsOn},
	{"links", checkLinks},
	{"container_name", checkContainerName},
	{"published ports", checkPublishedPorts},
}

func validate(p *Project, cp *types.Project, loc *locator) []*Error {
	in := &checkInput{
		p:        p,
		cp:       cp,
		disabled: map[string]bool{},
		written: func(path string) bool {
			segs := pathSegments(path)
			for _, s := range loc.all() {
				for _, d := range s.docs {
					if _, k, _ := walk(d, segs); k == len(segs) {
						return true
					}
				}
			}
			return false
		},
	}
	for _, n := range p.DisabledServices {
		in.disabled[n] = true
	}
	for _, c := range checks {
		if errs := c.fn(in); len(errs) > 0 {
			return errs
		}
	}
	return nil
}

func svcPath(name string, rest ...string) string {
	return strings.Join(append([]string{"services", name}, rest...), ".")
}

func (in *checkInput) known(name string) bool {
	_, ok := in.p.Service(name)
	return ok || in.disabled[name]
}

func checkImage(in *checkInput) []*Error {
	var errs []*Error
	for _, s := range in.p.Services {
		if s.Image != "" {
			continue
		}
		if cs, ok := in.cp.Services[s.Name]; ok && cs.Build != nil {
			errs = append(errs, &Error{Path: svcPath(s.Name, "build"), Message: "building images is not supported by berth: set image (build it elsewhere and push or load it)"})
			continue
		}
		errs = append(errs, &Error{Path: svcPath(s.Name), Message: "image is required"})
	}
	return errs
}

// checkPods enforces the pod rules: members exist, a service is in at
// most one pod, members leave ports/networks/network_mode/hostname to the
// pod, and the network namespace is always shared. It also links members
// to their pod and gives pods without networks the default one.
func checkPods(in *checkInput) []*Error {
	var errs []*Error
	owner := map[string]string{}
	var kept []Pod
	for pi := range in.p.Pods {
		pod := in.p.Pods[pi]
		base := podsKey + "." + pod.Name
		if !pod.Shares(ShareNetwork) {
			errs = append(errs, &Error{Path: base + ".share", Message: "a pod always shares its network namespace: add network to share"})
		}
		if pod.Hostname != "" && !pod.Shares(ShareUTS) {
			errs = append(errs, &Error{Path: base + ".hostname", Message: "hostname needs uts in share"})
		}
		var members []string
		for _, m := range pod.Services {
			path := fmt.Sprintf("%s.services.%s", base, m)
			if !in.known(m) {
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("unknown service %q in pod %q", m, pod.Name)})
				continue
			}
			if other, ok := owner[m]; ok {
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("service %q is already in pod %q; a service is in at most one pod", m, other)})
				continue
			}
			owner[m] = pod.Name
			s, enabled := in.p.Service(m)
			if !enabled {
				continue // disabled by profiles
			}
			for _, key := range []string{"ports", "networks", "network_mode", "hostname"} {
				set := false
				switch key {
				case "ports":
					set = len(s.Ports) > 0
				case "networks":
					set = in.written(svcPath(m, "networks"))
				case "network_mode":
					set = s.NetworkMode != ""
				case "hostname":
					set = s.Hostname != ""
				}
				if set {
					errs = append(errs, &Error{Path: svcPath(m, key), Message: fmt.Sprintf("service %q is a member of pod %q and may not declare %s: put it on the pod (pods.%s.%s)", m, pod.Name, key, pod.Name, key)})
				}
			}
			s.Pod = pod.Name
			s.Networks = nil // the pod carries them
			members = append(members, m)
		}
		if len(members) == 0 {
			continue
		}
		pod.Services = members
		if len(pod.Networks) == 0 {
			pod.Networks = []ServiceNetwork{{Name: "default"}}
			if _, ok := in.p.Network("default"); !ok {
				in.p.Networks = append(in.p.Networks, Network{Key: "default", Name: in.p.Name + "_default", Driver: "bridge"})
				sort.Slice(in.p.Networks, func(i, j int) bool { return in.p.Networks[i].Key < in.p.Networks[j].Key })
			}
		}
		kept = append(kept, pod)
	}
	in.p.Pods = kept
	return errs
}

func checkNetworkMode(in *checkInput) []*Error {
	var errs []*Error
	for _, s := range in.p.Services {
		path := svcPath(s.Name, "network_mode")
		mode := s.NetworkMode
		switch {
		case mode == "", mode == "none", mode == "host", mode == "bridge":
		case strings.HasPrefix(mode, "service:"):
			target := strings.TrimPrefix(mode, "service:")
			if target == s.Name {
				errs = append(errs, &Error{Path: path, Message: "a service cannot share its own network namespace"})
			} else if _, ok := in.p.Service(target); !ok {
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("unknown or disabled service %q", target)})
			}
		case strings.HasPrefix(mode, "container:"):
			if strings.TrimPrefix(mode, "container:") == "" {
				errs = append(errs, &Error{Path: path, Message: "container: needs a container name"})
			}
		default:
			errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("invalid network_mode %q: want none, host, service:<name> or container:<name>", mode)})
		}
		if mode != "" && mode != "bridge" && in.written(svcPath(s.Name, "networks")) {
			errs = append(errs, &Error{Path: svcPath(s.Name, "networks"), Message: fmt.Sprintf("networks cannot be used with network_mode %q", mode)})
		}
	}
	return errs
}

func checkNetworkRefs(in *checkInput) []*Error {
	var errs []*Error
	ref := func(path, name string) {
		if _, ok := in.p.Network(name); !ok {
			errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("unknown network %q: declare it under the top-level networks", name)})
		}
	}
	for _, s := range in.p.Services {
		for _, n := range s.Networks {
			ref(svcPath(s.Name, "networks", n.Name), n.Name)
			if n.IPv4Address != "" {
				if a, err := netip.ParseAddr(n.IPv4Address); err != nil || !a.Is4() {
					errs = append(errs, &Error{Path: svcPath(s.Name, "networks", n.Name, "ipv4_address"), Message: fmt.Sprintf("invalid IPv4 address %q", n.IPv4Address)})
				}
			}
		}
	}
	for _, p := range in.p.Pods {
		for _, n := range p.Networks {
			if n.Name == "default" {
				continue
			}
			ref(podsKey+"."+p.Name+".networks."+n.Name, n.Name)
		}
	}
	return errs
}

func checkIPAM(in *checkInput) []*Error {
	var errs []*Error
	for _, n := range in.p.Networks {
		for i, pool := range n.IPAM.Config {
			path := fmt.Sprintf("networks.%s.ipam.config[%d]", n.Key, i)
			if pool.Subnet == "" {
				continue
			}
			pfx, err := netip.ParsePrefix(pool.Subnet)
			if err != nil {
				errs = append(errs, &Error{Path: path + ".subnet", Message: fmt.Sprintf("invalid subnet %q: want CIDR such as 10.89.0.0/24", pool.Subnet)})
				continue
			}
			if pool.Gateway != "" {
				gw, err := netip.ParseAddr(pool.Gateway)
				if err != nil || !pfx.Contains(gw) {
					errs = append(errs, &Error{Path: path + ".gateway", Message: fmt.Sprintf("gateway %q is not an address in subnet %s", pool.Gateway, pool.Subnet)})
				}
			}
			if pool.IPRange != "" {
				r, err := netip.ParsePrefix(pool.IPRange)
				if err != nil || !pfx.Contains(r.Addr()) || r.Bits() < pfx.Bits() {
					errs = append(errs, &Error{Path: path + ".ip_range", Message: fmt.Sprintf("ip_range %q is not inside subnet %s", pool.IPRange, pool.Subnet)})
				}
			}
		}
	}
	return errs
}

func checkVolumeRefs(in *checkInput) []*Error {
	var errs []*Error
	for _, s := range in.p.Services {
		for i, m := range s.Mounts {
			if m.Type != MountVolume || m.Source == "" {
				continue
			}
			if _, ok := in.p.Volume(m.Source); !ok {
				errs = append(errs, &Error{Path: fmt.Sprintf("services.%s.volumes[%d]", s.Name, i), Message: fmt.Sprintf("unknown volume %q: declare it under the top-level volumes (or use a path for a bind mount)", m.Source)})
			}
		}
	}
	return errs
}

func checkDependsOn(in *checkInput) []*Error {
	var errs []*Error
	for i := range in.p.Services {
		s := &in.p.Services[i]
		for _, dep := range s.DependencyNames() {
			d := s.DependsOn[dep]
			path := svcPath(s.Name, "depends_on", dep)
			switch d.Condition {
			case ConditionStarted, ConditionHealthy, ConditionCompleted:
			default:
				errs = append(errs, &Error{Path: path + ".condition", Message: fmt.Sprintf("invalid condition %q: want service_started, service_healthy or service_completed_successfully", d.Condition)})
			}
			_, enabled := in.p.Service(dep)
			switch {
			case enabled:
			case !d.Required:
				delete(s.DependsOn, dep) // optional and absent: nothing to wait for
			case in.disabled[dep]:
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("depends on service %q, which is disabled by profiles: enable its profile or set required: false", dep)})
			default:
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("depends on unknown service %q", dep)})
			}
		}
		if len(s.DependsOn) == 0 {
			s.DependsOn = nil
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Cycles: depth-first search in name order, so the reported cycle is
	// deterministic.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(name string) *Error
	visit = func(name string) *Error {
		color[name] = grey
		stack = append(stack, name)
		s, _ := in.p.Service(name)
		for _, dep := range s.DependencyNames() {
			switch color[dep] {
			case grey:
				start := 0
				for i, n := range stack {
					if n == dep {
						start = i
					}
				}
				cycle := append(append([]string(nil), stack[start:]...), dep)
				return &Error{Path: svcPath(name, "depends_on", dep), Message: "circular depends_on: " + strings.Join(cycle, " -> ")}
			case white:
				if e := visit(dep); e != nil {
					return e
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
		return nil
	}
	for _, s := range in.p.Services {
		if color[s.Name] == white {
			if e := visit(s.Name); e != nil {
				return []*Error{e}
			}
		}
	}
	return nil
}

func checkLinks(in *checkInput) []*Error {
	var errs []*Error
	for _, s := range in.p.Services {
		for i, l := range s.Links {
			target, _, _ := strings.Cut(l, ":")
			if _, ok := in.p.Service(target); !ok {
				errs = append(errs, &Error{Path: fmt.Sprintf("services.%s.links[%d]", s.Name, i), Message: fmt.Sprintf("link to unknown or disabled service %q", target)})
			}
		}
		for i, v := range s.VolumesFrom {
			if strings.HasPrefix(v, "container:") {
				continue
			}
			target, _, _ := strings.Cut(v, ":")
			if _, ok := in.p.Service(target); !ok {
				errs = append(errs, &Error{Path: fmt.Sprintf("services.%s.volumes_from[%d]", s.Name, i), Message: fmt.Sprintf("volumes_from unknown or disabled service %q", target)})
			}
		}
	}
	return errs
}

func checkContainerName(in *checkInput) []*Error {
	var errs []*Error
	seen := map[string]string{}
	for _, s := range in.p.Services {
		if s.ContainerName == "" {
			continue
		}
		path := svcPath(s.Name, "container_name")
		if s.Replicas > 1 {
			errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("container_name %q cannot be used with %d replicas: names must be unique", s.ContainerName, s.Replicas)})
		}
		if other, ok := seen[s.ContainerName]; ok {
			errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("container_name %q is also used by service %q", s.ContainerName, other)})
		}
		seen[s.ContainerName] = s.Name
	}
	return errs
}

// checkPublishedPorts rejects two fixed host ports that would collide
// (same protocol, same or wildcard address). Ranges are left to netplug.
func checkPublishedPorts(in *checkInput) []*Error {
	type key struct {
		port  uint16
		proto string
	}
	type use struct{ path, ip string }
	used := map[key][]use{}
	var errs []*Error
	add := func(path string, m PortMapping) {
		if m.Published.IsZero() || m.Published.Start != m.Published.End {
			return
		}
		k := key{m.Published.Start, m.Protocol}
		for _, u := range used[k] {
			if u.ip == m.HostIP || u.ip == "" || m.HostIP == "" {
				errs = append(errs, &Error{Path: path, Message: fmt.Sprintf("host port %d/%s is already published by %s", k.port, k.proto, u.path)})
				return
			}
		}
		used[k] = append(used[k], use{path, m.HostIP})
	}
	for _, s := range in.p.Services {
		for i, m := range s.Ports {
			add(fmt.Sprintf("services.%s.ports[%d]", s.Name, i), m)
		}
	}
	for _, p := range in.p.Pods {
		for i, m := range p.Ports {
			add(fmt.Sprintf("pods.%s.ports[%d]", p.Name, i), m)
		}
	}
	return errs
}

// checkPidIpc validates pid: and ipc: (Docker's --pid and --ipc). A
// service: reference must name another enabled service; to join a
// service's IPC namespace it must be shareable (or the host's, or a pod's
// shared one), as Docker requires of the donor; pid: service: chains must
// not loop. A pod member may not set what its pod shares.
func checkPidIpc(in *checkInput) []*Error {
	var errs []*Error
	fail := func(name, key, format string, args ...any) {
		errs = append(errs, &Error{Path: svcPath(name, key), Message: fmt.Sprintf(format, args...)})
	}
	// ref checks a service:/container: value and returns the target
	// service, if any.
	ref := func(s *Service, key, mode string) *Service {
		if name, ok := strings.CutPrefix(mode, "container:"); ok {
			if name == "" {
				fail(s.Name, key, "container: needs a container name")
			}
			return nil
		}
		name, ok := strings.CutPrefix(mode, "service:")
		if !ok {
			return nil
		}
		if name == s.Name {
			fail(s.Name, key, "a service cannot join its own %s namespace", key)
			return nil
		}
		t, enabled := in.p.Service(name)
		if !enabled {
			fail(s.Name, key, "unknown or disabled service %q", name)
			return nil
		}
		return t
	}
	for i := range in.p.Services {
		s := &in.p.Services[i]
		var pod *Pod
		if s.Pod != "" {
			pod, _ = in.p.Pod(s.Pod)
		}
		switch m := s.Pid; {
		case m == "", m == "host", strings.HasPrefix(m, "service:"), strings.HasPrefix(m, "container:"):
			ref(s, "pid", m)
		default:
			fail(s.Name, "pid", "invalid pid mode %q: want host, service:<name> or container:<name>", m)
		}
		if s.Pid != "" && pod != nil && pod.Shares(SharePID) {
			fail(s.Name, "pid", "service %q is a member of pod %q, which shares its pid namespace: remove pid here or pid from pods.%s.share", s.Name, pod.Name, pod.Name)
		}
		switch m := s.Ipc; {
		case m == "", m == "private", m == "shareable", m == "host", strings.HasPrefix(m, "container:"):
			ref(s, "ipc", m)
		case strings.HasPrefix(m, "service:"):
			t := ref(s, "ipc", m)
			if t == nil {
				break
			}
			tpod, _ := in.p.Pod(t.Pod)
			if t.Ipc != "shareable" && t.Ipc != "host" && (tpod == nil || !tpod.Shares(ShareIPC)) {
				fail(s.Name, "ipc", "cannot join the IPC namespace of service %q: it is not shareable (set ipc: shareable on %s)", t.Name, t.Name)
			}
		default:
			fail(s.Name, "ipc", "invalid ipc mode %q: want private, shareable, host, service:<name> or container:<name>", m)
		}
		if s.Ipc != "" && pod != nil && pod.Shares(ShareIPC) {
			fail(s.Name, "ipc", "service %q is a member of pod %q, which shares its IPC namespace: remove ipc here or ipc from pods.%s.share", s.Name, pod.Name, pod.Name)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// pid: service: chains, in name order so the report is stable.
	for _, s := range in.p.Services {
		seen := map[string]bool{s.Name: true}
		chain := []string{s.Name}
		for cur := &s; cur != nil; {
			next, ok := strings.CutPrefix(cur.Pid, "service:")
			if !ok {
				break
			}
			chain = append(chain, next)
			if seen[next] {
				return []*Error{{Path: svcPath(s.Name, "pid"), Message: "circular pid: " + strings.Join(chain, " -> ")}}
			}
			seen[next] = true
			cur, _ = in.p.Service(next)
		}
	}
	return nil
}

// checkDevices rejects two devices at the same place in the container.
func checkDevices(in *checkInput) []*Error {
	var errs []*Error
	for _, s := range in.p.Services {
		seen := map[string]int{}
		for i, d := range s.Devices {
			if j, ok := seen[path.Clean(d.Target)]; ok {
				errs = append(errs, &Error{Path: fmt.Sprintf("services.%s.devices[%d]", s.Name, i), Message: fmt.Sprintf("device target %q is also used by devices[%d]", d.Target, j)})
				continue
			}
			seen[path.Clean(d.Target)] = i
		}
	}
	return errs
}
