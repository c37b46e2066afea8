package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spawned is the container's first process, forked by the shim; by the
// time spawnContainer returns it, it has exec'd.
type spawned struct {
	pid    int
	prog   *sysProgram
	errR   *os.File // the failing op, if any (sysProgram.readFailure)
	master *os.File // the pty's master (Tty)
}

// abandon closes the pipes of a child that will be killed.
func (s *spawned) abandon() {
	s.errR.Close()
	if s.master != nil {
		s.master.Close()
	}
}

// spawnContainer forks the container's first process without a second Go
// start-up. A throw-away OS thread of the shim enters new mount, uts, ipc
// and net namespaces (or joins the given ones), builds the rootfs there
// with Go (prepareRootfs), resolves the process (prepareProcess), and
// forks a child into a new pid namespace that replays the remaining
// system calls (sysProgram): join the cgroup, /proc, pivot_root,
// credentials, execve (for cfg.Init: startBerthInit). cgroup returns the
// cgroup's directories once it is ready (cgroupReady). The int is the exit
// code for an error.
func spawnContainer(cfg *initConfig, ns Namespaces, stdio *stdioSet, cgroup func() (map[string]string, error)) (*spawned, int, error) {
	type result struct {
		s    *spawned
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, and its
		// namespaces with it (the child keeps its own references).
		runtime.LockOSThread()
		s, code, err := spawnOnThread(cfg, ns, stdio, cgroup)
		done <- result{s, code, err}
	}()
	r := <-done
	return r.s, r.code, r.err
}

func spawnOnThread(cfg *initConfig, ns Namespaces, stdio *stdioSet, cgroup func() (map[string]string, error)) (*spawned, int, error) {
	flags := unix.CLONE_FS | unix.CLONE_NEWNS
	if ns.UTS == "" {
		flags |= unix.CLONE_NEWUTS
	}
	if ns.IPC == "" {
		flags |= unix.CLONE_NEWIPC
	}
	if ns.Network == "" {
		flags |= unix.CLONE_NEWNET
	}
	if err := unix.Unshare(flags); err != nil {
		return nil, 125, fmt.Errorf("unshare namespaces: %w", err)
	}
	for _, j := range []struct {
		path string
		kind int
	}{{ns.Network, unix.CLONE_NEWNET}, {ns.IPC, unix.CLONE_NEWIPC}, {ns.UTS, unix.CLONE_NEWUTS}, {ns.PID, unix.CLONE_NEWPID}} {
		if j.path == "" || j.path == "host" {
			continue
		}
		fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, 125, fmt.Errorf("join namespace %s: %w", j.path, err)
		}
		err = unix.Setns(fd, j.kind)
		unix.Close(fd)
		if err != nil {
			return nil, 125, fmt.Errorf("join namespace %s: %w", j.path, err)
		}
	}
	traceStart("namespaces")
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, 125, err
	}
	defer errW.Close()
	s := &spawned{prog: &sysProgram{}, errR: errR}
	prog := s.prog
	fail := func(code int, err error) (*spawned, int, error) {
		s.abandon()
		return nil, code, err
	}
	master, slave, err := prepareRootfs(cfg)
	if err != nil {
		return fail(125, err)
	}
	traceStart("rootfs")
	if slave != nil {
		s.master = master
		if sz := cfg.Process.ConsoleSize; sz != [2]uint16{} {
			if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz[0], Col: sz[1]}); err != nil {
				slave.Close()
				return fail(125, fmt.Errorf("pty window size: %w", err))
			}
		}
	}
	p, code, err := prepareProcess(&cfg.Process, cfg.MergedDir)
	if err != nil {
		if slave != nil {
			slave.Close()
		}
		return fail(code, err)
	}
	dirs, err := cgroup()
	if err != nil {
		if slave != nil {
			slave.Close()
		}
		return fail(125, err)
	}
	traceStart("cgroup ready")
	if cfg.Init && cfg.InitPath == "" {
		return startBerthInit(s, cfg, p, ns, stdio, slave, dirs)
	}
	// The child's copy of the shim's end must not keep its pipe open.
	prog.add("close error pipe", unix.SYS_CLOSE, errR.Fd())
	prog.add("setsid", unix.SYS_SETSID)
	// Join the container's cgroup (writing "0" to cgroup.procs moves the
	// writer), then make it our cgroup namespace's root. The files are
	// opened here, before the pivot changes this thread's root too (the
	// child shares its mount namespace); they close at the exec.
	procs, err := openCgroupProcs(dirs)
	if err != nil {
		return fail(125, err)
	}
	defer func() {
		for _, f := range procs {
			f.Close()
		}
	}()
	zero := []byte("0")
	for _, f := range procs {
		prog.add("join cgroup "+filepath.Dir(f.Name()), unix.SYS_WRITE, f.Fd(), prog.ptr(zero, unsafe.Pointer(&zero[0])), 1).nonzero = true
	}
	prog.add("unshare cgroup namespace", unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP)
	if err := procOps(prog, cfg.MergedDir, cfg.ProcDir, cfg.Privileged); err != nil {
		return fail(125, err)
	}
	if err := pivotOps(prog, cfg.MergedDir, cfg.ReadOnly); err != nil {
		return fail(125, err)
	}
	if slave != nil {
		defer slave.Close()
		for fd := 0; fd <= 2; fd++ {
			prog.add("pty stdio", unix.SYS_DUP3, slave.Fd(), uintptr(fd), 0)
		}
		prog.add("controlling tty", unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	} else {
		for fd, f := range stdio.child {
			prog.add("stdio", unix.SYS_DUP3, f.Fd(), uintptr(fd), 0)
		}
	}
	if err := finishOps(prog, p); err != nil {
		return fail(125, err)
	}
	// Only stdio crosses the execve.
	prog.add("close other files", unix.SYS_CLOSE_RANGE, 3, ^uintptr(0)>>32, unix.CLOSE_RANGE_CLOEXEC)
	if cfg.Init {
		// The init binary is the host's: opened now, run after the
		// pivot from its fd (closed by the exec).
		f, err := os.Open(cfg.InitPath)
		if err != nil {
			return fail(125, fmt.Errorf("init: %w", err))
		}
		defer f.Close()
		if err := initExecOp(prog, p, f); err != nil {
			return fail(125, err)
		}
	} else if err := execOp(prog, p); err != nil {
		return fail(125, err)
	}
	traceStart("program")
	pidFlags := uintptr(0)
	if ns.PID == "" {
		pidFlags = unix.CLONE_NEWPID
	}
	pid, err := prog.forkRun(pidFlags, int(errW.Fd()))
	errW.Close() // the child's copy is the one that tells
	if err != nil {
		return fail(125, err)
	}
	traceStart("forked")
	failure := prog.readFailure(s.errR)
	s.errR.Close()
	if failure != nil {
		unix.Wait4(pid, nil, 0, nil) // it exits 125 after its report
		if s.master != nil {
			s.master.Close()
		}
		return nil, failure.ExitCode, errors.New(failure.Msg)
	}
	s.pid = pid
	return s, 0, nil
}

