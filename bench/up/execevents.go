package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// execEvents reports every exec on the machine through the kernel's
// process events connector (NETLINK_CONNECTOR, group CN_IDX_PROC), with
// the kernel's own timestamp (CLOCK_MONOTONIC). The restart measurement
// uses it instead of listing /proc in a loop: the loop took CPU from the
// restart it timed (2 vCPUs here) and saw the new process up to a loop
// late. Needs root and CONFIG_PROC_EVENTS.
type execEvents struct{ fd int }

const (
	cnIdxProc         = 1 // CN_IDX_PROC
	cnValProc         = 1 // CN_VAL_PROC
	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	procEventExec     = 2 // PROC_EVENT_EXEC
	nlmsgHdrLen       = 16
	cnMsgLen          = 20
)

func listenExecs() (*execEvents, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process events connector: %w", err)
	}
	// Everything that forks or exits on the machine is an event too.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc, Pid: uint32(os.Getpid())}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events connector: %w", err)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(os.Getpid()))
	ne.PutUint32(msg[16:], cnIdxProc)
	ne.PutUint32(msg[20:], cnValProc)
	ne.PutUint16(msg[32:], 4)
	ne.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events connector: listen: %w", err)
	}
	return &execEvents{fd: fd}, nil
}

func (e *execEvents) Close() { unix.Close(e.fd) }

// monotonic is CLOCK_MONOTONIC now, the clock of the events' timestamps.
func monotonic() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// waitInit waits for the exec of a container init (initArgs) not in
// before, after since, and returns when (CLOCK_MONOTONIC) the kernel saw
// it exec.
func (e *execEvents) waitInit(before map[string]bool, since, timeout time.Duration) (time.Duration, error) {
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(timeout)
	ne := binary.NativeEndian
	for time.Now().Before(deadline) {
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		unix.SetsockoptTimeval(e.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR || err == unix.ENOBUFS {
			continue // timeout, or events dropped under load: read on
		}
		if err != nil {
			return 0, fmt.Errorf("process events: %w", err)
		}
		for msg := buf[:n]; len(msg) >= nlmsgHdrLen; {
			l := int(ne.Uint32(msg[0:]))
			if l < nlmsgHdrLen || l > len(msg) {
				break
			}
			ev := msg[nlmsgHdrLen+cnMsgLen : l]
			// struct proc_event: what, cpu, timestamp_ns, then for an
			// exec: process_pid, process_tgid.
			if len(ev) >= 24 && ne.Uint32(ev[0:]) == procEventExec {
				at := time.Duration(ne.Uint64(ev[8:]))
				tgid := strconv.Itoa(int(int32(ne.Uint32(ev[20:]))))
				if at >= since && !before[tgid] && isInit(tgid) {
					return at, nil
				}
			}
			msg = msg[(l+3)&^3:]
		}
	}
	return 0, fmt.Errorf("no restarted container process within %s", timeout)
}

// initArgs ends the command line of every container's pid 1 in this
// stack, whichever init runs it: tini -s --, berth-init --, podman's
// /run/podman-init --, each followed by the process's own arguments.
const initArgs = "\x00--\x00sleep\x00100000\x00"

// containerInits returns the pids of the stack's container inits.
func containerInits() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if isInit(e.Name()) {
			out[e.Name()] = true
		}
	}
	return out
}

func isInit(pid string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	return err == nil && strings.Contains(string(b), initArgs)
}
