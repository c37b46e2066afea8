package runtime

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	"github.com/opencontainers/cgroups/fscommon"
	"golang.org/x/sys/unix"
)

// cgroupConfig translates Resources into opencontainers/cgroups terms. On
// this project's hybrid hosts the library picks the v1 fs manager; on a
// pure v2 host the fs2 manager; the config is the same.
func cgroupConfig(path string, r Resources, privileged bool) *cgroups.Cgroup {
	res := &cgroups.Resources{
		Memory:     r.Memory,
		CpuShares:  r.CPUShares,
		CpusetCpus: r.CPUSetCPUs,
		CpusetMems: r.CPUSetMems,
	}
	if r.Memory > 0 {
		switch r.MemorySwap {
		case 0:
			res.MemorySwap = r.Memory
		default:
			res.MemorySwap = r.MemorySwap
		}
	}
	if r.NanoCPUs > 0 {
		res.CpuPeriod = 100000
		res.CpuQuota = r.NanoCPUs * 100000 / 1e9
		if res.CpuQuota < 1000 {
			res.CpuQuota = 1000
		}
	}
	if r.PidsLimit != 0 {
		v := r.PidsLimit
		res.PidsLimit = &v
	}
	// Device rules are written by applyDeviceRules (v1 files): the
	// library's device controller package links systemd's dbus client,
	// whose package init would cost every shim milliseconds.
	res.SkipDevices = true
	return &cgroups.Cgroup{Path: path, Resources: res}
}

// defaultDeviceRules is Docker's device allow-list: mknod of anything, use
// of the standard character devices and ptys only.
func defaultDeviceRules() []*devconfig.Rule {
	c := func(major, minor int64) *devconfig.Rule {
		return &devconfig.Rule{Type: devconfig.CharDevice, Major: major, Minor: minor, Permissions: "rwm", Allow: true}
	}
	return []*devconfig.Rule{
		{Type: devconfig.CharDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true},
		{Type: devconfig.BlockDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true},
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), // null zero full random urandom
		c(5, 0), c(5, 1), c(5, 2), // tty console ptmx
		c(136, devconfig.Wildcard), // pts
		c(10, 200),                 // tun
	}
}

// newCgroupManager picks the fs (v1, also on hybrid hosts) or fs2 (pure
// v2) manager as the library's manager.New would, without linking its
// systemd driver (whose dbus package init costs ~10 ms in every shim).
// applyDeviceRules writes Docker's device allow-list into the v1 devices
// controller (deny all, then allow each rule). On a pure cgroup v2 host
// device control needs an eBPF program, which berth does not load; there
// MKNOD is dropped from non-privileged containers instead (see
// deviceControlled), so only the nodes berth creates are usable.
//
// The spec's devices are allowed after the defaults, each with its
// permissions; their numbers are read from the host node now, so a device
// re-plugged with other numbers is followed on the next start.
func applyDeviceRules(m cgroups.Manager, pid int, privileged bool, devices []Device) error {
	if privileged {
		return nil
	}
	dir := m.Path("devices")
	if dir == "" || !deviceControlled() {
		return nil
	}
	rules := defaultDeviceRules()
	for _, d := range devices {
		r, err := deviceRule(d)
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	// With SkipDevices the manager neither creates nor joins this one.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("devices cgroup: %w", err)
	}
	if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
		return fmt.Errorf("devices cgroup: %w", err)
	}
	if err := cgroups.WriteFile(dir, "devices.deny", "a"); err != nil {
		return fmt.Errorf("devices cgroup: %w", err)
	}
	for _, r := range rules {
		if err := cgroups.WriteFile(dir, "devices.allow", r.CgroupString()); err != nil {
			return fmt.Errorf("devices cgroup rule %s: %w", r.CgroupString(), err)
		}
	}
	return nil
}

// deviceRule is the allow rule for one of the spec's devices: the host
// node's type and numbers, the given permissions (default rwm).
func deviceRule(d Device) (*devconfig.Rule, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.Source, &st); err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Source, err)
	}
	r := &devconfig.Rule{
		Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		Permissions: devconfig.Permissions(d.Permissions), Allow: true,
	}
	if r.Permissions == "" {
		r.Permissions = "rwm"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		r.Type = devconfig.CharDevice
	case unix.S_IFBLK:
		r.Type = devconfig.BlockDevice
	default:
		return nil, fmt.Errorf("device %s: not a device node", d.Source)
	}
	return r, nil
}

// deviceControlled reports whether the host has a v1 devices controller.
func deviceControlled() bool {
	_, err := os.Stat("/sys/fs/cgroup/devices")
	return err == nil
}

