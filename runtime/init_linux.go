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
	"unsafe"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

func execErrCode(err error) int {
	if errors.Is(err, unix.ENOENT) {
		return 127
	}
	return 126
}

// preparedProcess is a processConfig resolved inside the container.
type preparedProcess struct {
	cfg  *processConfig
	path string // the executable, as a path inside the container
	env  []string
	cwd  string
	user ExecUser
}

// inRoot is the host path of p inside root ("/" when already there),
// without following symlinks out of root.
func inRoot(root, p string) (string, error) {
	if root == "/" {
		return p, nil
	}
	return securejoin.SecureJoin(root, p)
}

// prepareProcess resolves user, HOME, working dir (created if missing) and
// the executable inside the container's root, which is at root ("/" when
// the caller is already inside). The int is the exit code for an error.
func prepareProcess(pc *processConfig, root string) (*preparedProcess, int, error) {
	var passwd, group *os.File
	if p, err := inRoot(root, "/etc/passwd"); err == nil {
		if f, err := os.Open(p); err == nil {
			passwd = f
			defer f.Close()
		}
	}
	if p, err := inRoot(root, "/etc/group"); err == nil {
		if f, err := os.Open(p); err == nil {
			group = f
			defer f.Close()
		}
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
	if root == "/" {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return nil, 125, fmt.Errorf("working dir %s: %w", cwd, err)
		}
	} else if _, err := securePath(root, cwd, false); err != nil {
		return nil, 125, fmt.Errorf("working dir %s: %w", cwd, err)
	}
	path, code, err := lookPath(root, pc.Args[0], envGet(env, "PATH"))
	if err != nil {
		return nil, code, err
	}
	return &preparedProcess{cfg: pc, path: path, env: env, cwd: cwd, user: u}, 0, nil
}

// lookPath finds name in the container's PATH, with Docker's exit codes:
// 127 not found, 126 found but not executable.
func lookPath(root, name, pathEnv string) (string, int, error) {
	check := func(p string) (int, error) {
		hp, err := inRoot(root, p)
		if err != nil {
			return 127, fmt.Errorf("exec: %q: %w", name, err)
		}
		st, err := os.Stat(hp)
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
// capabilities and no_new_privs on the calling (locked) thread.
func applyProcess(p *preparedProcess) error {
	var prog sysProgram
	if err := credentialOps(&prog, p); err != nil {
		return err
	}
	_, err := prog.run()
	return err
}

// credentialOps appends to prog what applyProcess does: rlimits, the
// bounding set, groups, gid, uid, capabilities and no_new_privs, in the
// order that keeps the privileges each step needs.
func credentialOps(prog *sysProgram, p *preparedProcess) error {
	for _, u := range p.cfg.Rlimits {
		res, ok := rlimitResource[u.Name]
		if !ok {
			return fmt.Errorf("ulimit %q: unknown", u.Name)
		}
		rl := &unix.Rlimit{Cur: uint64(u.Soft), Max: uint64(u.Hard)}
		prog.add(fmt.Sprintf("ulimit %s=%d:%d", u.Name, u.Soft, u.Hard), unix.SYS_PRLIMIT64, 0, uintptr(res), prog.ptr(rl, unsafe.Pointer(rl)), 0)
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
			prog.add(fmt.Sprintf("drop capability %d from bounding set", c), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c)).allowed = unix.EINVAL
		}
	}
	groups := make([]uint32, len(p.user.Groups))
	for i, g := range p.user.Groups {
		groups[i] = uint32(g)
	}
	var gp uintptr
	if len(groups) > 0 {
		gp = prog.ptr(groups, unsafe.Pointer(&groups[0]))
	}
	prog.add("setgroups", unix.SYS_SETGROUPS, uintptr(len(groups)), gp)
	gid, uid := uintptr(p.user.GID), uintptr(p.user.UID)
	prog.add(fmt.Sprintf("setgid %d", p.user.GID), unix.SYS_SETRESGID, gid, gid, gid)
	prog.add(fmt.Sprintf("setuid %d", p.user.UID), unix.SYS_SETRESUID, uid, uid, uid)
	// A non-root uid lost its permitted set in setresuid; root keeps
	// exactly the container's set.
	data := new([2]unix.CapUserData)
	if p.user.UID == 0 {
		for c := range keep {
			data[c/32].Effective |= 1 << (uint(c) % 32)
			data[c/32].Permitted |= 1 << (uint(c) % 32)
		}
	}
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	prog.add("capset", unix.SYS_CAPSET, prog.ptr(hdr, unsafe.Pointer(hdr)), prog.ptr(data, unsafe.Pointer(data)))
	if p.cfg.NoNewPrivs {
		prog.add("no_new_privs", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1)
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

// initSpecEnv carries berth-init's initSpec (JSON); berth-init's own
// environment is only that and the re-exec role.
const initSpecEnv = "_BERTH_INIT"

// initSpec is what berth-init still has to do: the pivot and the
// process, as resolved by the shim.
type initSpec struct {
	Root       string        `json:"root"`
	ProcDir    string        `json:"procDir"`
	Privileged bool          `json:"privileged,omitempty"`
	ReadOnly   bool          `json:"readOnly,omitempty"`
	Process    processConfig `json:"process"`
	Path       string        `json:"path"`
	Env        []string      `json:"env"`
	Cwd        string        `json:"cwd"`
	User       ExecUser      `json:"user"`
}

// initMain is `init: true` (docker run --init): the shim binary as
// pid 1 of the container, started by the shim's spawn thread at the
// host's root (so that a dynamically linked binary finds its
// interpreter), already in the container's namespaces and stdio. It waits
// on fd 3 until the shim has put it in the container's cgroup, does what
// the forked child does otherwise (/proc, masks, pivot_root, credentials
// on its locked thread), starts the process from that thread, and stays
// pid 1: it forwards every signal to the process, reaps every zombie and
// exits with the process's status (like tini and docker-init).
func initMain() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("berth-init\x00")[0])), 0, 0, 0)
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "berth-init:", err)
		os.Exit(125)
	}
	var spec initSpec
	if err := json.Unmarshal([]byte(os.Getenv(initSpecEnv)), &spec); err != nil || len(spec.Process.Args) == 0 {
		fail(errors.New("no process to run"))
	}
	os.Unsetenv(initSpecEnv)
	sync := os.NewFile(3, "sync")
	if n, _ := sync.Read(make([]byte, 1)); n != 1 {
		fail(errors.New("the shim ended before the cgroup was joined"))
	}
	sync.Close()
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		fail(fmt.Errorf("unshare cgroup namespace: %w", err))
	}
	p := &preparedProcess{cfg: &spec.Process, path: spec.Path, env: spec.Env, cwd: spec.Cwd, user: spec.User}
	var prog sysProgram
	err := procOps(&prog, spec.Root, spec.ProcDir, spec.Privileged)
	if err == nil {
		err = pivotOps(&prog, spec.Root, spec.ReadOnly)
	}
	if err == nil {
		err = finishOps(&prog, p)
	}
	if err == nil {
		_, err = prog.run()
	}
	if err != nil {
		fail(err)
	}
	cmd := exec.Command(p.path)
	cmd.Args = spec.Process.Args
	cmd.Env = p.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.Process.Tty {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "berth-init:", err)
		os.Exit(execErrCode(err))
	}
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
