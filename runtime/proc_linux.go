package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// errGone means the process we recorded no longer exists (or its pid now
// belongs to another process).
var errGone = errors.New("process is gone")

// procStartTime returns field 22 (starttime, in clock ticks since boot) of
// /proc/<pid>/stat. Together with the pid it names one process for good.
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return 0, errGone
		}
		return 0, err
	}
	return parseStatStart(data)
}

func parseStatStart(data []byte) (uint64, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no ')'")
	}
	f := bytes.Fields(data[i+1:])
	// After ")": state is field 3, so starttime (22) is index 22-3 = 19.
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc stat: short line")
	}
	if string(f[0]) == "Z" || string(f[0]) == "X" {
		return 0, errGone
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}

// openProcess returns a pidfd for pid if it is still the process that
// started at start. The check happens after pidfd_open, so the fd cannot
// refer to a recycled pid.
func openProcess(pid int, start uint64) (int, error) {
	if pid <= 0 {
		return -1, errGone
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, errGone
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	st, err := procStartTime(pid)
	if err != nil || st != start {
		unix.Close(fd)
		if err == nil || errors.Is(err, errGone) {
			return -1, errGone
		}
		return -1, err
	}
	return fd, nil
}

// alive reports whether pid is still the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := procStartTime(pid)
	return err == nil && st == start
}

// pidfdWait blocks until the process behind pidfd exits or ctx ends.
func pidfdWait(ctx context.Context, pidfd int) error {
	_, err := pollWait(ctx, pidfd)
	return err
}

// pollWait blocks until one of fds is readable (it returns its index) or
// ctx ends. It polls in slices of at most 100 ms to notice a ctx without
// a deadline ending.
func pollWait(ctx context.Context, fds ...int) (int, error) {
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	for {
		timeout := 100
		if dl, ok := ctx.Deadline(); ok {
			if ms := int(time.Until(dl).Milliseconds()) + 1; ms < timeout {
				// Never negative: poll would block forever.
				timeout = max(ms, 0)
			}
		}
		n, err := unix.Poll(pfds, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return -1, fmt.Errorf("poll: %w", err)
		}
		if n > 0 {
			for i := range pfds {
				if pfds[i].Revents != 0 {
					return i, nil
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return -1, err
		}
	}
}

// signalProcess sends sig to pid if it is still the recorded process.
func signalProcess(pid int, start uint64, sig unix.Signal) error {
	fd, err := openProcess(pid, start)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errGone
		}
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}

// bootID identifies the current boot.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return string(bytes.TrimSpace(b))
}
