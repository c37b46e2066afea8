package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Overlayfs whiteout forms (see Documentation/filesystems/overlayfs.rst).
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// resolveFlags keep every lookup inside the layer dir: an absolute symlink
// or ".." that would leave it fails with EXDEV instead of being followed.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// unpack extracts the tar stream r into dir (an empty directory), converting
// OCI whiteouts to overlayfs form. Every path is resolved with openat2
// relative to dir; an entry that would write outside dir is refused with an
// error wrapping ErrHostileLayer. The caller removes dir on error.
func unpack(ctx context.Context, r io.Reader, dir string, log *slog.Logger) error {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	u := &unpacker{root: root, log: log, buf: make([]byte, 1<<20), cachedFD: -1, isRoot: os.Geteuid() == 0}
	defer u.close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := u.entry(h, tr); err != nil {
			return err
		}
	}
	return u.finish()
}

type unpacker struct {
	root   int
	log    *slog.Logger
	buf    []byte
	isRoot bool
	// One cached parent dir fd: tar entries come grouped by directory.
	cachedDir string
	cachedFD  int
	dirTimes  []dirTime // applied last, deepest first, since children change them
}

type dirTime struct {
	path         string
	atime, mtime time.Time
}

func (u *unpacker) close() {
	u.dropCache()
	unix.Close(u.root)
}

func (u *unpacker) dropCache() {
	if u.cachedFD >= 0 {
		unix.Close(u.cachedFD)
	}
	u.cachedFD, u.cachedDir = -1, ""
}

func hostile(name, format string, args ...any) error {
	return fmt.Errorf("entry %q: %s: %w", name, fmt.Sprintf(format, args...), ErrHostileLayer)
}

// cleanName checks a tar name and returns it relative to the layer root
// ("." for the root itself).
func cleanName(name string) (string, error) {
	if name == "" {
		return "", hostile(name, "empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", hostile(name, "absolute path")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", hostile(name, "path contains \"..\"")
		}
	}
	return path.Clean(name), nil
}

// parent returns an fd of the directory dir (relative to the root), creating
// missing directories as Docker does. The fd is owned by the cache.
func (u *unpacker) parent(name, dir string) (int, error) {
	if dir == "." || dir == "" {
		return u.root, nil
	}
	if u.cachedFD >= 0 && u.cachedDir == dir {
		return u.cachedFD, nil
	}
	fd, err := u.resolveDir(name, dir, true)
	if err != nil {
		return -1, err
	}
	u.dropCache()
	u.cachedDir, u.cachedFD = dir, fd
	return fd, nil
}

// resolveDir opens dir beneath the root; create makes missing components.
func (u *unpacker) resolveDir(name, dir string, create bool) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(u.root, dir, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.EXDEV):
			return -1, hostile(name, "parent %q resolves outside the layer (through a symlink)", dir)
		case errors.Is(err, unix.ELOOP):
			return -1, hostile(name, "parent %q: too many symlinks", dir)
		case errors.Is(err, unix.ENOTDIR):
			return -1, fmt.Errorf("entry %q: parent %q is not a directory", name, dir)
		case errors.Is(err, unix.ENOENT) && create:
			// Create the missing parent, resolved the same way, then retry.
			pdir, base := path.Split(dir)
			pfd := u.root
			if pdir = path.Clean(pdir); pdir != "." {
				if pfd, err = u.resolveDir(name, pdir, true); err != nil {
					return -1, err
				}
			}
			err = unix.Mkdirat(pfd, base, 0o755)
			if pfd != u.root {
				unix.Close(pfd)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				return -1, fmt.Errorf("entry %q: create parent %q: %w", name, dir, err)
			}
			create = false
			continue
		default:
			return -1, fmt.Errorf("entry %q: open parent %q: %w", name, dir, err)
		}
	}
}

