package runtime

import "time"

// Spec is everything the runtime needs to create one container. It knows
// nothing of projects or services: those travel as Labels. The reconciler
// (or the `berth container` commands) builds a Spec; netplug and volumes
// contribute the network namespace and the mounts.
type Spec struct {
	Name   string            // unique container name
	Labels map[string]string // opaque to the runtime; used by callers to find their containers

	Image string // image reference, resolved through the image store

	// Process. Nil Entrypoint/Cmd mean "the image's"; a non-nil empty slice clears it.
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE, merged over the image's Env
	WorkingDir string
	User       string // name, uid, name:group or uid:gid; resolved in the image's /etc/passwd and /etc/group
	GroupAdd   []string
	Tty        bool
	// ConsoleSize is the pty's initial window size (rows, cols) for Tty,
	// set before the process runs (Docker's HostConfig.ConsoleSize);
	// zero leaves the kernel's 0x0 until a caller resizes it.
	ConsoleSize [2]uint16
	OpenStdin   bool
	Init        bool // run a zombie-reaping, signal-forwarding pid 1 in front of the process

	Hostname   string
	Domainname string

	ReadOnly        bool
	Privileged      bool
	CapAdd          []string
	CapDrop         []string
	NoNewPrivileges *bool // nil = on (berth's default)

	Mounts  []Mount
	Devices []Device // host device nodes made in the container (privileged ones get all anyway)
	Ulimits []Ulimit
	Sysctls map[string]string
	ShmSize int64 // bytes, 0 = 64 MiB

	Resources Resources

	StopSignal  string         // "" = the image's, else SIGTERM
	StopTimeout *time.Duration // nil = 10s

	Namespaces Namespaces

	// Files bind-mounted read-write onto /etc/hosts and /etc/resolv.conf. Their
	// owner (netplug) may rewrite them in place while the container runs. Empty
	// means the runtime writes defaults into the container's own dir.
	HostsPath      string
	ResolvConfPath string

	Log LogConfig

	AutoRemove bool // remove the container when it exits (run --rm)
}

// Namespaces says, per namespace, whether the container gets a new one (""),
// shares the host's ("host"), or joins an existing one given by a path such as
// /proc/<pid>/ns/net or a bind-mounted namespace file. "host" for PID lets the
// container see (and, with the capabilities, signal) every host process, as
// Docker's --pid host; for IPC it also binds the host's /dev/shm.
type Namespaces struct {
	Network string
	IPC     string
	UTS     string
	PID     string
}

// Mount is one filesystem mounted into the container, in the order given.
type Mount struct {
	Type        string // "bind", "tmpfs" (volumes arrive as binds of their directory)
	Source      string // host path for bind; unused for tmpfs
	Target      string // absolute path inside the container, resolved safely within the rootfs
	ReadOnly    bool
	Propagation string   // "", "private", "rprivate", "shared", "rshared", "slave", "rslave"
	Options     []string // extra mount options, e.g. "nosuid", "noexec"
	TmpfsSize   int64    // bytes, 0 = kernel default
	TmpfsMode   uint32   // 0 = 01777
	// CopyUp asks the runtime to copy the image's content at Target into
	// Source before mounting, when Source is an empty directory (Docker's
	// first-use copy for named volumes).
	CopyUp bool
}

// Device is a host device node made available in the container (Docker's
// --device): a node of the same type, numbers, mode and owner is made at
// Target, and the device cgroup allows it with Permissions.
type Device struct {
	Source      string // absolute host path; symlinks are followed (/dev/disk/by-id/...)
	Target      string // absolute path in the container; "" = Source
	Permissions string // subset of "rwm"; "" = "rwm"
}

// Ulimit is one rlimit; values above the current hard limit are an error.
type Ulimit struct {
	Name string // e.g. "nofile", "nproc"
	Soft int64
	Hard int64
}

// Resources are the cgroup limits of a container. Zero means unlimited.
type Resources struct {
	Memory     int64 // bytes
	MemorySwap int64 // bytes, memory+swap; 0 = same as Memory, -1 = unlimited
	NanoCPUs   int64 // CPUs × 1e9
	CPUShares  uint64
	CPUSetCPUs string
	CPUSetMems string
	PidsLimit  int64
}

// LogConfig selects rotation for the json-file log.
type LogConfig struct {
	MaxSize  int64 // bytes per file, 0 = unlimited
	MaxFiles int   // files kept including the current one, 0 = 1
}
