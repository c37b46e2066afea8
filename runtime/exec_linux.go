package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecSpec is a process to run in a running container.
type ExecSpec struct {
	Args       []string
	Env        []string // merged over the container's env
	User       string   // "" = the container's user
	WorkingDir string   // "" = the container's
	Privileged bool     // all capabilities for this process
	Tty        bool
	// ConsoleSize is the initial window size (rows, cols) for Tty.
	ConsoleSize    [2]uint16
	Stdin          io.Reader
	Stdout, Stderr io.Writer // with Tty, everything goes to Stdout
	// Resize, when set with Tty, delivers window size changes (rows, cols).
	Resize <-chan [2]uint16
}

// Exec runs a process inside the running container ref, joined to all of
// its namespaces and its cgroup, and returns its exit code. A process that
// cannot be started gives a *StartError (126 not executable, 127 not
// found).
//
// Cost: one re-exec of the berth binary (the helper that joins the mount
// namespace and drops privileges) plus the process itself.
func (r *Runtime) Exec(ctx context.Context, ref string, es ExecSpec) (int, error) {
	if len(es.Args) == 0 {
		return 125, fmt.Errorf("%w: exec: no command", ErrInvalidArgument)
	}
	id, err := r.resolve(ref)
	if err != nil {
		return 125, err
	}
	st, err := r.refresh(id)
	if err != nil {
		return 125, err
	}
	if err := checkTransition(id, "exec", st.Status); err != nil {
		return 125, err
	}
	cfg, err := buildInitConfig(st)
	if err != nil {
		return 125, err
	}
	pc := cfg.Process
	pc.Args = es.Args
	pc.Env = mergeEnv(pc.Env, es.Env)
	pc.Tty = es.Tty
	pc.ConsoleSize = es.ConsoleSize
	if es.User != "" {
		pc.User = es.User
	}
	if es.WorkingDir != "" {
		pc.Cwd = es.WorkingDir
	}
	if es.Privileged {
		pc.Caps, _ = capabilities(true, nil, nil)
	}

	// Open the namespaces while the pid is verified to be ours.
	pidfd, err := openProcess(st.Pid, st.PidStart)
	if err != nil {
		return 125, fmt.Errorf("exec in %s: container process: %w", shortID(id), err)
	}
	defer unix.Close(pidfd)
	nsFiles := map[string]*os.File{}
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	for _, ns := range []string{"ipc", "uts", "net", "pid", "cgroup", "mnt"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", st.Pid, ns))
		if err != nil {
			return 125, fmt.Errorf("exec in %s: open %s namespace: %w", shortID(id), ns, err)
		}
		nsFiles[ns] = f
	}
	if !alive(st.Pid, st.PidStart) {
		return 125, fmt.Errorf("exec in %s: container exited", shortID(id))
	}

	parentSock, childSock, err := socketPair()
	if err != nil {
		return 125, err
	}
	defer parentSock.Close()
	cmd := exec.Command(r.exe, "berth-exec")
	cmd.Env = []string{reexecEnv + "=exec", "GOMAXPROCS=1"}
	cmd.ExtraFiles = []*os.File{childSock, nsFiles["mnt"]}
	// A stdin that never ends must not hold Wait after the process exits.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	var master *os.File
	var copyWG sync.WaitGroup
	if es.Tty {
		// The helper makes the pty in the container's devpts and sends us
		// the master; it is a session leader so the slave can become its
		// controlling terminal.
		cmd.SysProcAttr.Setsid = true
	} else {
		cmd.Stdin = es.Stdin
		cmd.Stdout = es.Stdout
		cmd.Stderr = es.Stderr
		if cmd.Stdout == nil {
			cmd.Stdout = io.Discard
		}
		if cmd.Stderr == nil {
			cmd.Stderr = io.Discard
		}
	}
	// Join ipc, uts, net, pid (for children), cgroup on a throw-away thread
	// and fork the helper from it; it joins mnt itself.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, ns := range []struct {
			name string
			kind int
		}{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"cgroup", unix.CLONE_NEWCGROUP}} {
			if err := unix.Setns(int(nsFiles[ns.name].Fd()), ns.kind); err != nil {
				errc <- fmt.Errorf("join %s namespace: %w", ns.name, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	if err := <-errc; err != nil {
		childSock.Close()
		return 125, fmt.Errorf("exec in %s: %w", shortID(id), err)
	}
	childSock.Close()
	kill := func() { cmd.Process.Kill(); cmd.Wait() }
	m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged)
	if err == nil {
		err = joinCgroup(m, cmd.Process.Pid)
	}
	if err != nil {
		kill()
		return 125, fmt.Errorf("exec in %s: %w", shortID(id), err)
	}
	if err := json.NewEncoder(parentSock).Encode(&pc); err != nil {
		kill()
		return 125, fmt.Errorf("exec in %s: send config: %w", shortID(id), err)
	}
	var rest io.Reader = parentSock
	if es.Tty {
		m, r, early := recvTtyOrError(parentSock)
		if early != nil {
			cmd.Wait()
			code := early.ExitCode
			if code == 0 {
				code = 126
			}
			return code, &StartError{ID: id, ExitCode: code, Msg: early.Error}
		}
		if m == nil {
			kill()
			return 125, fmt.Errorf("exec in %s: helper exited before making its pty", shortID(id))
		}
		master, rest = m, r
		defer master.Close()
		if es.ConsoleSize != [2]uint16{} {
			unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: es.ConsoleSize[0], Col: es.ConsoleSize[1]})
		}
	}
	var msg syncMsg
	if err := json.NewDecoder(rest).Decode(&msg); err == nil && msg.Error != "" {
		cmd.Wait()
		code := msg.ExitCode
		if code == 0 {
			code = 126
		}
		return code, &StartError{ID: id, ExitCode: code, Msg: msg.Error}
	}
	if master != nil {
		if es.Stdin != nil {
			go io.Copy(master, es.Stdin)
		}
		if es.Stdout != nil {
			copyWG.Add(1)
			go func() { defer copyWG.Done(); io.Copy(es.Stdout, master) }()
		}
		if es.Resize != nil {
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case sz := <-es.Resize:
						unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz[0], Col: sz[1]})
					case <-stop:
						return
					}
				}
			}()
		}
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-waitErr
		return 125, ctx.Err()
	}
	if master != nil {
		// The slave closes when the process exits; the master then reads
		// EIO after the buffered output.
		copyWG.Wait()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 125, err
	}
	return exitCode(cmd.ProcessState), nil
}

