package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// containerInit is pid 1 of a new container (or a member of a joined pid
// ns): it waits for its config on fd 3 (the shim sends it once the cgroup
// is applied), builds the rootfs, and execs the process. See doc.go for the
// message diagram.
func containerInit() {
	runtime.LockOSThread()
	unix.CloseOnExec(3)
	sock := os.NewFile(3, "sync")
	var cfg initConfig
	if err := json.NewDecoder(sock).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "berth init: read config:", err)
		os.Exit(125)
	}
	fail := func(code int, err error) {
		json.NewEncoder(sock).Encode(syncMsg{Error: err.Error(), ExitCode: code})
		os.Exit(code)
	}
	// The shim has put us in the container's cgroup: make it our cgroup
	// namespace's root.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		fail(125, fmt.Errorf("unshare cgroup namespace: %w", err))
	}
	master, slave, err := setupRootfs(&cfg)
	if err != nil {
		fail(125, err)
	}
	if master != nil {
		if err := becomeTty(sock, master, slave, cfg.Process.ConsoleSize); err != nil {
			fail(125, err)
		}
	}
	p, code, err := prepareProcess(&cfg.Process)
	if err != nil {
		fail(code, err)
	}
	if cfg.Init {
		runAsInit(sock, p)
		return
	}
	if err := applyProcess(p); err != nil {
		fail(125, err)
	}
	err = unix.Exec(p.path, p.cfg.Args, p.env)
	fail(execErrCode(err), fmt.Errorf("exec %s: %w", p.cfg.Args[0], err))
}

func execErrCode(err error) int {
	if errors.Is(err, unix.ENOENT) {
		return 127
	}
	return 126
}

// preparedProcess is a processConfig resolved inside the container.
type preparedProcess struct {
	cfg  *processConfig
	path string
	env  []string
	user ExecUser
}

// prepareProcess resolves user, HOME, working dir and the executable
// inside the container's root. The int is the exit code for an error.
func prepareProcess(pc *processConfig) (*preparedProcess, int, error) {
	var passwd, group *os.File
	if f, err := os.Open("/etc/passwd"); err == nil {
		passwd = f
		defer f.Close()
	}
	if f, err := os.Open("/etc/group"); err == nil {
		group = f
		defer f.Close()
	}
	var u ExecUser
	var err error
	if passwd != nil && group != nil {
		u, err = resolveUser(pc.User, pc.GroupAdd, passwd, group)
	} else if passwd != nil {
		u, err = resolveUser(pc.User, pc.GroupAdd, passwd, nil)
	} else if group != nil {
		u, err = resolveUser(pc.User, pc.GroupAdd, nil, group)
	} else {
		u, err = resolveUser(pc.User, pc.GroupAdd, nil, nil)
	}
	if err != nil {
		return nil, 125, err
	}
	env := pc.Env
	if !envHas(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	cwd := pc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return nil, 125, fmt.Errorf("working dir %s: %w", cwd, err)
	}
	if err := os.Chdir(cwd); err != nil {
		return nil, 125, fmt.Errorf("working dir %s: %w", cwd, err)
	}
	path, code, err := lookPath(pc.Args[0], envGet(env, "PATH"))
	if err != nil {
		return nil, code, err
	}
	return &preparedProcess{cfg: pc, path: path, env: env, user: u}, 0, nil
}

// lookPath finds name in the container's PATH, with Docker's exit codes:
// 127 not found, 126 found but not executable.
func lookPath(name, pathEnv string) (string, int, error) {
	check := func(p string) (int, error) {
		st, err := os.Stat(p)
		if err != nil {
			return 127, fmt.Errorf("exec: %q: no such file or directory", name)
		}
		if st.IsDir() {
			return 126, fmt.Errorf("exec: %q: is a directory", name)
		}
		if st.Mode()&0o111 == 0 {
			return 126, fmt.Errorf("exec: %q: permission denied", name)
		}
		return 0, nil
	}
	if strings.Contains(name, "/") {
		code, err := check(name)
		return name, code, err
	}
	sawNonExec := ""
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if code, err := check(p); err == nil {
			return p, 0, nil
		} else if code == 126 && sawNonExec == "" {
			sawNonExec = p
		}
	}
	if sawNonExec != "" {
		return "", 126, fmt.Errorf("exec: %q: permission denied", name)
	}
	return "", 127, fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// applyProcess sets rlimits, the bounding set, user and groups,
// capabilities and no_new_privs on the calling (locked) thread, in the
// order that keeps the privileges each step needs.
func applyProcess(p *preparedProcess) error {
	for _, u := range p.cfg.Rlimits {
		res, ok := rlimitResource[u.Name]
		if !ok {
			return fmt.Errorf("ulimit %q: unknown", u.Name)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: uint64(u.Soft), Max: uint64(u.Hard)}); err != nil {
			return fmt.Errorf("ulimit %s=%d:%d: %w", u.Name, u.Soft, u.Hard, err)
		}
	}
	// Only what we hold can be kept (root may lack some, e.g.
	// CAP_SYS_RESOURCE on this project's hosts).
	held := permittedCaps()
	keep := map[int]bool{}
	for _, c := range p.cfg.Caps {
		if held&(1<<uint(c)) != 0 {
			keep[c] = true
		}
	}
	last := capLastCap()
	for c := 0; c <= last; c++ {
		if !keep[c] {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
			}
		}
	}
	groups := make([]uint32, 0, len(p.user.Groups))
	for _, g := range p.user.Groups {
		groups = append(groups, uint32(g))
	}
	// Raw syscalls: only this thread changes, and it is the one that execs.
	var gp uintptr
	if len(groups) > 0 {
		gp = uintptrOf(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), gp, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(p.user.GID), uintptr(p.user.GID), uintptr(p.user.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", p.user.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(p.user.UID), uintptr(p.user.UID), uintptr(p.user.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", p.user.UID, e)
	}
	// A non-root uid lost its permitted set in setresuid; root keeps
	// exactly the container's set.
	var data [2]unix.CapUserData
	if p.user.UID == 0 {
		for c := range keep {
			data[c/32].Effective |= 1 << (uint(c) % 32)
			data[c/32].Permitted |= 1 << (uint(c) % 32)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if p.cfg.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	return nil
}

func capLastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 40
	}
	return n
}

// permittedCaps is this thread's permitted capability mask.
func permittedCaps() uint64 {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return ^uint64(0)
	}
	return uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
}

// hasCap reports whether this process has capability c in its effective set.
func hasCap(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<uint(c)) != 0
		}
	}
	return false
}

// runAsInit is `--init`: berth stays pid 1, forks the process, forwards
// every signal to it, reaps every zombie, and exits with the process's
// status (like tini). The process is forked from this thread after
// applyProcess, so it carries the container's user and capabilities.
func runAsInit(sock *os.File, p *preparedProcess) {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	if err := applyProcess(p); err != nil {
		json.NewEncoder(sock).Encode(syncMsg{Error: err.Error(), ExitCode: 125})
		os.Exit(125)
	}
	cmd := exec.Command(p.path)
	cmd.Args = p.cfg.Args
	cmd.Env = p.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if p.cfg.Tty {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Start(); err != nil {
		json.NewEncoder(sock).Encode(syncMsg{Error: err.Error(), ExitCode: execErrCode(err)})
		os.Exit(execErrCode(err))
	}
	sock.Close()
	child := cmd.Process.Pid
	for sig := range sigs {
		if sig == unix.SIGURG {
			continue // the Go runtime's own preemption signal
		}
		if sig != unix.SIGCHLD {
			unix.Kill(child, sig.(syscall.Signal))
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == child {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
}
