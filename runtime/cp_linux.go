package runtime

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inContainerFS runs fn on a dedicated OS thread whose filesystem view is
// the container's: the running container's mount namespace (setns), or,
// for a stopped one, its overlay mounted in a private mount namespace of
// that thread only (gone with the thread). fn sees the container's root
// as "/".
func (r *Runtime) inContainerFS(st *State, fn func() error) error {
	errc := make(chan error, 1)
	var mntFd = -1
	if st.Status == StatusRunning || st.Status == StatusPaused {
		pidfd, err := openProcess(st.Pid, st.PidStart)
		if err != nil {
			return fmt.Errorf("container %s: %w", shortID(st.ID), err)
		}
		mntFd, err = unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", st.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		unix.Close(pidfd)
		if err != nil {
			return fmt.Errorf("container %s: mount namespace: %w", shortID(st.ID), err)
		}
		defer unix.Close(mntFd)
	}
	go func() {
		// Never unlocked: the thread's namespaces differ from the others',
		// so Go must throw it away when this goroutine ends.
		runtime.LockOSThread()
		if mntFd >= 0 {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				errc <- fmt.Errorf("unshare fs: %w", err)
				return
			}
			if err := unix.Setns(mntFd, unix.CLONE_NEWNS); err != nil {
				errc <- fmt.Errorf("join mount namespace: %w", err)
				return
			}
		} else {
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				errc <- fmt.Errorf("unshare mount namespace: %w", err)
				return
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				errc <- err
				return
			}
			merged := filepath.Join(st.Dir, "merged")
			opts := "lowerdir=" + strings.Join(st.Image.LowerDirs, ":") + ",upperdir=" + filepath.Join(st.Dir, "upper") + ",workdir=" + filepath.Join(st.Dir, "work")
			if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
				errc <- fmt.Errorf("mount rootfs of %s: %w", shortID(st.ID), err)
				return
			}
			if err := unix.Chroot(merged); err != nil {
				errc <- err
				return
			}
			unix.Chdir("/")
		}
		errc <- fn()
	}()
	return <-errc
}

// CopyTo copies the host file or directory src to dst inside the container
// (Docker's cp rules: into dst if it is an existing directory, else as dst).
func (r *Runtime) CopyTo(ctx context.Context, ref, src, dst string) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.refresh(id)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, src)) }()
	err = r.inContainerFS(st, func() error { return extractTar(pr, dst) })
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("copy %s to %s:%s: %w", src, shortID(id), dst, err)
	}
	return nil
}

// CopyFrom copies src inside the container to the host path dst.
func (r *Runtime) CopyFrom(ctx context.Context, ref, src, dst string) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.refresh(id)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- r.inContainerFS(st, func() error {
			err := writeTar(pw, src)
			pw.CloseWithError(err)
			return err
		})
	}()
	xerr := extractTar(pr, dst)
	pr.CloseWithError(io.ErrClosedPipe)
	if err := <-errc; err != nil {
		return fmt.Errorf("copy %s:%s to %s: %w", shortID(id), src, dst, err)
	}
	if xerr != nil {
		return fmt.Errorf("copy %s:%s to %s: %w", shortID(id), src, dst, xerr)
	}
	return nil
}

// writeTar archives src with names starting at its base name.
func writeTar(w io.Writer, src string) error {
	tw := tar.NewWriter(w)
	src = filepath.Clean(src)
	base := filepath.Dir(src)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// extractTar writes the archive at dst: into it when dst is an existing
// directory, else renaming the archive's top entry to dst.
func extractTar(r io.Reader, dst string) error {
	dst = filepath.Clean(dst)
	into := false
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		into = true
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if name == ".." || strings.HasPrefix(name, "../") || filepath.IsAbs(name) {
			return fmt.Errorf("bad archive entry %q", h.Name)
		}
		var target string
		if into {
			target = filepath.Join(dst, name)
		} else {
			_, rest, _ := strings.Cut(name, "/")
			target = filepath.Join(dst, rest)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			// Refuse to write through a symlink planted at the target.
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_NOFOLLOW, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		default:
			continue
		}
		os.Lchown(target, h.Uid, h.Gid)
		if h.Typeflag != tar.TypeSymlink {
			os.Chmod(target, os.FileMode(h.Mode).Perm())
			os.Chtimes(target, h.ModTime, h.ModTime)
		}
	}
}

// Process is one process of a container, as Top lists it.
type Process struct {
	Pid, PPid, UID int
	Started        time.Time
	Cmd            string
}

// Top lists the container's processes (host pids), from its cgroup.
func (r *Runtime) Top(ctx context.Context, ref string) ([]Process, error) {
	id, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	st, err := r.refresh(id)
	if err != nil {
		return nil, err
	}
	if err := checkTransition(id, "top", st.Status); err != nil {
		return nil, err
	}
	m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged)
	if err != nil {
		return nil, err
	}
	pids, err := m.GetAllPids()
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", shortID(id), err)
	}
	btime := bootTime()
	var out []Process
	for _, pid := range pids {
		p := Process{Pid: pid}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 19 {
				p.PPid, _ = strconv.Atoi(f[1])
				ticks, _ := strconv.ParseInt(f[19], 10, 64)
				p.Started = btime.Add(time.Duration(ticks) * time.Second / 100)
			}
		}
		if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "Uid:"); ok {
					if f := strings.Fields(v); len(f) > 0 {
						p.UID, _ = strconv.Atoi(f[0])
					}
				}
			}
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		p.Cmd = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		out = append(out, p)
	}
	return out, nil
}

func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}
