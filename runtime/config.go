package runtime

// initConfig is everything decided about a container's first process
// and its rootfs, from the state, before the spawn thread acts on it.
type initConfig struct {
	ID         string   `json:"id"`
	Hostname   string   `json:"hostname,omitempty"` // "" = leave the UTS namespace alone
	Domainname string   `json:"domainname,omitempty"`
	LowerDirs  []string `json:"lowerDirs"`
	UpperDir   string   `json:"upperDir"`
	WorkDir    string   `json:"workDir"`
	MergedDir  string   `json:"mergedDir"`
	ProcDir    string   `json:"procDir,omitempty"` // /proc of the rootfs, resolved (set by prepareRootfs)
	ReadOnly   bool     `json:"readOnly,omitempty"`
	Privileged bool     `json:"privileged,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"`
	Devices    []Device `json:"devices,omitempty"` // made with mknod after /dev
	// Files bind-mounted onto /etc/hostname, /etc/hosts and /etc/resolv.conf.
	HostnamePath   string            `json:"hostnamePath,omitempty"`
	HostsPath      string            `json:"hostsPath,omitempty"`
	ResolvConfPath string            `json:"resolvConfPath,omitempty"`
	ShmSize        int64             `json:"shmSize"`
	Console        bool              `json:"console,omitempty"` // make a pty in the container's devpts: /dev/console and stdio
	NewNet         bool              `json:"newNet,omitempty"`  // bring lo up
	HostNet        bool              `json:"hostNet,omitempty"` // bind /sys instead of a fresh sysfs
	NewIPC         bool              `json:"newIPC,omitempty"`
	HostIPC        bool              `json:"hostIPC,omitempty"` // bind the host's /dev/shm
	Sysctls        map[string]string `json:"sysctls,omitempty"`
	Init           bool              `json:"init,omitempty"` // an init runs as pid 1 and forks the process
	// InitPath is the host's static init binary for Init (tini), run from
	// an fd opened before the pivot; "" runs berth-init.
	InitPath string        `json:"initPath,omitempty"`
	Process  processConfig `json:"process"`
}

// processConfig is the process to run, for init and for exec.
type processConfig struct {
	Args       []string `json:"args"`
	Env        []string `json:"env"`
	Cwd        string   `json:"cwd,omitempty"`
	User       string   `json:"user,omitempty"`
	GroupAdd   []string `json:"groupAdd,omitempty"`
	Caps       []int    `json:"caps"`
	NoNewPrivs bool     `json:"noNewPrivs,omitempty"`
	Rlimits    []Ulimit `json:"rlimits,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
	// ConsoleSize (rows, cols) is set on the pty before the process runs.
	ConsoleSize [2]uint16 `json:"consoleSize,omitempty"`
}

// syncMsg is what init (or the exec helper) answers on the sync socket.
// Success is silence: the socket is close-on-exec, so the reader sees EOF
// exactly when the process was exec'd.
type syncMsg struct {
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"` // 125, 126 or 127
}

// shimResult is what the shim tells the starting CLI on its result pipe.
type shimResult struct {
	Pid       int    `json:"pid,omitempty"`
	PidStart  uint64 `json:"pidStart,omitempty"`
	ShimStart uint64 `json:"shimStart,omitempty"` // the shim's own start time
	Error     string `json:"error,omitempty"`
	ExitCode  int    `json:"exitCode,omitempty"`
}

// shimAssignment is the first thing the starting process tells the shim on
// fd 4: the container it runs (a spare shim starts before that is known).
type shimAssignment struct {
	Dir      string `json:"dir"`
	InitPath string `json:"initPath,omitempty"` // for Spec.Init: tini, or "" for berth-init
	T0       int64  `json:"t0,omitempty"`       // BERTH_TRACE_START: when the start began (Unix ns)
}

// cgroupReady is what the starting process tells the shim on fd 4 once it
// has made the container's cgroup (during the shim's own start-up): the
// directory of each hierarchy to join, keyed by controller as the cgroups
// library keys them ("" for v2), or why it could not.
type cgroupReady struct {
	Paths map[string]string `json:"paths,omitempty"`
	Error string            `json:"error,omitempty"`
}