func (u *unpacker) entry(h *tar.Header, r io.Reader) error {
	p, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if p == "." {
		if h.Typeflag != tar.TypeDir {
			return hostile(h.Name, "the layer root must be a directory")
		}
		return u.dirMeta(h, u.root, ".", p)
	}
	dir, base := path.Split(p)
	dir = path.Clean(dir)

	if strings.HasPrefix(base, whiteoutPrefix) {
		pfd, err := u.parent(p, dir)
		if err != nil {
			return err
		}
		switch {
		case base == whiteoutOpaque:
			if err := unix.Fsetxattr(pfd, opaqueXattr, []byte("y"), 0); err != nil {
				return fmt.Errorf("entry %q: mark %q opaque: %w", h.Name, dir, err)
			}
			return nil
		case strings.HasPrefix(base, whiteoutMeta):
			return nil // aufs bookkeeping (.wh..wh.plnk etc.), meaningless here
		}
		target := base[len(whiteoutPrefix):]
		if target == "" || target == "." {
			return hostile(h.Name, "whiteout without a name")
		}
		if err := u.clear(pfd, p, target, false); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("entry %q: whiteout device for %q: %w", h.Name, target, err)
		}
		return nil
	}

	pfd, err := u.parent(p, dir)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := u.clear(pfd, p, base, true); err != nil {
			return err
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("entry %q: mkdir: %w", h.Name, err)
		}
		return u.dirMeta(h, pfd, base, p)
	case tar.TypeReg, tar.TypeRegA:
		if err := u.clear(pfd, p, base, false); err != nil {
			return err
		}
		return u.file(h, r, pfd, base)
	case tar.TypeSymlink:
		if err := u.clear(pfd, p, base, false); err != nil {
			return err
		}
		// The target is stored verbatim: it is data inside the layer. Later
		// entries cannot go through it out of the layer (resolveFlags).
		if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
			return fmt.Errorf("entry %q: symlink: %w", h.Name, err)
		}
		return u.meta(h, pfd, base, -1)
	case tar.TypeLink:
		t, err := cleanName(h.Linkname)
		if err != nil {
			return hostile(h.Name, "hard link target %q outside the layer", h.Linkname)
		}
		if t == "." {
			return hostile(h.Name, "hard link to the layer root")
		}
		tdir, tbase := path.Split(t)
		tfd, err := u.resolveDir(p, path.Clean(tdir), false)
		if err != nil {
			if errors.Is(err, ErrHostileLayer) {
				return hostile(h.Name, "hard link target %q resolves outside the layer", h.Linkname)
			}
			return fmt.Errorf("entry %q: hard link target %q: %w", h.Name, h.Linkname, err)
		}
		defer unix.Close(tfd)
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("entry %q: hard link target %q is not in the layer: %w", h.Name, h.Linkname, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return hostile(h.Name, "hard link to directory %q", h.Linkname)
		}
		if t == p {
			return nil
		}
		if err := u.clear(pfd, p, base, false); err != nil {
			return err
		}
		if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
			return fmt.Errorf("entry %q: hard link to %q: %w", h.Name, h.Linkname, err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if err := u.clear(pfd, p, base, false); err != nil {
			return err
		}
		mode := uint32(unix.S_IFIFO)
		switch h.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return fmt.Errorf("entry %q: mknod: %w", h.Name, err)
		}
		if err := u.meta(h, pfd, base, -1); err != nil {
			return err
		}
		return nil
	default:
		return fmt.Errorf("entry %q: tar entry type %q: %w", h.Name, string(h.Typeflag), ErrUnsupported)
	}
}

// clear removes an existing entry named base in pfd (a later tar entry
// replaces an earlier one), except a directory when keepDir is set.
func (u *unpacker) clear(pfd int, name, base string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && keepDir {
		return nil
	}
	if isDir {
		// A directory of this layer replaced by a non-directory: remove its
		// tree, and forget a cached fd inside it.
		if u.cachedDir == name || strings.HasPrefix(u.cachedDir, name+"/") {
			u.dropCache()
		}
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("entry %q: replace directory: %w", name, err)
		}
		return nil
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return fmt.Errorf("entry %q: replace: %w", name, err)
	}
	return nil
}

