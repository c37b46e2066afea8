package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// newContainerPty opens a pty pair from the devpts instance whose ptmx is
// at ptmx (the container's own, so the slave's name is valid inside it).
func newContainerPty(ptmx string) (master, slave *os.File, err error) {
	m, err := os.OpenFile(ptmx, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master: no path lookup.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	fd := int(r)
	if errno != 0 {
		err := error(errno)
		n, err2 := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
		if err2 != nil {
			m.Close()
			return nil, nil, fmt.Errorf("pty peer: %w", err)
		}
		s, err := os.OpenFile(filepath.Join(filepath.Dir(ptmx), fmt.Sprint(n)), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			m.Close()
			return nil, nil, err
		}
		return m, s, nil
	}
	return m, os.NewFile(uintptr(fd), "pty-slave"), nil
}

// becomeTty sets the pty's window size (rows, cols; zero = leave it),
// sends master to the other end of sock (SCM_RIGHTS), makes slave our
// stdin/stdout/stderr and controlling terminal. The size is set here, before
// the process runs, so that its first look at the terminal sees it.
func becomeTty(sock *os.File, master, slave *os.File, size [2]uint16) error {
	if size != [2]uint16{} {
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: size[0], Col: size[1]}); err != nil {
			return fmt.Errorf("pty window size: %w", err)
		}
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte{0}, unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send pty master: %w", err)
	}
	master.Close()
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("pty stdio: %w", err)
		}
	}
	slave.Close()
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("controlling tty: %w", err)
	}
	return nil
}

// recvTtyOrError reads the first answer on sock: a pty master (one byte
// with SCM_RIGHTS) or a syncMsg with the error that came first. After a
// master, the caller keeps reading syncMsgs from rest.
func recvTtyOrError(sock *os.File) (*os.File, io.Reader, *syncMsg) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || n == 0 {
		return nil, sock, nil // EOF: handled by the caller's decode
	}
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
				return os.NewFile(uintptr(fds[0]), "pty-master"), io.MultiReader(bytes.NewReader(buf[1:n]), sock), nil
			}
		}
	}
	var msg syncMsg
	if err := json.NewDecoder(io.MultiReader(bytes.NewReader(buf[:n]), sock)).Decode(&msg); err != nil {
		return nil, sock, &syncMsg{Error: "bad message from init: " + err.Error(), ExitCode: 125}
	}
	return nil, sock, &msg
}
