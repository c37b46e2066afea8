package reconciler

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// ContainerSpec converts one replica of a service into the runtime's
// creation contract. Mounts and namespaces are filled in by the executor
// (from Volumes and Networks); everything else comes from here. It is pure.
func ContainerSpec(p *spec.Project, s *spec.Service, number int, img ImageInfo) runtime.Spec {
	labels := make(map[string]string, len(s.Labels)+8)
	maps.Copy(labels, s.Labels)
	labels[LabelProject] = p.Name
	labels[LabelService] = s.Name
	labels[LabelNumber] = strconv.Itoa(number)
	labels[LabelConfigHash] = s.ConfigHash
	labels[LabelImage] = img.ID
	labels[LabelOneoff] = "False"
	labels[LabelWorkingDir] = p.WorkingDir
	labels[LabelConfigFile] = strings.Join(p.ConfigFiles, ",")
	if deps := s.DependencyNames(); len(deps) > 0 {
		var parts []string
		for _, d := range deps {
			dep := s.DependsOn[d]
			parts = append(parts, fmt.Sprintf("%s:%s:%t", d, dep.Condition, dep.Restart))
		}
		labels[LabelDependsOn] = strings.Join(parts, ",")
	}

	rs := runtime.Spec{
		Name:            ContainerName(p.Name, s, number),
		Labels:          labels,
		Image:           s.Image,
		Entrypoint:      cloneNilable(s.Entrypoint),
		Cmd:             cloneNilable(s.Command),
		Env:             append([]string(nil), s.Environment...),
		WorkingDir:      s.WorkingDir,
		User:            s.User,
		GroupAdd:        append([]string(nil), s.GroupAdd...),
		Tty:             s.Tty,
		OpenStdin:       s.StdinOpen,
		Init:            s.Init,
		Hostname:        s.Hostname,
		Domainname:      s.Domainname,
		ReadOnly:        s.ReadOnly,
		Privileged:      s.Privileged,
		CapAdd:          append([]string(nil), s.CapAdd...),
		CapDrop:         append([]string(nil), s.CapDrop...),
		NoNewPrivileges: s.NoNewPrivileges,
		Sysctls:         maps.Clone(s.Sysctls),
		ShmSize:         s.ShmSize,
		StopSignal:      s.StopSignal,
		StopTimeout:     s.StopGracePeriod,
		Resources: runtime.Resources{
			Memory:     s.Resources.Memory,
			MemorySwap: s.Resources.MemorySwap,
			NanoCPUs:   s.Resources.NanoCPUs,
			CPUShares:  s.Resources.CPUShares,
			CPUSetCPUs: s.Resources.CPUSetCPUs,
			CPUSetMems: s.Resources.CPUSetMems,
			PidsLimit:  s.Resources.PidsLimit,
		},
		Log: runtime.LogConfig{MaxSize: s.Logging.MaxSize, MaxFiles: s.Logging.MaxFiles},
	}
	if rs.Hostname == "" && s.NetworkMode == "" && s.Pod == "" {
		// Docker uses the container id; a stable name is friendlier and
		// what the other containers resolve.
		rs.Hostname = rs.Name
	}
	for _, u := range s.Ulimits {
		rs.Ulimits = append(rs.Ulimits, runtime.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	switch s.NetworkMode {
	case "host":
		rs.Namespaces.Network = "host"
		rs.Hostname = s.Hostname
	}
	// service: and container: joins are paths of running containers: the
	// executor fills them in (namespaces).
	if s.Pid == "host" {
		rs.Namespaces.PID = "host"
	}
	if s.Ipc == "host" {
		rs.Namespaces.IPC = "host"
	}
	for _, d := range s.Devices {
		rs.Devices = append(rs.Devices, runtime.Device{Source: d.Source, Target: d.Target, Permissions: d.Permissions})
	}
	return rs
}

// StopTimeout is how long to wait for svc's containers to stop before
// killing them: override when set (down -t), else stop_grace_period, else
// 10 s. Without a service (an orphan, a one-off) it is -1: the timeout the
// container was created with (Containers.Stop).
func StopTimeout(s *spec.Service, override *time.Duration) time.Duration {
	switch {
	case override != nil:
		return *override
	case s != nil && s.StopGracePeriod != nil:
		return *s.StopGracePeriod
	case s == nil:
		return -1
	}
	return 10 * time.Second
}

// SandboxFor is the network identity of one replica of s: its endpoints
// with Compose's aliases (service name, container name, manifest aliases),
// its ports, hosts and DNS settings. For a pod member it is the pod's; nil
// when the service makes no network of its own (network_mode host, none,
// service:, container:).
func SandboxFor(p *spec.Project, s *spec.Service, number int) (id string, r *SandboxRequest) {
	if s.NetworkMode != "" {
		return "", nil
	}
	name := ContainerName(p.Name, s, number)
	r = &SandboxRequest{
		Project:    p.Name,
		Hostname:   s.Hostname,
		Domainname: s.Domainname,
		ExtraHosts: s.ExtraHosts,
		DNS:        s.DNS,
		DNSSearch:  s.DNSSearch,
		DNSOptions: s.DNSOpt,
		Ports:      s.Ports,
	}
	if r.Hostname == "" {
		r.Hostname = name
	}
	nets := s.Networks
	aliases := []string{s.Name, name}
	id = name
	if s.Pod != "" {
		if pod, ok := p.Pod(s.Pod); ok {
			id = PodSandboxID(p.Name, pod.Name)
			nets = pod.Networks
			r.Ports = pod.Ports
			r.Hostname = pod.Hostname
			if r.Hostname == "" {
				r.Hostname = pod.Name
			}
			aliases = append([]string{pod.Name}, pod.Services...)
		}
	}
	for _, sn := range nets {
		n, ok := p.Network(sn.Name)
		real := sn.Name
		if ok {
			real = n.Name
		}
		al := append(append([]string(nil), aliases...), sn.Aliases...)
		r.Endpoints = append(r.Endpoints, Endpoint{Network: real, Aliases: al, IPv4Address: sn.IPv4Address, MacAddress: sn.MacAddress, Priority: sn.Priority})
	}
	return id, r
}

// PodSandboxID is the sandbox shared by a pod's members.
func PodSandboxID(project, pod string) string { return project + "-pod-" + pod }

func cloneNilable(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