// file writes a regular file.
func (u *unpacker) file(h *tar.Header, r io.Reader, pfd int, base string) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("entry %q: create: %w", h.Name, err)
	}
	f := os.NewFile(uintptr(fd), h.Name)
	defer f.Close()
	if h.Size > 0 {
		if _, err := io.CopyBuffer(fileWriter{f}, io.LimitReader(r, h.Size), u.buf); err != nil {
			return fmt.Errorf("entry %q: write: %w", h.Name, err)
		}
	}
	return u.meta(h, pfd, base, fd)
}

// fileWriter hides os.File's ReadFrom so CopyBuffer uses our big buffer.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// dirMeta sets a directory's owner, mode and xattrs now and its times last.
func (u *unpacker) dirMeta(h *tar.Header, pfd int, base, p string) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("entry %q: open dir: %w", h.Name, err)
	}
	defer unix.Close(fd)
	hh := *h
	hh.ModTime, hh.AccessTime = time.Time{}, time.Time{}
	if err := u.meta(&hh, pfd, base, fd); err != nil {
		return err
	}
	u.dirTimes = append(u.dirTimes, dirTime{path: p, atime: h.AccessTime, mtime: h.ModTime})
	return nil
}

// meta applies owner, mode, xattrs and times. fd is the open entry, or -1
// for symlinks and device nodes (then *at calls relative to pfd are used).
func (u *unpacker) meta(h *tar.Header, pfd int, base string, fd int) error {
	var err error
	if fd >= 0 {
		err = unix.Fchown(fd, h.Uid, h.Gid)
	} else {
		err = unix.Fchownat(pfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil && (u.isRoot || !errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("entry %q: chown %d:%d: %w", h.Name, h.Uid, h.Gid, err)
	}
	if h.Typeflag != tar.TypeSymlink {
		mode := uint32(h.Mode) & 0o7777
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("entry %q: chmod %o: %w", h.Name, mode, err)
		}
	}
	for k, v := range h.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if strings.HasPrefix(attr, "trusted.overlay.") {
			// Would let a layer steer overlayfs (redirects, opaque dirs).
			u.log.Debug("ignoring overlay xattr in layer", "entry", h.Name, "xattr", attr)
			continue
		}
		if fd >= 0 {
			err = unix.Fsetxattr(fd, attr, []byte(v), 0)
		} else {
			err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(pfd)+"/"+base, attr, []byte(v), 0)
		}
		if err != nil {
			// Like Docker: a file system without the xattr namespace, and
			// SELinux labels the host cannot take, are not fatal.
			if errors.Is(err, unix.ENOTSUP) || attr == "security.selinux" || (!u.isRoot && errors.Is(err, unix.EPERM)) {
				u.log.Debug("xattr not kept", "entry", h.Name, "xattr", attr, "err", err)
				continue
			}
			return fmt.Errorf("entry %q: xattr %s: %w", h.Name, attr, err)
		}
	}
	if h.ModTime.IsZero() {
		return nil
	}
	return setTimes(pfd, base, h.AccessTime, h.ModTime, h.Name)
}

func setTimes(pfd int, base string, atime, mtime time.Time, name string) error {
	if atime.IsZero() {
		atime = mtime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("entry %q: set times: %w", name, err)
	}
	return nil
}

// finish sets directory times, deepest first.
func (u *unpacker) finish() error {
	u.dropCache()
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		d := u.dirTimes[i]
		if d.mtime.IsZero() {
			continue
		}
		if d.path == "." {
			if err := setTimes(u.root, ".", d.atime, d.mtime, d.path); err != nil {
				return err
			}
			continue
		}
		dir, base := path.Split(d.path)
		pfd := u.root
		if dir = path.Clean(dir); dir != "." {
			var err error
			if pfd, err = u.resolveDir(d.path, dir, false); err != nil {
				if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
					continue // replaced by a later entry
				}
				return err
			}
		}
		err := setTimes(pfd, base, d.atime, d.mtime, d.path)
		if pfd != u.root {
			unix.Close(pfd)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// syncFS flushes the file system holding dir.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// removeAllAt removes base in pfd recursively without following symlinks.
func removeAllAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	names, err := f.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
}
