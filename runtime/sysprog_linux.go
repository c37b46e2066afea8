package runtime

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysProgram is a list of system calls decided in advance, with every
// argument already in memory. The shim runs one in a forked child between
// clone and execve: a forked copy of a Go process may not allocate, lock,
// grow its stack or call into the scheduler, so everything that needs Go
// (paths, users, mounts that take decisions) is done before the fork, and
// the child only replays these calls. This is what saves a second Go
// start-up (a re-executed init) on every container start. The exec helper
// runs the same kind of list in-process (run).
type sysProgram struct {
	ops  []sysOp
	keep []any // what the ops' pointers point to, kept alive and unmoved
}

type sysOp struct {
	nr   uintptr
	args [6]uintptr
	// allowed is an errno that counts as success (0: none), e.g. EINVAL
	// for dropping a capability this kernel does not know.
	allowed syscall.Errno
	// nonzero: a zero result is a failure too (a read that hit EOF).
	nonzero bool
	what    string
	// code is the exit code a failure of this op means (125 by default;
	// execve: 126 or 127).
	code int
}

// add appends an op and returns it for options.
func (p *sysProgram) add(what string, nr uintptr, args ...uintptr) *sysOp {
	op := sysOp{nr: nr, what: what, code: 125}
	copy(op.args[:], args)
	p.ops = append(p.ops, op)
	return &p.ops[len(p.ops)-1]
}

// str returns a pointer to a NUL-terminated copy of s that lives as long
// as p.
func (p *sysProgram) str(s string) (uintptr, error) {
	b, err := unix.BytePtrFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	p.keep = append(p.keep, b)
	return uintptr(unsafe.Pointer(b)), nil
}

// strv returns a pointer to a NULL-terminated array of C strings.
func (p *sysProgram) strv(ss []string) (uintptr, error) {
	v, err := syscall.SlicePtrFromStrings(ss)
	if err != nil {
		return 0, err
	}
	p.keep = append(p.keep, v)
	return uintptr(unsafe.Pointer(&v[0])), nil
}

// ptr keeps v (a pointer to a heap object) alive and returns its address.
func (p *sysProgram) ptr(v any, addr unsafe.Pointer) uintptr {
	p.keep = append(p.keep, v)
	return uintptr(addr)
}

// mount appends mount(2) with its arguments as strings.
func (p *sysProgram) mount(what, src, target, fstype string, flags uintptr, data string) (*sysOp, error) {
	var a [4]uintptr
	for i, s := range []string{src, target, fstype, data} {
		if s == "" && i != 1 {
			continue // NULL
		}
		v, err := p.str(s)
		if err != nil {
			return nil, err
		}
		a[i] = v
	}
	return p.add(what, unix.SYS_MOUNT, a[0], a[1], a[2], flags, a[3]), nil
}

// failure describes op i failing with errno e, and its exit code.
func (p *sysProgram) failure(i int, e syscall.Errno) (string, int) {
	if i < 0 || i >= len(p.ops) {
		return fmt.Sprintf("container setup failed (step %d): %v", i, e), 125
	}
	op := &p.ops[i]
	code := op.code
	if op.nr == unix.SYS_EXECVE {
		code = execErrCode(e)
	}
	return fmt.Sprintf("%s: %v", op.what, e), code
}

// run executes the program on the calling (locked) thread of this process.
// It returns at the first failure; a program ending in execve does not
// return on success.
func (p *sysProgram) run() (int, error) {
	defer runtime.KeepAlive(p)
	for i := range p.ops {
		op := &p.ops[i]
		r1, _, e := syscall.RawSyscall6(op.nr, op.args[0], op.args[1], op.args[2], op.args[3], op.args[4], op.args[5])
		if (e != 0 && e != op.allowed) || (e == 0 && op.nonzero && r1 == 0) {
			if e == 0 {
				e = syscall.EPIPE
			}
			msg, code := p.failure(i, e)
			return code, errors.New(msg)
		}
	}
	return 0, nil
}

//go:linkname runtime_BeforeFork syscall.runtime_BeforeFork
func runtime_BeforeFork()

//go:linkname runtime_AfterFork syscall.runtime_AfterFork
func runtime_AfterFork()

