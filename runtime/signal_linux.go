package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// ParseSignal accepts "SIGTERM", "TERM", "term" or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("%w: signal %q out of range", ErrInvalidArgument, s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%w: unknown signal %q", ErrInvalidArgument, s)
}

func freezerState(s string) cgroups.FreezerState { return cgroups.FreezerState(s) }

// rlimitResource maps ulimit names to RLIMIT_* numbers.
var rlimitResource = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// checkUlimits rejects limits above the current hard limits: without
// CAP_SYS_RESOURCE (root on some hosts lacks it) they cannot be raised.
func checkUlimits(us []Ulimit) error {
	for _, u := range us {
		var cur unix.Rlimit
		if err := unix.Getrlimit(rlimitResource[u.Name], &cur); err != nil {
			continue
		}
		if cur.Max != unix.RLIM_INFINITY && uint64(u.Hard) > cur.Max {
			if hasCap(24) {
				continue
			}
			return fmt.Errorf("%w: ulimit %s: hard limit %d is above this host's hard limit %d (berth lacks CAP_SYS_RESOURCE to raise it)", ErrInvalidArgument, u.Name, u.Hard, cur.Max)
		}
	}
	return nil
}
