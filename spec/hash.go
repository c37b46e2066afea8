package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// hashVersion changes when the hash input changes shape, so that a new
// berth recreates containers made by an old one only when it must.
const hashVersion = "berth.config.v1"

// hashInput is exactly what the config hash covers: every field that,
// when changed, requires recreating the container.
//
// In: image, platform, container_name, entrypoint, command (nil and empty
// distinguished), environment, working_dir, user, group_add, hostname,
// domainname, tty, stdin_open, init, read_only, privileged, cap_add,
// cap_drop, no-new-privileges, ulimits, sysctls, shm_size, resources,
// stop_signal, healthcheck, network_mode, networks (aliases, addresses,
// priority), ports (as a set), extra_hosts, dns, dns_search, dns_opt,
// volumes (mounts, in order), tmpfs, devices (in order), pid, ipc ("" and
// "private" alike), labels, logging, links, volumes_from,
// and the pod the service is in (its name, share, ports, networks,
// hostname; not its member list).
//
// Out, because changing them needs no new container: the service name
// (identity), replicas/scale/deploy.replicas, restart and
// deploy.restart_policy (applied by the supervisor), stop_grace_period
// (used when stopping), depends_on (ordering only), profiles, pull_policy,
// expose (documentation only in berth), security_opt other than
// no-new-privileges (ignored by berth), x- extensions, key order and
// comments (never part of the model). The image digest is not known here:
// the reconciler adds it to the container's labels next to this hash.
type hashInput struct {
	Version       string
	Image         string
	Platform      string
	ContainerName string
	Entrypoint    []string
	Command       []string
	Environment   []string
	WorkingDir    string
	User          string
	GroupAdd      []string
	Hostname      string
	Domainname    string
	Tty           bool
	StdinOpen     bool
	Init          bool
	ReadOnly      bool
	Privileged    bool
	CapAdd        []string
	CapDrop       []string
	NoNewPrivs    *bool
	Ulimits       []Ulimit
	Sysctls       map[string]string
	ShmSize       int64
	Resources     Resources
	StopSignal    string
	Healthcheck   *Healthcheck
	NetworkMode   string
	Networks      []ServiceNetwork
	Ports         []PortMapping
	ExtraHosts    []HostEntry
	DNS           []string
	DNSSearch     []string
	DNSOpt        []string
	Mounts        []Mount
	Tmpfs         []string
	Files         []FileMount `json:",omitempty"`
	Labels        map[string]string
	Logging       Logging
	Links         []string
	VolumesFrom   []string
	Pod           *podHashInput
	// Added after v1 hashes were in use: omitted when unset so that
	// containers made before keep their hash.
	Pid     string   `json:",omitempty"`
	Ipc     string   `json:",omitempty"`
	Devices []Device `json:",omitempty"`
}

type podHashInput struct {
	Name     string
	Share    []string
	Ports    []PortMapping
	Networks []ServiceNetwork
	Hostname string
}

// ConfigHash returns the stable hash (hex SHA-256) of the fields of s that
// require recreating its container when they change; pod is the service's
// pod or nil. See hashInput for exactly which fields count. Load fills
// Service.ConfigHash with it.
func ConfigHash(s *Service, pod *Pod) string {
	in := hashInput{
		Version:       hashVersion,
		Image:         s.Image,
		Platform:      s.Platform,
		ContainerName: s.ContainerName,
		Entrypoint:    s.Entrypoint,
		Command:       s.Command,
		Environment:   s.Environment,
		WorkingDir:    s.WorkingDir,
		User:          s.User,
		GroupAdd:      sortedCopy(s.GroupAdd),
		Hostname:      s.Hostname,
		Domainname:    s.Domainname,
		Tty:           s.Tty,
		StdinOpen:     s.StdinOpen,
		Init:          s.Init,
		ReadOnly:      s.ReadOnly,
		Privileged:    s.Privileged,
		CapAdd:        s.CapAdd,
		CapDrop:       s.CapDrop,
		NoNewPrivs:    s.NoNewPrivileges,
		Ulimits:       s.Ulimits,
		Sysctls:       s.Sysctls,
		ShmSize:       s.ShmSize,
		Resources:     s.Resources,
		StopSignal:    s.StopSignal,
		Healthcheck:   s.Healthcheck,
		NetworkMode:   s.NetworkMode,
		Networks:      s.Networks,
		Ports:         sortedPorts(s.Ports),
		ExtraHosts:    s.ExtraHosts,
		DNS:           s.DNS,
		DNSSearch:     s.DNSSearch,
		DNSOpt:        s.DNSOpt,
		Mounts:        s.Mounts,
		Tmpfs:         s.Tmpfs,
		Files:         s.Files,
		Pid:           s.Pid,
		Ipc:           ipcHashValue(s.Ipc),
		Devices:       s.Devices,
		Labels:        s.Labels,
		Logging:       s.Logging,
		Links:         sortedCopy(s.Links),
		VolumesFrom:   sortedCopy(s.VolumesFrom),
	}
	in.Resources.CPUs = 0 // NanoCPUs carries it, rounded
	if pod != nil {
		in.Pod = &podHashInput{Name: pod.Name, Share: pod.Share, Ports: sortedPorts(pod.Ports), Networks: pod.Networks, Hostname: pod.Hostname}
	}
	// encoding/json sorts map keys; slices are sorted above or where
	// their order matters to the container (mounts, dns, command).
	b, err := json.Marshal(in)
	if err != nil {
		// Only plain data is marshalled; this cannot fail.
		panic("spec: marshal hash input: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ipcHashValue maps "private" to "" (berth's default is private): saying
// what is already true recreates nothing.
func ipcHashValue(mode string) string {
	if mode == "private" {
		return ""
	}
	return mode
}

func sortedPorts(in []PortMapping) []PortMapping {
	out := append([]PortMapping(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
