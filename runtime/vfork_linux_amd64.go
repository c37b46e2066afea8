package runtime

import "golang.org/x/sys/unix"

// vforkFlags make the container's child share the shim's memory, with the
// spawn thread suspended until the child execs or exits: no copy of the
// shim's page tables, no copy-on-write faults in the shim afterwards.
const vforkFlags = unix.CLONE_VM | unix.CLONE_VFORK

// rawVfork is clone(2) with flags and the caller's stack (assembly).
//
//go:noescape
func rawVfork(flags uintptr) (pid uintptr, errno uintptr)
