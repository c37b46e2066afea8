//go:build linux && !amd64

package runtime

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// vforkFlags is empty where berth has no vfork trampoline: the child is
// an ordinary fork (copied page tables), which is correct, only slower.
const vforkFlags = 0

// rawVfork is clone(2) with flags: a fork.
//
//go:nosplit
func rawVfork(flags uintptr) (pid uintptr, errno uintptr) {
	r, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags, 0, 0, 0, 0, 0)
	return r, uintptr(e)
}