//go:linkname runtime_AfterForkInChild syscall.runtime_AfterForkInChild
func runtime_AfterForkInChild()

// forkRun forks this process (clone with flags, plus SIGCHLD and
// vforkFlags) and runs the program in the child, which ends in execve. The
// calling thread is suspended until then, so no op may wait for this
// process. On a failure the child writes the op's index and errno (two
// uint32) to errFd and exits 125; errFd must be close-on-exec (see
// readFailure for how the parent tells an exec from a failure). The
// caller holds the thread locked; the child inherits that thread's
// namespaces.
func (p *sysProgram) forkRun(flags uintptr, errFd int) (int, error) {
	ops := p.ops
	if len(ops) == 0 {
		return 0, errors.New("empty program")
	}
	var report [2]uint32
	syscall.ForkLock.Lock()
	pid, err := forkChild(ops, flags|vforkFlags|uintptr(unix.SIGCHLD), uintptr(errFd), &report)
	syscall.ForkLock.Unlock()
	runtime.KeepAlive(p)
	if err != 0 {
		return 0, fmt.Errorf("clone: %w", err)
	}
	return int(pid), nil
}

// forkChild is the fork itself. From runtime_BeforeFork on, the child
// calls only assembly system calls and nosplit functions (the runtime has
// poisoned the stack guard: a stack check would throw). With CLONE_VM the
// child runs in this frame while the parent waits: the parent must return
// at once, using only what rawVfork returned (as syscall.forkExec does).
//
//go:noinline
//go:norace
//go:nocheckptr
func forkChild(ops []sysOp, flags, errFd uintptr, report *[2]uint32) (uintptr, syscall.Errno) {
	runtime_BeforeFork()
	pid, err := rawVfork(flags)
	if err != 0 || pid != 0 {
		runtime_AfterFork()
		return pid, syscall.Errno(err)
	}
	// The child.
	runtime_AfterForkInChild()
	for i := 0; i < len(ops); i++ {
		op := &ops[i]
		r1, _, e := syscall.RawSyscall6(op.nr, op.args[0], op.args[1], op.args[2], op.args[3], op.args[4], op.args[5])
		if (e != 0 && e != op.allowed) || (e == 0 && op.nonzero && r1 == 0) {
			if e == 0 {
				e = syscall.EPIPE
			}
			report[0], report[1] = uint32(i), uint32(e)
			syscall.RawSyscall(unix.SYS_WRITE, errFd, uintptr(unsafe.Pointer(report)), 8)
			for {
				syscall.RawSyscall(unix.SYS_EXIT_GROUP, 125, 0, 0)
			}
		}
	}
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 125, 0, 0)
	}
}

// readFailure reads what a forked program reported on errR: nil when the
// child exec'd, else its failure. A vforked child (vforkFlags) releases
// this thread either at exec's point of no return, with nothing written,
// or at its exit, after its report: one read that does not wait tells
// them apart (waiting for EOF would wait for exec to close the pipe, and
// parking the locked spawn thread in Go's poller cost a millisecond). A
// forked child is read until EOF.
func (p *sysProgram) readFailure(errR *os.File) *StartError {
	var b [8]byte
	n := 0
	rc, err := errR.SyscallConn()
	if err != nil {
		return &StartError{ExitCode: 125, Msg: "container setup: " + err.Error()}
	}
	rc.Read(func(fd uintptr) bool {
		for n < len(b) {
			m, err := unix.Read(int(fd), b[n:])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN && vforkFlags != 0:
				return true // exec'd: nothing was written
			case err == unix.EAGAIN:
				return false // wait in the poller
			case m <= 0:
				return true // EOF
			}
			n += m
		}
		return true
	})
	if n == 0 {
		return nil
	}
	if n < 8 {
		return &StartError{ExitCode: 125, Msg: "container setup: short report from the child"}
	}
	i := int(*(*uint32)(unsafe.Pointer(&b[0])))
	e := syscall.Errno(*(*uint32)(unsafe.Pointer(&b[4])))
	msg, code := p.failure(i, e)
	return &StartError{ExitCode: code, Msg: msg}
}
