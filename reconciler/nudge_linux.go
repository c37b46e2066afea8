package reconciler

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// nudgeAddr names the abstract unix socket on which the project's
// supervisor listens for nudges, after the identity (device, inode) of
// the project's state dir: every spelling of --root finds the same one,
// no file is left behind, and the kernel frees the name when the
// supervisor dies.
func (s *Store) nudgeAddr() (*net.UnixAddr, error) {
	var st unix.Stat_t
	if err := unix.Stat(s.dir, &st); err != nil {
		return nil, err
	}
	return &net.UnixAddr{Net: "unixgram", Name: fmt.Sprintf("@berth-supervisor-%x-%x", st.Dev, st.Ino)}, nil
}

// NudgeSupervisor asks the project's supervisor, if one runs, to look at
// the project again. Commands that change the project call it when they
// are done (cmd's project lock does): the supervisor waits on the runs it
// knows of, and would not otherwise learn of one that `berth start` or
// `berth restart` began. Best effort: with no supervisor, nothing happens.
func (s *Store) NudgeSupervisor() {
	addr, err := s.nudgeAddr()
	if err != nil {
		return
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte{1})
}

// listenNudges calls fn on every nudge (NudgeSupervisor) until stop.
func (s *Store) listenNudges(fn func()) (stop func(), err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := s.nudgeAddr()
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		return nil, err
	}
	// An abstract socket takes datagrams from anyone on the machine: only
	// root's and this user's nudges count (the kernel attaches the
	// sender's credentials).
	raw, err := c.SyscallConn()
	if err == nil {
		raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("nudge socket: %w", err)
	}
	go func() {
		buf := make([]byte, 16)
		oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
		for {
			_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return // closed by stop
			}
			if trusted(oob[:oobn]) {
				fn()
			}
		}
	}()
	return func() { c.Close() }, nil
}

// trusted reports whether a datagram's credentials are root's or this
// process's user's.
func trusted(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
		}
	}
	return false
}
