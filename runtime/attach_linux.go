package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The shim of a container with OpenStdin or Tty listens on
// <dir>/attach.sock. A client that connects receives, as SCM_RIGHTS, the
// write end of the container's stdin pipe (sent once: closing it is the
// container's EOF, like Docker's StdinOnce) or the pty master (sent to
// every client; output still comes from the log).

// shortSockPath names a socket in dir through /proc/self/fd, so paths
// longer than sun_path's 108 bytes work. The returned func closes the dir.
func shortSockPath(dir string) (string, func(), error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/attach.sock", func() { unix.Close(fd) }, nil
}

// serveAttach hands fd to clients until stop is closed; once=true serves
// one client and then closes fd.
func serveAttach(dir string, f *os.File, once bool, stop <-chan struct{}) error {
	p, done, err := shortSockPath(dir)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "attach.sock"))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	done()
	if err != nil {
		return fmt.Errorf("attach socket: %w", err)
	}
	os.Chmod(filepath.Join(dir, "attach.sock"), 0o600)
	go func() {
		<-stop
		l.Close()
	}()
	go func() {
		defer os.Remove(filepath.Join(dir, "attach.sock"))
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			c.WriteMsgUnix([]byte{0}, unix.UnixRights(int(f.Fd())), nil)
			c.Close()
			if once {
				f.Close()
				l.Close()
				return
			}
		}
	}()
	return nil
}

// Stdin is a container's stdin (or pty) obtained by AttachStdin.
type Stdin struct {
	f   *os.File
	tty bool
}

func (s *Stdin) Write(p []byte) (int, error) { return s.f.Write(p) }

// Close closes our end; for a non-tty container that is its stdin's EOF.
func (s *Stdin) Close() error { return s.f.Close() }

// Resize sets the pty's window size (no-op without a tty).
func (s *Stdin) Resize(rows, cols uint16) error {
	if !s.tty {
		return nil
	}
	return unix.IoctlSetWinsize(int(s.f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}

// AttachStdin connects to the running container's stdin; the container
// must have been created with OpenStdin or Tty.
func (r *Runtime) AttachStdin(ctx context.Context, ref string) (*Stdin, error) {
	id, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	st, err := r.refresh(id)
	if err != nil {
		return nil, err
	}
	if st.Status != StatusRunning {
		return nil, &TransitionError{ID: id, Op: "attach to", Status: st.Status}
	}
	if !st.Spec.OpenStdin && !st.Spec.Tty {
		return nil, fmt.Errorf("%w: container %s was not created with stdin open (-i) or a tty (-t)", ErrInvalidArgument, shortID(id))
	}
	p, done, err := shortSockPath(st.Dir)
	if err != nil {
		return nil, err
	}
	defer done()
	// The shim stops serving once the process has exited (and been
	// reaped): a failure then says the container is done, which a caller
	// that started it a moment ago (`run -it busybox true`) can tell apart
	// with errors.Is(err, ErrInvalidState).
	failed := func(err error) error {
		if !alive(st.Pid, st.PidStart) {
			return &TransitionError{ID: id, Op: "attach to", Status: StatusExited}
		}
		return fmt.Errorf("attach to %s: %w", shortID(id), err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		return nil, failed(err)
	}
	defer c.Close()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, failed(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("attach to %s: stdin already attached by another client", shortID(id))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("attach to %s: no fd received", shortID(id))
	}
	unix.CloseOnExec(fds[0])
	return &Stdin{f: os.NewFile(uintptr(fds[0]), "stdin"), tty: st.Spec.Tty}, nil
}
