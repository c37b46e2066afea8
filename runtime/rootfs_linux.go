package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// maskedPaths and readonlyPaths are Docker's defaults (not applied to
// privileged containers).
var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

type device struct {
	name         string
	major, minor uint32
}

var defaultDevices = []device{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", src, dst, fstype, err)
	}
	return nil
}

// prepareRootfs builds the container's filesystem from the shim's spawn
// thread, which has its own mount namespace (and the container's uts, ipc
// and net ones): everything but what needs the container's pid namespace,
// which the container's first process does (procOps, pivotOps). It sets
// c.ProcDir. Nothing is visible on the host: the mount namespace dies with
// the container.
func prepareRootfs(c *initConfig) (master, slave *os.File, err error) {
	err = prepareRootfsInner(c, &master, &slave)
	if err != nil && master != nil {
		master.Close()
		slave.Close()
		master, slave = nil, nil
	}
	return master, slave, err
}

func prepareRootfsInner(c *initConfig, master, slave **os.File) error {
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	r := c.MergedDir
	opts := "lowerdir=" + strings.Join(c.LowerDirs, ":") + ",upperdir=" + c.UpperDir + ",workdir=" + c.WorkDir
	if err := mount("overlay", r, "overlay", 0, opts); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	// Volumes first-use copy needs the image content at the target, so do
	// it before anything is mounted over the rootfs.
	for _, m := range c.Mounts {
		if m.CopyUp && m.Type == "bind" {
			if err := copyUp(r, m); err != nil {
				return err
			}
		}
	}
	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	procDir, err := securePath(r, "/proc", false)
	if err != nil {
		return err
	}
	if err := mountAt(r, "/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	if err := makeDevices(filepath.Join(r, "dev"), c.Privileged); err != nil {
		return err
	}
	if err := mountAt(r, "/dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	if err := mountShm(r, c); err != nil {
		return err
	}
	if err := mountAt(r, "/dev/mqueue", "mqueue", "mqueue", nsd|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if c.HostNet {
		if err := bindAt(r, "/sys", "/sys", true, true, "rslave"); err != nil {
			return err
		}
	} else if err := mountAt(r, "/sys", "sysfs", "sysfs", nsd|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	if err := makeMappedDevices(r, c.Devices); err != nil {
		return err
	}
	if c.Console {
		m, sl, err := newContainerPty(filepath.Join(r, "dev/pts/ptmx"))
		if err != nil {
			return err
		}
		*master, *slave = m, sl
		p, err := securePath(r, "/dev/console", true)
		if err != nil {
			return err
		}
		if err := mount("/proc/self/fd/"+strconv.Itoa(int(sl.Fd())), p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for _, m := range c.Mounts {
		if err := userMount(r, m); err != nil {
			return err
		}
	}
	for _, f := range []struct{ target, src string }{
		{"/etc/hostname", c.HostnamePath}, {"/etc/hosts", c.HostsPath}, {"/etc/resolv.conf", c.ResolvConfPath},
	} {
		if f.src == "" || hasMountAt(c.Mounts, f.target) {
			continue
		}
		if err := bindAt(r, f.target, f.src, false, false, ""); err != nil {
			return err
		}
	}
	// The namespaced sysctls resolve against the writer's namespaces: this
	// thread is in the container's net, ipc and uts ones.
	for k, v := range c.Sysctls {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	if c.Hostname != "" {
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if c.Domainname != "" {
		if err := unix.Setdomainname([]byte(c.Domainname)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	if c.NewNet {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	c.ProcDir = procDir
	return nil
}

// procOps appends what needs the container's pid and cgroup namespaces,
// so is done by its first process: /proc at procDir (the resolved /proc of
// root), /sys/fs/cgroup, then what hides the host's kernel from it.
func procOps(prog *sysProgram, root, procDir string, privileged bool) error {
	if _, err := prog.mount("mount proc on /proc", "proc", procDir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := cgroupOps(prog, root, privileged); err != nil {
		return err
	}
	if privileged {
		return nil
	}
	for _, p := range maskedPaths {
		if err := maskPath(prog, root, p); err != nil {
			return err
		}
	}
	for _, p := range readonlyPaths {
		if err := readonlyPath(prog, root, p); err != nil {
			return err
		}
	}
	return nil
}

// cgroupOps appends the container's /sys/fs/cgroup, as Docker gives it:
// each of the host's cgroup hierarchies mounted anew from inside the
// container's cgroup namespace, so that the container's own cgroup is the
// root it sees (programs read their memory and CPU limits there),
// read-only unless privileged. On a v1 or hybrid host that is a tmpfs with
// one mount per hierarchy and the host's symlinks (cpu -> cpu,cpuacct).
func cgroupOps(prog *sysProgram, root string, privileged bool) error {
	mounts, links := hostCgroupLayout()
	if len(mounts) == 0 {
		return nil // no cgroup file system on the host: nothing to show
	}
	base := filepath.Join(root, "sys/fs/cgroup")
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	ro := uintptr(unix.MS_RDONLY)
	if privileged {
		ro = 0
	}
	if len(mounts) == 1 && mounts[0].dir == "" { // cgroup v2 only
		_, err := prog.mount("mount /sys/fs/cgroup", "cgroup2", base, "cgroup2", flags|ro, mounts[0].opts)
		return err
	}
	if _, err := prog.mount("mount /sys/fs/cgroup", "tmpfs", base, "tmpfs", flags, "mode=755"); err != nil {
		return err
	}
	for _, m := range mounts {
		if m.dir == "" {
			continue
		}
		p := filepath.Join(base, m.dir)
		pp, err := prog.str(p)
		if err != nil {
			return err
		}
		prog.add("mkdir /sys/fs/cgroup/"+m.dir, unix.SYS_MKDIRAT, atFDCWD, pp, 0o755)
		if _, err := prog.mount("mount /sys/fs/cgroup/"+m.dir, m.fstype, p, m.fstype, flags|ro, m.opts); err != nil {
			return err
		}
	}
	for name, target := range links {
		t, err := prog.str(target)
		if err != nil {
			return err
		}
		l, err := prog.str(filepath.Join(base, name))
		if err != nil {
			return err
		}
		prog.add("symlink /sys/fs/cgroup/"+name, unix.SYS_SYMLINKAT, t, atFDCWD, l)
	}
	if ro != 0 {
		if _, err := prog.mount("read-only /sys/fs/cgroup", "", base, "", unix.MS_REMOUNT|flags|ro, ""); err != nil {
			return err
		}
	}
	return nil
}

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(-unix.AT_FDCWD - 1)

// cgroupMount is one of the host's cgroup hierarchies: its directory under
// /sys/fs/cgroup ("" for /sys/fs/cgroup itself), file system type and the
// options that name it (its controllers, name=, cgroup2 options).
type cgroupMount struct{ dir, fstype, opts string }

// hostCgroupLayout reads the host's hierarchies under /sys/fs/cgroup from
// mountinfo, and the symlinks between them.
func hostCgroupLayout() ([]cgroupMount, map[string]string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, nil
	}
	mounts := parseCgroupMounts(string(data))
	links := map[string]string{}
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range ents {
			if e.Type()&os.ModeSymlink != 0 {
				if t, err := os.Readlink(filepath.Join("/sys/fs/cgroup", e.Name())); err == nil && !strings.Contains(t, "/") {
					links[e.Name()] = t
				}
			}
		}
	}
	return mounts, links
}

// parseCgroupMounts picks the cgroup and cgroup2 mounts at /sys/fs/cgroup
// and directly below it out of a mountinfo text. The options keep what
// selects the hierarchy: rw/ro go (the mount flags say that), and so does
// release_agent=, which only the initial cgroup namespace may set.
func parseCgroupMounts(mountinfo string) []cgroupMount {
	var out []cgroupMount
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		dir, ok := strings.CutPrefix(f[4], "/sys/fs/cgroup")
		if !ok || (dir != "" && (dir[0] != '/' || strings.Contains(dir[1:], "/"))) {
			continue
		}
		var opts []string
		for _, o := range strings.Split(g[2], ",") {
			if o != "rw" && o != "ro" && !strings.HasPrefix(o, "release_agent=") {
				opts = append(opts, o)
			}
		}
		out = append(out, cgroupMount{dir: strings.TrimPrefix(dir, "/"), fstype: g[0], opts: strings.Join(opts, ",")})
	}
	return out
}

func hasMountAt(ms []Mount, target string) bool {
	for _, m := range ms {
		if filepath.Clean(m.Target) == target {
			return true
		}
	}
	return false
}

// securePath resolves target inside root without following symlinks out of
// it, and creates it (a dir, or a file when file is set) if missing.
func securePath(root, target string, file bool) (string, error) {
	p, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return "", fmt.Errorf("resolve %s in rootfs: %w", target, err)
	}
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		if file {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", fmt.Errorf("create mount point %s: %w", target, err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", fmt.Errorf("create mount point %s: %w", target, err)
			}
			f.Close()
		} else if err := os.MkdirAll(p, 0o755); err != nil {
			return "", fmt.Errorf("create mount point %s: %w", target, err)
		}
	}
	// Re-resolve: creating parents may not have changed anything, but a
	// symlink at the leaf must not be followed by mount(2).
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return "", fmt.Errorf("mount point %s is a symlink after resolution", target)
	}
	return p, nil
}

func mountAt(root, target, src, fstype string, flags uintptr, data string) error {
	p, err := securePath(root, target, false)
	if err != nil {
		return err
	}
	return mount(src, p, fstype, flags, data)
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
}

// bindAt bind-mounts src (a host path, resolved before pivot) on target.
func bindAt(root, target, src string, recursive, ro bool, propagation string, extra ...string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	p, err := securePath(root, target, !fi.IsDir())
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND)
	if recursive {
		flags |= unix.MS_REC
	}
	if err := mount(src, p, "", flags, ""); err != nil {
		return err
	}
	rflags := uintptr(0)
	for _, o := range extra {
		switch o {
		case "nosuid":
			rflags |= unix.MS_NOSUID
		case "nodev":
			rflags |= unix.MS_NODEV
		case "noexec":
			rflags |= unix.MS_NOEXEC
		}
	}
	if ro {
		rflags |= unix.MS_RDONLY
	}
	if rflags != 0 {
		if err := mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|rflags, ""); err != nil {
			return fmt.Errorf("bind %s read-only: %w", target, err)
		}
	}
	if pf, ok := propagationFlags[propagation]; ok {
		if err := mount("", p, "", pf, ""); err != nil {
			return err
		}
	}
	return nil
}

func userMount(root string, m Mount) error {
	switch m.Type {
	case "bind":
		return bindAt(root, m.Target, m.Source, true, m.ReadOnly, m.Propagation, m.Options...)
	case "tmpfs":
		mode := m.TmpfsMode
		if mode == 0 {
			mode = 0o1777
		}
		data := "mode=" + strconv.FormatUint(uint64(mode), 8)
		if m.TmpfsSize > 0 {
			data += ",size=" + strconv.FormatInt(m.TmpfsSize, 10)
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		for _, o := range m.Options {
			switch o {
			case "noexec":
				flags |= unix.MS_NOEXEC
			case "exec":
				flags &^= unix.MS_NOEXEC
			case "suid":
				flags &^= unix.MS_NOSUID
			case "dev":
				flags &^= unix.MS_NODEV
			}
		}
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		return mountAt(root, m.Target, "tmpfs", "tmpfs", flags, data)
	}
	return fmt.Errorf("mount %s: unknown type %q", m.Target, m.Type)
}

func makeDevices(dev string, privileged bool) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range defaultDevices {
		p := filepath.Join(dev, d.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
	}
	if privileged {
		// Privileged containers see the host's device nodes too.
		ents, _ := os.ReadDir("/dev")
		for _, e := range ents {
			if e.Type()&(os.ModeDevice|os.ModeCharDevice) == 0 {
				continue
			}
			var st unix.Stat_t
			if unix.Stat("/dev/"+e.Name(), &st) != nil {
				continue
			}
			p := filepath.Join(dev, e.Name())
			if _, err := os.Lstat(p); err == nil {
				continue
			}
			unix.Mknod(p, st.Mode, int(st.Rdev))
		}
	}
	links := [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("dev symlink %s: %w", l[1], err)
		}
	}
	return nil
}

// mountShm gives the container its /dev/shm: the host's with the host's
// IPC namespace (Docker's --ipc host: POSIX shared memory lives there),
// else a fresh tmpfs of ShmSize.
func mountShm(root string, c *initConfig) error {
	if c.HostIPC {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			return bindAt(root, "/dev/shm", "/dev/shm", false, false, "")
		}
	}
	return mountAt(root, "/dev/shm", "shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+strconv.FormatInt(c.ShmSize, 10))
}

// makeMappedDevices makes each device of the spec at its target: a node
// of the host node's type, numbers, mode and owner. It uses mknod, as for
// /dev/null and the rest: init is real root here, and a node in the
// container's /dev tmpfs (or its upper dir) is the container's own, while
// a bind mount would pin the host's inode and share its later chmods.
// Whether the container may use the node is the device cgroup's business
// (applyDeviceRules).
func makeMappedDevices(root string, ds []Device) error {
	if len(ds) == 0 {
		return nil
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range ds {
		var st unix.Stat_t
		if err := unix.Stat(d.Source, &st); err != nil {
			return fmt.Errorf("device %s: %w", d.Source, err)
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
			return fmt.Errorf("device %s: not a device node", d.Source)
		}
		target := d.Target
		if target == "" {
			target = d.Source
		}
		p, err := securejoin.SecureJoin(root, target)
		if err != nil {
			return fmt.Errorf("device %s: resolve %s in rootfs: %w", d.Source, target, err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("device %s: %w", d.Source, err)
		}
		// The mapping wins over what is there (a default node such as
		// /dev/null, or a file of the image), as with runc.
		if fi, err := os.Lstat(p); err == nil {
			if fi.IsDir() {
				return fmt.Errorf("device %s: target %s is a directory", d.Source, target)
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("device %s: %w", d.Source, err)
			}
		}
		if err := unix.Mknod(p, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("device %s: mknod %s: %w", d.Source, target, err)
		}
		if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("device %s: chown %s: %w", d.Source, target, err)
		}
	}
	return nil
}

// pivotOps makes root the new / ("pivot onto itself": no put_old dir
// needed), read-only if asked.
func pivotOps(prog *sysProgram, root string, readOnly bool) error {
	for _, step := range []struct {
		what string
		nr   uintptr
		args []string
	}{
		{"chdir rootfs", unix.SYS_CHDIR, []string{root}},
		{"pivot_root", unix.SYS_PIVOT_ROOT, []string{".", "."}},
	} {
		var a []uintptr
		for _, s := range step.args {
			v, err := prog.str(s)
			if err != nil {
				return err
			}
			a = append(a, v)
		}
		prog.add(step.what, step.nr, a...)
	}
	if _, err := prog.mount("pivot_root: old root to slave", "", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	dot, err := prog.str(".")
	if err != nil {
		return err
	}
	prog.add("unmount old root", unix.SYS_UMOUNT2, dot, unix.MNT_DETACH)
	slash, err := prog.str("/")
	if err != nil {
		return err
	}
	prog.add("chdir /", unix.SYS_CHDIR, slash)
	if readOnly {
		if _, err := prog.mount("read-only rootfs", "", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return err
		}
	}
	return nil
}

// maskPath hides p (a path in the container's /proc or /sys) under root:
// a directory under a read-only tmpfs, a file under /dev/null. Whether p
// is a directory is read from the host's /proc (the same kernel) or the
// container's /sys (already mounted).
func maskPath(prog *sysProgram, root, p string) error {
	probe := p
	if strings.HasPrefix(p, "/sys/") {
		probe = filepath.Join(root, p)
	}
	fi, err := os.Stat(probe)
	if err != nil {
		return nil
	}
	target := filepath.Join(root, p)
	if fi.IsDir() {
		_, err := prog.mount("mask "+p, "tmpfs", target, "tmpfs", unix.MS_RDONLY, "")
		return err
	}
	op, err := prog.mount("mask "+p, "/dev/null", target, "", unix.MS_BIND, "")
	if err != nil {
		return err
	}
	op.allowed = unix.ENOENT
	return nil
}

// readonlyPath makes p (under root) a read-only bind of itself.
func readonlyPath(prog *sysProgram, root, p string) error {
	target := filepath.Join(root, p)
	op, err := prog.mount("read-only "+p, target, target, "", unix.MS_BIND|unix.MS_REC, "")
	if err != nil {
		return err
	}
	op.allowed = unix.ENOENT
	op, err = prog.mount("read-only "+p, "", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err != nil {
		return err
	}
	op.allowed = unix.ENOENT
	return nil
}

// loopbackUp sets IFF_UP on lo with an ioctl (cheaper than netlink).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// copyUp copies the image content at m.Target into m.Source when Source is
// an empty directory (Docker's first use of a named volume).
func copyUp(root string, m Mount) error {
	ents, err := os.ReadDir(m.Source)
	if err != nil || len(ents) > 0 {
		return nil
	}
	src, err := securejoin.SecureJoin(root, m.Target)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if err := copyTree(src, m.Source); err != nil {
		return fmt.Errorf("copy image content of %s into volume %s: %w", m.Target, m.Source, err)
	}
	// The volume's root takes the owner and mode of the image's directory.
	st := fi.Sys().(*syscall.Stat_t)
	os.Lchown(m.Source, int(st.Uid), int(st.Gid))
	return os.Chmod(m.Source, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid|os.ModeSetuid))
}

// copyTree copies dir src's content into the existing dir dst, keeping
// owners, modes, symlinks and times of regular files.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		case fi.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(p, target); err != nil {
				return err
			}
		default:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		}
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if err := os.Chmod(target, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid|os.ModeSetuid)); err != nil {
				return err
			}
			ts := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
			unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
