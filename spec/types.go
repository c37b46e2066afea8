package spec

import (
	"sort"
	"time"
)

// Project is the normalized desired state of one project, as loaded from its
// manifests. Slices of named things are sorted by name so that output and
// hashes are stable; use the lookup methods to find one by name.
type Project struct {
	// Name is the project name: -p, else COMPOSE_PROJECT_NAME /
	// BERTH_PROJECT_NAME, else the top-level `name:`, else the normalized
	// name of the project directory.
	Name string `yaml:"name" json:"name"`
	// WorkingDir is the absolute project directory; relative paths in the
	// manifests were resolved against it.
	WorkingDir string `yaml:"working_dir" json:"working_dir"`
	// ConfigFiles are the manifests that were merged, in order, as absolute
	// paths (Compose records them so in its labels). "-" stands
	// for stdin.
	ConfigFiles []string `yaml:"config_files" json:"config_files"`
	// Environment is the environment used for interpolation (process env
	// merged with .env / --env-file).
	Environment map[string]string `yaml:"-" json:"-"`
	// Inputs are the absolute paths of the files the load read or looked
	// for (manifests, discovery candidates, .env and env files, includes,
	// extends): with the environment and options they decide the result.
	// InputsComplete is false when some cannot be named (stdin, remote or
	// interpolated include paths, ...).
	Inputs         []string `yaml:"-" json:"-"`
	InputsComplete bool     `yaml:"-" json:"-"`
	// LoadStarted is when the load began: an input changed after it may
	// have been read before or after the change.
	LoadStarted time.Time `yaml:"-" json:"-"`

	// Services enabled by the active profiles, sorted by name.
	Services []Service `yaml:"services" json:"services"`
	// ActiveProfiles are the profiles that were enabled, sorted.
	ActiveProfiles []string `yaml:"active_profiles,omitempty" json:"active_profiles,omitempty"`
	// DeclaredProfiles are all profiles named by any service, enabled or
	// not, sorted (what `berth config --profiles` lists).
	DeclaredProfiles []string `yaml:"-" json:"-"`
	// DisabledServices are services switched off by profiles, sorted by name.
	DisabledServices []string `yaml:"disabled_services,omitempty" json:"disabled_services,omitempty"`
	// Networks sorted by key. The implicit "default" network is present when
	// a service uses it.
	Networks []Network `yaml:"networks,omitempty" json:"networks,omitempty"`
	// Volumes sorted by key.
	Volumes []Volume `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Pods sorted by name (berth's extension).
	Pods []Pod `yaml:"pods,omitempty" json:"pods,omitempty"`

	// Warnings are accepted-but-ignored or otherwise suspicious settings.
	// They are not part of the model and not printed by `berth config`.
	Warnings []Warning `yaml:"-" json:"-"`
}

// Service is one Compose service, normalized. Zero values mean "not set"
// unless a field says otherwise; defaults that depend on the image (user,
// working dir, command) stay unset here and are filled in by the runtime.
type Service struct {
	Name          string `yaml:"name" json:"name"`
	ContainerName string `yaml:"container_name,omitempty" json:"container_name,omitempty"`
	// Pod is the name of the pod this service belongs to, "" if none.
	Pod string `yaml:"pod,omitempty" json:"pod,omitempty"`

	Image      string   `yaml:"image" json:"image"`
	Platform   string   `yaml:"platform,omitempty" json:"platform,omitempty"`
	PullPolicy string   `yaml:"pull_policy,omitempty" json:"pull_policy,omitempty"` // always|never|missing|build|""; "" = missing
	Profiles   []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`

	// Entrypoint and Command: nil means "the image's"; a non-nil empty slice
	// clears the image's value (Compose's `entrypoint: []` / `""`).
	Entrypoint []string `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	Command    []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Environment is KEY=VALUE, resolved (env_file merged, interpolated),
	// sorted by key. A variable declared without value and not found in the
	// environment is left out, as Compose does.
	Environment []string `yaml:"environment,omitempty" json:"environment,omitempty"`
	WorkingDir  string   `yaml:"working_dir,omitempty" json:"working_dir,omitempty"`
	User        string   `yaml:"user,omitempty" json:"user,omitempty"`
	GroupAdd    []string `yaml:"group_add,omitempty" json:"group_add,omitempty"`
	Hostname    string   `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Domainname  string   `yaml:"domainname,omitempty" json:"domainname,omitempty"`
	Tty         bool     `yaml:"tty,omitempty" json:"tty,omitempty"`
	StdinOpen   bool     `yaml:"stdin_open,omitempty" json:"stdin_open,omitempty"`
	Init        bool     `yaml:"init,omitempty" json:"init,omitempty"`

	ReadOnly   bool     `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Privileged bool     `yaml:"privileged,omitempty" json:"privileged,omitempty"`
	CapAdd     []string `yaml:"cap_add,omitempty" json:"cap_add,omitempty"`   // sorted, upper case, "CAP_" prefix kept as written
	CapDrop    []string `yaml:"cap_drop,omitempty" json:"cap_drop,omitempty"` // sorted
	// SecurityOpt is the list as written (sorted). berth acts only on
	// no-new-privileges, which is parsed into NoNewPrivileges.
	SecurityOpt []string `yaml:"security_opt,omitempty" json:"security_opt,omitempty"`
	// NoNewPrivileges is nil when security_opt does not mention it (berth's
	// default applies), else the value given.
	NoNewPrivileges *bool `yaml:"no_new_privileges,omitempty" json:"no_new_privileges,omitempty"`

	Ulimits   []Ulimit          `yaml:"ulimits,omitempty" json:"ulimits,omitempty"` // sorted by name
	Sysctls   map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
	ShmSize   int64             `yaml:"shm_size,omitempty" json:"shm_size,omitempty"` // bytes, 0 = runtime default
	Resources Resources         `yaml:"resources,omitempty" json:"resources,omitempty"`

	// Replicas is the number of containers (scale / deploy.replicas);
	// default 1, 0 is allowed and means none.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Restart merges `restart:` and deploy.restart_policy.
	Restart         RestartPolicy  `yaml:"restart" json:"restart"`
	StopSignal      string         `yaml:"stop_signal,omitempty" json:"stop_signal,omitempty"`
	StopGracePeriod *time.Duration `yaml:"stop_grace_period,omitempty" json:"stop_grace_period,omitempty"` // nil = 10s
	// Healthcheck is nil when the manifest says nothing (the image's
	// HEALTHCHECK applies).
	Healthcheck *Healthcheck `yaml:"healthcheck,omitempty" json:"healthcheck,omitempty"`

	// DependsOn maps each dependency's service name to how to wait for it.
	// Use DependencyNames for a sorted iteration order.
	DependsOn   map[string]Dependency `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	Links       []string              `yaml:"links,omitempty" json:"links,omitempty"`               // "service" or "service:alias", as written
	VolumesFrom []string              `yaml:"volumes_from,omitempty" json:"volumes_from,omitempty"` // "service[:ro|rw]" or "container:name[:ro|rw]"

	// Pid is the pid namespace: "" (its own), "host", "service:<name>" or
	// "container:<name>" (join that one's).
	Pid string `yaml:"pid,omitempty" json:"pid,omitempty"`
	// Ipc is the IPC namespace: "" (Docker's default; private in berth),
	// "private", "shareable" (its own, others may join it), "host",
	// "service:<name>" or "container:<name>".
	Ipc string `yaml:"ipc,omitempty" json:"ipc,omitempty"`

	// NetworkMode is "" (use Networks), "none", "host", "service:<name>"
	// or "container:<name>".
	NetworkMode string `yaml:"network_mode,omitempty" json:"network_mode,omitempty"`
	// Networks the service is attached to, ordered by Priority (highest
	// first) then name, as Docker attaches them. Empty with NetworkMode ""
	// never happens after Load: the implicit "default" network is filled in
	// (except for pod members, whose pod carries the networks).
	Networks []ServiceNetwork `yaml:"networks,omitempty" json:"networks,omitempty"`
	// Ports published on the host, in manifest order. Target ranges are
	// expanded into one mapping per port.
	Ports      []PortMapping `yaml:"ports,omitempty" json:"ports,omitempty"`
	Expose     []string      `yaml:"expose,omitempty" json:"expose,omitempty"` // "port[-end][/proto]"
	ExtraHosts []HostEntry   `yaml:"extra_hosts,omitempty" json:"extra_hosts,omitempty"`
	DNS        []string      `yaml:"dns,omitempty" json:"dns,omitempty"`
	DNSSearch  []string      `yaml:"dns_search,omitempty" json:"dns_search,omitempty"`
	DNSOpt     []string      `yaml:"dns_opt,omitempty" json:"dns_opt,omitempty"`

	// Mounts from `volumes:` (long and short syntax), in manifest order.
	Mounts []Mount `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Tmpfs is the short `tmpfs:` list, "path[:options]" as written.
	Tmpfs []string `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
	// Devices are host device nodes made available in the container, in
	// manifest order.
	Devices []Device `yaml:"devices,omitempty" json:"devices,omitempty"`
	// Files are the service's secrets and configs, resolved (see FileMount).
	Files []FileMount `yaml:"files,omitempty" json:"files,omitempty"`

	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Logging Logging           `yaml:"logging,omitempty" json:"logging,omitempty"`

	// ConfigHash is the stable hash of everything that requires recreating
	// the container when it changes. See ConfigHash in hash.go for the list.
	ConfigHash string `yaml:"config_hash" json:"config_hash"`
}

