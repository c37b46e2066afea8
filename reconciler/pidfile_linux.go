package reconciler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// SupervisorMarker is an argument every supervisor process carries, so
// that a pid file naming a reused pid is not mistaken for a supervisor.
const SupervisorMarker = "supervise"

// WritePidFile records the calling process as the project's supervisor.
func (s *Store) WritePidFile() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.PidFile(), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// RemovePidFile removes the pid file if it names the calling process.
func (s *Store) RemovePidFile() {
	if pid, _ := s.supervisorPid(); pid == os.Getpid() {
		os.Remove(s.PidFile())
	}
}

// supervisorPid returns the pid in the pid file when that process is alive
// and is a supervisor of this project; 0 otherwise.
func (s *Store) supervisorPid() (int, error) {
	b, err := os.ReadFile(s.PidFile())
	if err != nil {
		return 0, nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, nil
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return 0, nil
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	marked, named := false, false
	project := filepath.Base(s.dir)
	for i, a := range args {
		if string(a) == SupervisorMarker {
			marked = true
		}
		if (string(a) == "-p" || string(a) == "--project-name") && i+1 < len(args) && string(args[i+1]) == project {
			named = true
		}
		if string(a) == "--project-name="+project {
			named = true
		}
	}
	if pid == os.Getpid() {
		return pid, nil
	}
	if !marked || !named {
		return 0, nil
	}
	return pid, nil
}

// SupervisorPid returns the pid of the project's running supervisor, 0 if
// none runs.
func (s *Store) SupervisorPid() int {
	pid, _ := s.supervisorPid()
	return pid
}

// StopSupervisor shuts the project's supervisor down (SIGTERM: its
// containers keep running) and waits up to timeout for it to exit, then
// kills it. No supervisor running is fine.
func (s *Store) StopSupervisor(timeout time.Duration) error {
	pid, _ := s.supervisorPid()
	if pid == 0 || pid == os.Getpid() {
		return nil
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("supervisor %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop supervisor %d: %w", pid, err)
	}
	if waitPidfd(pidfd, timeout) {
		return nil
	}
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	if !waitPidfd(pidfd, 5*time.Second) {
		return fmt.Errorf("supervisor %d did not exit", pid)
	}
	return nil
}

func waitPidfd(fd int, timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left < 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}
