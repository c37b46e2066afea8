package volumes

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mounter is what the Manager does to the host's mount table; a seam so that
// the logic above it is readable, and the one place with mount(2) calls.
type mounter interface {
	mount(o *localOpts, target string) error
	isMountpoint(path string) (bool, error)
	unmountAll(dir string) error
	boundElsewhere(dataDir string) (bool, error)
}

// hostMounter works on the calling process's mount namespace.
type hostMounter struct{}

// lock takes the volumes dir's flock; the returned func releases it. flock
// locks belong to the open file description, so goroutines of one process
// exclude each other as well as other processes.
func (m *Manager) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(m.root, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("volumes: lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("volumes: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

var mountFlagBits = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"suid":          {true, unix.MS_NOSUID},
	"nosuid":        {false, unix.MS_NOSUID},
	"dev":           {true, unix.MS_NODEV},
	"nodev":         {false, unix.MS_NODEV},
	"exec":          {true, unix.MS_NOEXEC},
	"noexec":        {false, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
}

var propagationBits = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

func (hostMounter) mount(o *localOpts, target string) (err error) {
	var flags, prop uintptr
	for _, f := range o.Flags {
		if p, ok := propagationBits[f]; ok {
			prop = p
			continue
		}
		b := mountFlagBits[f]
		if b.clear {
			flags &^= b.flag
		} else {
			flags |= b.flag
		}
	}
	if o.IsBind() {
		fi, err := os.Stat(o.Device)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("bind source %s is not a directory: %w", o.Device, ErrInvalidArgument)
		}
		if err := unix.Mount(o.Device, target, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("mount --bind %s %s: %w", o.Device, target, err)
		}
		defer func() {
			if err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
			}
		}()
		// Flags such as ro apply to a bind only through a remount.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|rest, ""); err != nil {
				return fmt.Errorf("remount %s with %s: %w", target, strings.Join(o.Flags, ","), err)
			}
		}
	} else {
		if err := unix.Mount(o.Device, target, o.Type, flags, strings.Join(o.Data, ",")); err != nil {
			return fmt.Errorf("mount -t %s %s %s: %w", o.Type, o.Device, target, err)
		}
		defer func() {
			if err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
			}
		}()
	}
	if prop != 0 {
		if err := unix.Mount("", target, "", prop, ""); err != nil {
			return fmt.Errorf("set propagation of %s: %w", target, err)
		}
	}
	return nil
}

// mountEntry is one line of a mountinfo file.
type mountEntry struct {
	major, minor uint32
	root         string // path inside the mounted filesystem
	mountpoint   string
}

func readMountinfo(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		maj, min, ok := strings.Cut(fields[2], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mountEntry{
			major:      uint32(ma),
			minor:      uint32(mi),
			root:       unescapeMountinfo(fields[3]),
			mountpoint: unescapeMountinfo(fields[4]),
		})
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// realPath resolves symlinks of p (the volumes root may live below one, e.g.
// a temp dir), as mountinfo shows real paths.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

func (hostMounter) isMountpoint(p string) (bool, error) {
	rp := realPath(p)
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, e := range ms {
		if e.mountpoint == rp {
			return true, nil
		}
	}
	return false, nil
}

// unmountAll detaches every mount at or below dir, deepest and latest first,
// until none is left (mounts may be stacked).
func (hostMounter) unmountAll(dir string) error {
	rd := realPath(dir)
	for range 100 {
		ms, err := readMountinfo("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		var below []string
		for _, e := range ms {
			if e.mountpoint == rd || strings.HasPrefix(e.mountpoint, rd+"/") {
				below = append(below, e.mountpoint)
			}
		}
		if len(below) == 0 {
			return nil
		}
		sort.SliceStable(below, func(i, j int) bool { return len(below[i]) > len(below[j]) })
		for _, mp := range below {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	return fmt.Errorf("unmount below %s: mounts keep coming back", dir)
}

// boundElsewhere reports whether another mount namespace (a running
// container) has dataDir, or a path below it, mounted somewhere. Copies of
// the host's own mount at the same path (namespaces cloned from the host)
// do not count.
func (hostMounter) boundElsewhere(dataDir string) (bool, error) {
	rd := realPath(dataDir)
	var st unix.Stat_t
	if err := unix.Stat(rd, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", rd, err)
	}
	maj, min := unix.Major(st.Dev), unix.Minor(st.Dev)
	self, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	// The host mount holding dataDir: the longest matching mount point on
	// the same device. rootInFS is dataDir as a path inside that filesystem.
	var holder *mountEntry
	for i, e := range self {
		if e.major != maj || e.minor != min {
			continue
		}
		if e.mountpoint == rd || e.mountpoint == "/" || strings.HasPrefix(rd, e.mountpoint+"/") {
			if holder == nil || len(e.mountpoint) >= len(holder.mountpoint) {
				holder = &self[i]
			}
		}
	}
	if holder == nil {
		return false, nil
	}
	rel, err := filepath.Rel(holder.mountpoint, rd)
	if err != nil {
		return false, err
	}
	rootInFS := filepath.Join(holder.root, rel)
	selfNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return false, err
	}
	seen := map[string]bool{selfNS: true}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false, err
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns/mnt"))
		if err != nil || seen[ns] {
			continue // gone, or a namespace already looked at
		}
		seen[ns] = true
		ms, err := readMountinfo(filepath.Join("/proc", p.Name(), "mountinfo"))
		if err != nil {
			continue
		}
		for _, e := range ms {
			if e.major != maj || e.minor != min || e.mountpoint == rd {
				continue
			}
			if e.root == rootInFS || strings.HasPrefix(e.root, rootInFS+"/") || rootInFS == "/" {
				return true, nil
			}
		}
	}
	return false, nil
}