// Ulimit is one rlimit. Soft == Hard when a single value was given.
type Ulimit struct {
	Name string `yaml:"name" json:"name"`
	Soft int64  `yaml:"soft" json:"soft"`
	Hard int64  `yaml:"hard" json:"hard"`
}

// Resources merges mem_limit, memswap_limit, cpus, cpu_shares, cpuset,
// pids_limit and deploy.resources.limits (deploy wins when both are set).
// Zero means unlimited.
type Resources struct {
	Memory            int64   `yaml:"memory,omitempty" json:"memory,omitempty"`                         // bytes
	MemorySwap        int64   `yaml:"memory_swap,omitempty" json:"memory_swap,omitempty"`               // bytes, memory+swap; -1 = unlimited
	MemoryReservation int64   `yaml:"memory_reservation,omitempty" json:"memory_reservation,omitempty"` // bytes, soft limit
	NanoCPUs          int64   `yaml:"nano_cpus,omitempty" json:"nano_cpus,omitempty"`                   // CPUs × 1e9
	CPUShares         uint64  `yaml:"cpu_shares,omitempty" json:"cpu_shares,omitempty"`
	CPUSetCPUs        string  `yaml:"cpuset,omitempty" json:"cpuset,omitempty"`
	CPUSetMems        string  `yaml:"cpuset_mems,omitempty" json:"cpuset_mems,omitempty"`
	PidsLimit         int64   `yaml:"pids_limit,omitempty" json:"pids_limit,omitempty"` // 0 = unlimited
	CPUs              float64 `yaml:"-" json:"-"`                                       // the value NanoCPUs came from, for display
}