// finishOps appends the working dir and the credentials.
func finishOps(prog *sysProgram, p *preparedProcess) error {
	cwd, err := prog.str(p.cwd)
	if err != nil {
		return err
	}
	prog.add("working dir "+p.cwd, unix.SYS_CHDIR, cwd)
	return credentialOps(prog, p)
}

// execOp appends the final execve of the process.
func execOp(prog *sysProgram, p *preparedProcess) error {
	path, err := prog.str(p.path)
	if err != nil {
		return err
	}
	argv, err := prog.strv(p.cfg.Args)
	if err != nil {
		return err
	}
	envv, err := prog.strv(p.env)
	if err != nil {
		return err
	}
	prog.add("exec "+p.cfg.Args[0], unix.SYS_EXECVE, path, argv, envv)
	return nil
}

// initExecOp appends the execve of the init binary open as f (tini),
// which forks the process, stays pid 1, forwards signals to it and reaps
// every zombie. -s makes it a subreaper when it is not pid 1 (a shared
// pid namespace). The process keeps its own argv[0]; tini finds it on
// the process's PATH, as prepareProcess did.
func initExecOp(prog *sysProgram, p *preparedProcess, f *os.File) error {
	empty, err := prog.str("")
	if err != nil {
		return err
	}
	argv, err := prog.strv(append([]string{"tini", "-s", "--"}, p.cfg.Args...))
	if err != nil {
		return err
	}
	envv, err := prog.strv(p.env)
	if err != nil {
		return err
	}
	prog.add("exec init "+f.Name(), unix.SYS_EXECVEAT, f.Fd(), empty, argv, envv, unix.AT_EMPTY_PATH)
	return nil
}

// startBerthInit is the start for init: true. The shim binary runs as
// berth-init, pid 1 of the container (docker-init's role), started as Go
// starts any process (vfork and exec, from this thread, so in its
// namespaces) at the host's root, where the binary and its ELF
// interpreter are. berth-init waits on fd 3 for the cgroup, then does
// what the forked child does (procOps, pivotOps, finishOps) before it
// starts the process (initMain). Its errors after that go to the log.
func startBerthInit(s *spawned, cfg *initConfig, p *preparedProcess, ns Namespaces, stdio *stdioSet, slave *os.File, dirs map[string]string) (*spawned, int, error) {
	s.errR.Close()
	fail := func(err error) (*spawned, int, error) {
		if s.master != nil {
			s.master.Close()
		}
		return nil, 125, err
	}
	spec, err := json.Marshal(initSpec{Root: cfg.MergedDir, ProcDir: cfg.ProcDir, Privileged: cfg.Privileged,
		ReadOnly: cfg.ReadOnly, Process: *p.cfg, Path: p.path, Env: p.env, Cwd: p.cwd, User: p.user})
	if err != nil {
		return fail(err)
	}
	// One byte (or EOF) on fd 3: berth-init is in its cgroup, go on.
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer syncR.Close()
	defer syncW.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = append([]string{"berth-init", "--"}, p.cfg.Args...)
	// One P, as the shim: berth-init forwards signals and reaps, and
	// more Ps only add threads, each woken and ended at exit.
	cmd.Env = []string{reexecEnv + "=init", initSpecEnv + "=" + string(spec), "GOMAXPROCS=1"}
	cmd.ExtraFiles = []*os.File{syncR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if ns.PID == "" {
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID
	}
	if slave != nil {
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.child[0], stdio.child[1], stdio.child[2]
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start berth-init: %w", err))
	}
	pid := cmd.Process.Pid
	if err := joinCgroupDirs(dirs, pid); err != nil {
		cmd.Process.Kill()
		unix.Wait4(pid, nil, 0, nil)
		return fail(fmt.Errorf("cgroup: %w", err))
	}
	syncW.Write([]byte{1})
	s.pid = pid
	return s, 0, nil
}
