package runtime

import (
	"fmt"
	"sort"
	"strings"
)

// capNames maps capability names (without CAP_) to their numbers (kernel 6.x).
var capNames = map[string]int{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
	"KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
	"NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
	"IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
	"SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21,
	"SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
	"SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29,
	"AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
	"SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
	"PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
	"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
	"AUDIT_WRITE",
}

func normCap(name string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "CAP_")
}

// capabilities computes the container's capability numbers from Docker's
// rules: privileged = all; else defaults + add - drop, where "ALL" in add
// means every capability and "ALL" in drop starts from none (then add).
func capabilities(privileged bool, add, drop []string) ([]int, error) {
	set := map[int]bool{}
	all := func() {
		for _, n := range capNames {
			set[n] = true
		}
	}
	if privileged {
		all()
		return sortedCaps(set), nil
	}
	dropAll := false
	for _, d := range drop {
		if normCap(d) == "ALL" {
			dropAll = true
		}
	}
	if !dropAll {
		for _, c := range DefaultCapabilities {
			set[capNames[c]] = true
		}
	}
	for _, d := range drop {
		n := normCap(d)
		if n == "ALL" {
			continue
		}
		num, ok := capNames[n]
		if !ok {
			return nil, fmt.Errorf("%w: cap_drop: unknown capability %q", ErrInvalidArgument, d)
		}
		delete(set, num)
	}
	for _, a := range add {
		n := normCap(a)
		if n == "ALL" {
			all()
			continue
		}
		num, ok := capNames[n]
		if !ok {
			return nil, fmt.Errorf("%w: cap_add: unknown capability %q", ErrInvalidArgument, a)
		}
		set[num] = true
	}
	return sortedCaps(set), nil
}

func sortedCaps(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func containsCap(list []string, name string) bool {
	for _, c := range list {
		if n := normCap(c); n == name || n == "ALL" {
			return true
		}
	}
	return false
}

func removeCap(caps []int, c int) []int {
	out := caps[:0:0]
	for _, x := range caps {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}