// Restart policy names, as Docker spells them.
const (
	RestartNo            = "no"
	RestartAlways        = "always"
	RestartOnFailure     = "on-failure"
	RestartUnlessStopped = "unless-stopped"
)

// RestartPolicy says when the supervisor restarts a container that exited.
// `restart: on-failure:3` gives Name "on-failure", MaxRetries 3;
// deploy.restart_policy.condition "any" maps to "always" and "none" to "no".
type RestartPolicy struct {
	Name       string        `yaml:"name" json:"name"`                                   // RestartNo etc.; never ""
	MaxRetries int           `yaml:"max_retries,omitempty" json:"max_retries,omitempty"` // 0 = unlimited
	Delay      time.Duration `yaml:"delay,omitempty" json:"delay,omitempty"`             // 0 = supervisor's backoff
	Window     time.Duration `yaml:"window,omitempty" json:"window,omitempty"`           // 0 = a restart counts as success immediately
}

// Healthcheck kinds in Test[0].
const (
	HealthNone     = "NONE"
	HealthCmd      = "CMD"
	HealthCmdShell = "CMD-SHELL"
)

// Healthcheck is a service's health probe. Durations of zero mean Docker's
// defaults (interval 30s, timeout 30s, start period 0, start interval 5s);
// Retries 0 means 3.
type Healthcheck struct {
	// Test is ["CMD", args...], ["CMD-SHELL", "command"] or ["NONE"]. A
	// string in the manifest becomes CMD-SHELL. Empty with Disable false
	// means "the image's test with these timings".
	Test          []string      `yaml:"test,omitempty" json:"test,omitempty"`
	Interval      time.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout       time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retries       int           `yaml:"retries,omitempty" json:"retries,omitempty"`
	StartPeriod   time.Duration `yaml:"start_period,omitempty" json:"start_period,omitempty"`
	StartInterval time.Duration `yaml:"start_interval,omitempty" json:"start_interval,omitempty"`
	// Disable is set by `disable: true` or test ["NONE"]: no healthcheck,
	// not even the image's.
	Disable bool `yaml:"disable,omitempty" json:"disable,omitempty"`
}

// Conditions of depends_on.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// Dependency is one depends_on entry.
type Dependency struct {
	Condition string `yaml:"condition" json:"condition"` // Condition*; default service_started
	// Required false lets the dependent start when the dependency is not
	// part of the project (disabled by a profile) or fails to start.
	Required bool `yaml:"required" json:"required"`
	// Restart: restart the dependent when the dependency is restarted by
	// an explicit operation (Compose's depends_on.restart).
	Restart bool `yaml:"restart,omitempty" json:"restart,omitempty"`
}