// execHelper runs in the container's namespaces except mnt (fd 4): it
// waits for its config (sent after the cgroup join), enters the mount
// namespace, drops privileges and execs.
func execHelper() {
	runtime.LockOSThread()
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	sock := os.NewFile(3, "sync")
	var pc processConfig
	if err := json.NewDecoder(sock).Decode(&pc); err != nil {
		os.Exit(125)
	}
	fail := func(code int, err error) {
		json.NewEncoder(sock).Encode(syncMsg{Error: err.Error(), ExitCode: code})
		os.Exit(code)
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		fail(125, fmt.Errorf("unshare fs: %w", err))
	}
	if err := unix.Setns(4, unix.CLONE_NEWNS); err != nil {
		fail(125, fmt.Errorf("join mount namespace: %w", err))
	}
	unix.Close(4)
	if pc.Tty {
		master, slave, err := newContainerPty("/dev/pts/ptmx")
		if err != nil {
			fail(125, err)
		}
		if err := becomeTty(sock, master, slave, pc.ConsoleSize); err != nil {
			fail(125, err)
		}
	}
	p, code, err := prepareProcess(&pc, "/")
	if err != nil {
		fail(code, err)
	}
	if err := os.Chdir(p.cwd); err != nil {
		fail(125, fmt.Errorf("working dir %s: %w", p.cwd, err))
	}
	if err := applyProcess(p); err != nil {
		fail(125, err)
	}
	err = unix.Exec(p.path, pc.Args, p.env)
	fail(execErrCode(err), fmt.Errorf("exec %s: %w", pc.Args[0], err))
}