func newCgroupManager(path string, r Resources, privileged bool) (cgroups.Manager, error) {
	cfg := cgroupConfig(path, r, privileged)
	var m cgroups.Manager
	var err error
	if cgroups.IsCgroup2UnifiedMode() {
		m, err = fs2.NewManager(cfg, "")
	} else {
		m, err = fs.NewManager(cfg, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return m, nil
}

// oomKilled reads the memory controller's OOM kill counter (v1
// memory.oom_control "oom_kill", v2 memory.events "oom_kill").
func oomKilled(m cgroups.Manager) bool {
	n, err := m.OOMKillCount()
	if err == nil {
		return n > 0
	}
	p := m.Path("memory")
	if p == "" {
		return false
	}
	data, err := os.ReadFile(filepath.Join(p, "memory.oom_control"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n > 0
		}
	}
	return false
}

// destroyCgroup kills whatever is left in the cgroup and removes it. A
// missing cgroup is fine.
func destroyCgroup(m cgroups.Manager) error {
	killCgroup(m)
	if err := m.Destroy(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// cgroupDirs returns the directories of the container's cgroup that
// exist, keyed by controller ("" for v2). The manager names a devices
// directory even for a privileged container, which has none, and a host
// may lack a controller.
func cgroupDirs(m cgroups.Manager) map[string]string {
	out := map[string]string{}
	for k, dir := range m.GetPaths() {
		if _, err := os.Stat(dir); err == nil {
			out[k] = dir
		}
	}
	return out
}

// preparedManager is the manager of a cgroup made by prepareCgroup, from
// its directories (cgroupReady): no discovery of the host's mounts.
func preparedManager(path string, r Resources, privileged bool, dirs map[string]string) (cgroups.Manager, error) {
	cfg := cgroupConfig(path, r, privileged)
	if cgroups.IsCgroup2UnifiedMode() {
		return fs2.NewManager(cfg, dirs[""])
	}
	return fs.NewManager(cfg, dirs)
}

// cgroupPids lists every process in the cgroup (sub-cgroups included)
// from one hierarchy that exists; the library's own GetAllPids reads the
// devices one, which a privileged container lacks.
func cgroupPids(m cgroups.Manager) ([]int, error) {
	dirs := cgroupDirs(m)
	for _, c := range []string{"", "pids", "devices", "memory", "freezer"} {
		if dir, ok := dirs[c]; ok {
			return cgroups.GetAllPids(dir)
		}
	}
	for _, dir := range dirs {
		return cgroups.GetAllPids(dir)
	}
	return nil, nil
}

// killCgroup kills whatever is left in the cgroup (processes of an exec,
// or of a container that shares another's pid namespace, outlive its
// first process) and waits until it is empty.
func killCgroup(m cgroups.Manager) {
	for i := 0; i < 50; i++ {
		pids, err := cgroupPids(m)
		if err != nil || len(pids) == 0 {
			break
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		// A frozen cgroup never lets the killed processes die.
		m.Freeze(cgroups.Thawed)
		time.Sleep(5 * time.Millisecond)
	}
}

// cgroupEmpty reports whether no process is left in the cgroup, from one
// counter instead of a walk of every hierarchy: v2's cgroup.events, or v1's
// pids.current (which counts the whole subtree). When a container's own
// pid namespace ends with its init, this is the usual answer. Unknown
// reads as not empty.
func cgroupEmpty(m cgroups.Manager) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		v, err := fscommon.GetValueByKey(m.Path(""), "cgroup.events", "populated")
		return err == nil && v == 0
	}
	p := m.Path("pids")
	if p == "" {
		return false
	}
	v, err := fscommon.GetCgroupParamUint(p, "pids.current")
	return err == nil && v == 0
}

// prepareCgroup makes the container's cgroup with its limits and device
// rules, before any process is in it. The starting process runs it while
// the shim starts up (spawnShim).
func prepareCgroup(m cgroups.Manager, path string, spec *Spec) error {
	// The previous run's cgroup (kept after its exit) goes first: its
	// OOM counter and limits belong to that run. A manager of its own:
	// Destroy forgets the paths it removed.
	if stale, err := newCgroupManager(path, spec.Resources, spec.Privileged); err == nil && len(cgroupDirs(stale)) > 0 {
		if err := destroyCgroup(stale); err != nil {
			return err
		}
	}
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if err := m.Set(cgroupConfig(path, spec.Resources, spec.Privileged).Resources); err != nil {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	return applyDeviceRules(m, -1, spec.Privileged, spec.Devices)
}

// joinCgroup puts pid into every hierarchy of an existing cgroup (exec).
func joinCgroup(m cgroups.Manager, pid int) error {
	return joinCgroupDirs(cgroupDirs(m), pid)
}

// openCgroupProcs opens cgroup.procs of each of dirs for writing (a child
// joins by writing "0"), once per directory (v1 controllers mounted
// together share one), in a fixed order.
func openCgroupProcs(dirs map[string]string) ([]*os.File, error) {
	seen := map[string]bool{}
	var out []*os.File
	for _, k := range slices.Sorted(maps.Keys(dirs)) {
		dir := dirs[k]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// joinCgroupDirs puts pid into each of dirs (cgroupDirs).
func joinCgroupDirs(dirs map[string]string, pid int) error {
	for _, dir := range dirs {
		if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
			return fmt.Errorf("join cgroup %s: %w", dir, err)
		}
	}
	return nil
}