// ServiceNetwork is one attachment of a service (or pod) to a network.
type ServiceNetwork struct {
	Name        string   `yaml:"name" json:"name"` // the key in the project's networks
	Aliases     []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	IPv4Address string   `yaml:"ipv4_address,omitempty" json:"ipv4_address,omitempty"`
	IPv6Address string   `yaml:"ipv6_address,omitempty" json:"ipv6_address,omitempty"`
	MacAddress  string   `yaml:"mac_address,omitempty" json:"mac_address,omitempty"`
	Priority    int      `yaml:"priority,omitempty" json:"priority,omitempty"`
}

// PortRange is an inclusive range of port numbers. The zero value means
// "not set"; a single port has Start == End.
type PortRange struct {
	Start uint16 `yaml:"start" json:"start"`
	End   uint16 `yaml:"end" json:"end"`
}

// IsZero reports whether no port was given.
func (r PortRange) IsZero() bool { return r.Start == 0 && r.End == 0 }

// PortMapping publishes one container port on the host.
type PortMapping struct {
	HostIP string `yaml:"host_ip,omitempty" json:"host_ip,omitempty"` // "" = all addresses
	// Published is the host port or range to choose from; zero = a random
	// free port.
	Published PortRange `yaml:"published,omitempty" json:"published,omitempty"`
	Target    uint16    `yaml:"target" json:"target"`
	Protocol  string    `yaml:"protocol" json:"protocol"` // "tcp" or "udp"
}

// HostEntry is one extra_hosts line.
type HostEntry struct {
	Host string `yaml:"host" json:"host"`
	IP   string `yaml:"ip" json:"ip"` // may be "host-gateway"
}

// Mount types.
const (
	MountVolume = "volume"
	MountBind   = "bind"
	MountTmpfs  = "tmpfs"
)

// Mount is one entry of a service's `volumes:`.
type Mount struct {
	Type string `yaml:"type" json:"type"` // MountVolume, MountBind or MountTmpfs
	// Source is, for "volume", the key of a project volume, or "" for an
	// anonymous volume; for "bind", an absolute host path; unused for tmpfs.
	Source   string `yaml:"source,omitempty" json:"source,omitempty"`
	Target   string `yaml:"target" json:"target"` // absolute path in the container
	ReadOnly bool   `yaml:"read_only,omitempty" json:"read_only,omitempty"`

	NoCopy bool `yaml:"nocopy,omitempty" json:"nocopy,omitempty"` // volume.nocopy: no first-use copy of image content
	// CreateHostPath (bind.create_host_path) creates a missing bind source.
	// Compose's default for the short syntax is true.
	CreateHostPath bool   `yaml:"create_host_path,omitempty" json:"create_host_path,omitempty"`
	Propagation    string `yaml:"propagation,omitempty" json:"propagation,omitempty"` // bind.propagation
	TmpfsSize      int64  `yaml:"tmpfs_size,omitempty" json:"tmpfs_size,omitempty"`   // bytes, 0 = kernel default
	TmpfsMode      uint32 `yaml:"tmpfs_mode,omitempty" json:"tmpfs_mode,omitempty"`   // 0 = 01777
}

// Device is one `devices:` entry: the host's device node Source appears
// at Target in the container, and the device cgroup lets the container use
// it with Permissions.
type Device struct {
	Source string `yaml:"source" json:"source"` // absolute host path
	Target string `yaml:"target" json:"target"` // absolute path in the container; Source when not given
	// Permissions is a non-empty subset of "rwm" (read, write, mknod), in
	// that order; default "rwm".
	Permissions string `yaml:"permissions" json:"permissions"`
}

// Logging is the service's log configuration. berth writes json-file logs
// only; MaxSize and MaxFiles are parsed from the options.
type Logging struct {
	Driver   string            `yaml:"driver,omitempty" json:"driver,omitempty"` // "" or "json-file"
	Options  map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
	MaxSize  int64             `yaml:"max_size,omitempty" json:"max_size,omitempty"`   // bytes, 0 = unlimited
	MaxFiles int               `yaml:"max_files,omitempty" json:"max_files,omitempty"` // 0 = 1
}

// Network is a top-level network.
type Network struct {
	Key  string `yaml:"key" json:"key"`   // name in the manifest
	Name string `yaml:"name" json:"name"` // real name: `name:`, else <project>_<key>
	// Driver is "bridge" (also for "" in the manifest); others are rejected.
	Driver     string            `yaml:"driver" json:"driver"`
	DriverOpts map[string]string `yaml:"driver_opts,omitempty" json:"driver_opts,omitempty"`
	IPAM       IPAM              `yaml:"ipam,omitempty" json:"ipam,omitempty"`
	Internal   bool              `yaml:"internal,omitempty" json:"internal,omitempty"`
	EnableIPv6 bool              `yaml:"enable_ipv6,omitempty" json:"enable_ipv6,omitempty"`
	// External networks are not created or removed by berth; they must exist.
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Attachable bool              `yaml:"attachable,omitempty" json:"attachable,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// IPAM is a network's address configuration; empty Config means a subnet
// from berth's pool.
type IPAM struct {
	Driver string     `yaml:"driver,omitempty" json:"driver,omitempty"`
	Config []IPAMPool `yaml:"config,omitempty" json:"config,omitempty"`
}

// IPAMPool is one subnet of a network.
type IPAMPool struct {
	Subnet       string            `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	Gateway      string            `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	IPRange      string            `yaml:"ip_range,omitempty" json:"ip_range,omitempty"`
	AuxAddresses map[string]string `yaml:"aux_addresses,omitempty" json:"aux_addresses,omitempty"`
}

// Volume is a top-level named volume.
type Volume struct {
	Key  string `yaml:"key" json:"key"`   // name in the manifest
	Name string `yaml:"name" json:"name"` // real name: `name:`, else <project>_<key>
	// Driver is "local" (also for "" in the manifest); others are rejected.
	Driver     string            `yaml:"driver" json:"driver"`
	DriverOpts map[string]string `yaml:"driver_opts,omitempty" json:"driver_opts,omitempty"`
	External   bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Namespaces a pod can share.
const (
	ShareNetwork = "network"
	ShareIPC     = "ipc"
	ShareUTS     = "uts"
	SharePID     = "pid"
)

// Pod groups services that share namespaces (berth's `pods:` extension).
// Ports, networks and hostname belong to the pod, not to its members.
type Pod struct {
	Name     string   `yaml:"name" json:"name"`
	Services []string `yaml:"services" json:"services"` // members, sorted
	// Share lists the shared namespaces, sorted; default network, ipc, uts.
	Share    []string         `yaml:"share" json:"share"`
	Ports    []PortMapping    `yaml:"ports,omitempty" json:"ports,omitempty"`
	Networks []ServiceNetwork `yaml:"networks,omitempty" json:"networks,omitempty"`
	Hostname string           `yaml:"hostname,omitempty" json:"hostname,omitempty"`
}

// Shares reports whether the pod shares the namespace ns (Share*).
func (p *Pod) Shares(ns string) bool {
	for _, s := range p.Share {
		if s == ns {
			return true
		}
	}
	return false
}

// Warning is a setting that was accepted but is ignored, or otherwise
// deserves the user's attention. It does not stop the load.
type Warning struct {
	File    string // "" when unknown
	Line    int    // 0 when unknown
	Column  int
	Path    string // key path, e.g. services.web.build
	Message string
}

func (w Warning) String() string {
	return formatLocated(w.File, w.Line, w.Column, w.Path, w.Message)
}

// Service returns the enabled service called name.
func (p *Project) Service(name string) (*Service, bool) {
	i := sort.Search(len(p.Services), func(i int) bool { return p.Services[i].Name >= name })
	if i < len(p.Services) && p.Services[i].Name == name {
		return &p.Services[i], true
	}
	return nil, false
}

// Network returns the network with manifest key key.
func (p *Project) Network(key string) (*Network, bool) {
	for i := range p.Networks {
		if p.Networks[i].Key == key {
			return &p.Networks[i], true
		}
	}
	return nil, false
}

// Volume returns the volume with manifest key key.
func (p *Project) Volume(key string) (*Volume, bool) {
	for i := range p.Volumes {
		if p.Volumes[i].Key == key {
			return &p.Volumes[i], true
		}
	}
	return nil, false
}

// Pod returns the pod called name.
func (p *Project) Pod(name string) (*Pod, bool) {
	for i := range p.Pods {
		if p.Pods[i].Name == name {
			return &p.Pods[i], true
		}
	}
	return nil, false
}

// ServiceNames returns the names of the enabled services, sorted.
func (p *Project) ServiceNames() []string {
	names := make([]string, len(p.Services))
	for i, s := range p.Services {
		names[i] = s.Name
	}
	return names
}

// DependencyNames returns the services s depends on, sorted.
func (s *Service) DependencyNames() []string {
	names := make([]string, 0, len(s.DependsOn))
	for n := range s.DependsOn {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
