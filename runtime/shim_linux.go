package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"golang.org/x/sys/unix"
)

func reexecMain(role string) {
	switch role {
	case "shim":
		os.Exit(shimMain())
	case "init":
		initMain()
	case "exec":
		execHelper()
	}
	fmt.Fprintf(os.Stderr, "berth: unknown re-exec role %q\n", role)
	os.Exit(125)
}

// shimMain supervises one run of a container: it starts its process in
// the cgroup that the starter made, copies stdio to the log, waits, and
// records the exit (exitRecord).
// It learns its container on fd 4 (shimAssignment), then the cgroup
// (cgroupReady). The result of the start goes to fd 3 (one JSON line),
// then fd 3 closes.
func shimMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	result := os.NewFile(3, "result")
	report := func(res shimResult) {
		if result == nil {
			return
		}
		json.NewEncoder(result).Encode(res)
		result.Close()
		result = nil
	}
	starterFile := os.NewFile(4, "starter")
	starter := json.NewDecoder(starterFile)
	var a shimAssignment
	if err := starter.Decode(&a); err != nil {
		// End-of-file: a spare shim retired, or a starter killed before
		// it assigned this one. Nothing to report to.
		return 0
	}
	if a.Dir == "" {
		report(shimResult{Error: "shim: no container dir", ExitCode: 125})
		return 125
	}
	if err := logTo(filepath.Join(a.Dir, "shim.log")); err != nil {
		report(shimResult{Error: "shim: " + err.Error(), ExitCode: 125})
		return 125
	}
	if a.T0 != 0 {
		os.Setenv("_BERTH_T0", strconv.FormatInt(a.T0, 10))
	}
	data, err := os.ReadFile(filepath.Join(a.Dir, "state.json"))
	if err != nil {
		report(shimResult{Error: "shim: " + err.Error(), ExitCode: 125})
		return 125
	}
	st, err := unmarshalState(data)
	if err != nil {
		report(shimResult{Error: "shim: " + err.Error(), ExitCode: 125})
		return 125
	}
	r := &Runtime{root: filepath.Dir(a.Dir), log: log}
	s := &shim{st: st, log: log, initPath: a.InitPath, starter: starter, starterFile: starterFile}
	code, err := s.run(report)
	if err != nil {
		log.Info("shim", "container", st.ID, "err", err)
	}
	traceStart("cgroup removed")
	if err := s.record(r, code); err != nil {
		log.Info("record exit", "container", st.ID, "err", err)
	}
	traceStart("recorded")
	return 0
}

// logTo makes path (the container's shim.log) this process's stdout and
// stderr: a spare shim starts before it knows its container.
func logTo(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("shim log: %w", err)
		}
	}
	return nil
}

// shimPidFile holds "pid starttime" of the container's current shim,
// written by its starter as the shim starts up (spawnShim).
const shimPidFile = "shim.pid"

// killOrphanShim ends a shim that still runs for a container whose state
// does not know it: its starter (a CLI, a supervisor) was killed between
// starting it and recording the result, or it recorded its container's
// exit and is still on its way out. Left alone, it would run an
// unrecorded copy of the container and, when that copy ends, empty the
// cgroup that the new run shares. Its container's processes go with the
// cgroup, which the next shim removes before it starts anything.
func killOrphanShim(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, shimPidFile))
	if err != nil {
		return
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(data), "%d %d", &pid, &start); err != nil || pid == os.Getpid() {
		return // a shim removing its own container (AutoRemove)
	}
	fd, err := openProcess(pid, start)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pidfdWait(ctx, fd)
		cancel()
	}
}

// traceStart logs a start-up milestone to shim.log, in ms since the
// starting process forked the shim (BERTH_TRACE_START=1 there).
func traceStart(what string) {
	if t0, err := strconv.ParseInt(os.Getenv("_BERTH_T0"), 10, 64); err == nil {
		fmt.Fprintf(os.Stderr, "trace %s %.2fms\n", what, float64(time.Now().UnixNano()-t0)/1e6)
	}
}

// trimDelay is how long a container must run before its shim trims its
// own memory. trimMemory costs a forced GC and a page-table walk (≈ 4 ms
// of CPU): done 100 ms after each start, the trims of a project's first
// containers competed for the CPU with the start of its last ones (a
// 20-service up -d takes about a second here), and with the commands run
// right after it. Two seconds in, the project has settled.
const trimDelay = 2 * time.Second

type shim struct {
	st       *State
	log      *slog.Logger
	initPath string // for Spec.Init: tini, or "" for berth-init
	// starter decodes fd 4 (starterFile), which still has the cgroup
	// (cgroupReady) to say.
	starter     *json.Decoder
	starterFile *os.File
	start       uint64 // this process's start time: with its pid, names the run

	oom        bool
	finishedAt time.Time
	started    bool
}

// run starts the container and waits for it. It returns the exit code of
// the container's process.
func (s *shim) run(report func(shimResult)) (int, error) {
	traceStart("shim main")
	st := s.st
	spec := &st.Spec
	cfg, err := buildInitConfig(st)
	traceStart("config")
	if err != nil {
		report(shimResult{Error: err.Error(), ExitCode: 125})
		return 125, err
	}
	if cfg.Init {
		cfg.InitPath = s.initPath
	}
	logw, err := openLogWriter(st.LogPath, spec.Log)
	if err != nil {
		report(shimResult{Error: err.Error(), ExitCode: 125})
		return 125, err
	}
	defer logw.Close()

	// stdio: a pty for Tty, else pipes; stdin is /dev/null unless attached.
	var stdio stdioSet
	if err := stdio.open(spec.Tty, spec.OpenStdin); err != nil {
		report(shimResult{Error: err.Error(), ExitCode: 125})
		return 125, err
	}
	defer stdio.closeAll()
	cfg.Console = spec.Tty

	// The starter makes and limits the cgroup while this process starts
	// up, and says so on fd 4; the child joins it before it execs. After
	// an exit the cgroup is only emptied: removing it (a dozen rmdirs on a
	// v1 host) is left to Remove or the next start, off the path between
	// the exit and its record. The starter removes it after a failed start.
	starterCgroup := sync.OnceValues(func() (map[string]string, error) {
		defer s.starterFile.Close()
		var ready cgroupReady
		if err := s.starter.Decode(&ready); err != nil {
			return nil, fmt.Errorf("cgroup: no word from the starter: %w", err)
		}
		if ready.Error != "" {
			return nil, errors.New(ready.Error)
		}
		return ready.Paths, nil
	})
	defer func() {
		if !s.started {
			return
		}
		dirs, _ := starterCgroup()
		m, err := preparedManager(st.CgroupPath, spec.Resources, spec.Privileged, dirs)
		if err != nil {
			s.log.Info("cgroup", "container", st.ID, "err", err)
			return
		}
		s.oom = oomKilled(m)
		if !cgroupEmpty(m) {
			killCgroup(m)
		}
	}()
	child, code, err := spawnContainer(cfg, spec.Namespaces, &stdio, starterCgroup)
	stdio.closeChild()
	if err != nil {
		report(shimResult{Error: err.Error(), ExitCode: code})
		return code, err
	}
	pid := child.pid
	if spec.Tty {
		stdio.parent[1] = child.master
	}
	traceStart("init exec'd")
	pidStart, _ := procStartTime(pid)
	s.start, _ = procStartTime(os.Getpid())
	// Copy output before reporting, so nothing the process writes is lost.
	var wg sync.WaitGroup
	stopAttach := make(chan struct{})
	defer close(stopAttach)
	if spec.Tty {
		if err := serveAttach(st.Dir, stdio.parent[1], false, stopAttach); err != nil {
			s.log.Info("attach socket", "container", st.ID, "err", err)
		}
	} else if spec.OpenStdin {
		if err := serveAttach(st.Dir, stdio.parent[0], true, stopAttach); err != nil {
			s.log.Info("attach socket", "container", st.ID, "err", err)
		}
		stdio.parent[0] = nil // serveAttach owns it now
	}
	if spec.Tty {
		wg.Add(1)
		go func() { defer wg.Done(); copyChunks(logw, "stdout", stdio.parent[1]) }()
	} else {
		wg.Add(2)
		go func() { defer wg.Done(); copyLines(logw, "stdout", stdio.parent[1]) }()
		go func() { defer wg.Done(); copyLines(logw, "stderr", stdio.parent[2]) }()
	}
	s.started = true
	report(shimResult{Pid: pid, PidStart: pidStart, ShimStart: s.start})

	// A container still running after trimDelay is a long-lived one: only
	// then give back the start-up memory. One that exits at once (a
	// one-off command, a crash loop) is reaped without paying for it.
	var ws unix.WaitStatus
	waited := make(chan error, 1)
	go func() {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		for err == unix.EINTR {
			_, err = unix.Wait4(pid, &ws, 0, nil)
		}
		waited <- err
	}()
	select {
	case err = <-waited:
	case <-time.After(trimDelay):
		trimMemory()
		err = <-waited
	}
	s.finishedAt = time.Now().UTC()
	traceStart("exited")
	code = waitStatusCode(ws)
	// The process's pid ns died with it, so the pipes close; processes that
	// share another pid ns may hold them open: give them a moment.
	waitTimeout(&wg, 2*time.Second)
	if err != nil {
		return 125, err
	}
	return code, nil
}

// record writes how the run ended (exitRecord); with AutoRemove it then
// removes the container. A container that never started keeps its
// previous status (the starting CLI records the error).
func (s *shim) record(r *Runtime, code int) error {
	if !s.started {
		return nil
	}
	data, err := json.Marshal(exitRecord{ShimPid: os.Getpid(), ShimStart: s.start,
		ExitCode: code, OOMKilled: s.oom, FinishedAt: s.finishedAt})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteVolatile(filepath.Join(s.st.Dir, exitFile), data, 0o600); err != nil {
		return err
	}
	if !s.st.Spec.AutoRemove {
		return nil
	}
	unlock, err := lockFile(filepath.Join(s.st.Dir, "lock"))
	if err != nil {
		return err
	}
	st, err := r.load(s.st.ID)
	unlock()
	if err != nil {
		return err
	}
	if st.Status == StatusRunning || st.Status == StatusPaused {
		return nil // started again by someone else meanwhile
	}
	return r.removeDir(st.ID)
}

// exitCode is waitStatusCode for an os/exec process (125: never waited).
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 125
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		return waitStatusCode(unix.WaitStatus(ws))
	}
	return ps.ExitCode()
}

// waitStatusCode is Docker's exit code for a wait status: the code, or
// 128 + the signal.
func waitStatusCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// stdioSet holds the container's stdio: child ends for init, parent ends
// for the shim's copiers.
type stdioSet struct {
	child  [3]*os.File
	parent [3]*os.File
}

func (s *stdioSet) open(tty, stdin bool) error {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	s.child[0] = null
	if stdin && !tty {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		null.Close()
		s.child[0], s.parent[0] = r, w
	}
	if tty {
		// Init makes the pty in the container's devpts; until then its
		// stdio is /dev/null.
		s.child[1], s.child[2] = null, null
		return nil
	}
	for i := 1; i <= 2; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		s.parent[i], s.child[i] = r, w
	}
	return nil
}

func (s *stdioSet) closeChild() {
	seen := map[*os.File]bool{}
	for i, f := range s.child {
		if f != nil && !seen[f] {
			f.Close()
			seen[f] = true
		}
		s.child[i] = nil
	}
}

func (s *stdioSet) closeAll() {
	s.closeChild()
	for _, f := range s.parent {
		if f != nil {
			f.Close()
		}
	}
}

// buildInitConfig decides everything init will do, from the state.
func buildInitConfig(st *State) (*initConfig, error) {
	spec := &st.Spec
	args, err := commandLine(spec, st.Image.Config)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(spec.Privileged, spec.CapAdd, spec.CapDrop)
	if err != nil {
		return nil, err
	}
	if !spec.Privileged && !deviceControlled() && !containsCap(spec.CapAdd, "MKNOD") {
		caps = removeCap(caps, capNames["MKNOD"])
	}
	env := mergeEnv(st.Image.Config.Env, spec.Env)
	if !envHas(env, "PATH") {
		env = append([]string{"PATH=" + defaultPath}, env...)
	}
	if spec.Hostname != "" && !envHas(env, "HOSTNAME") {
		env = append(env, "HOSTNAME="+spec.Hostname)
	}
	if spec.Tty && !envHas(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	cwd := spec.WorkingDir
	if cwd == "" {
		cwd = st.Image.Config.WorkingDir
	}
	user := spec.User
	if user == "" {
		user = st.Image.Config.User
	}
	shm := spec.ShmSize
	if shm == 0 {
		shm = 64 << 20
	}
	cfg := &initConfig{
		ID: st.ID, Domainname: spec.Domainname,
		LowerDirs: st.Image.LowerDirs,
		UpperDir:  filepath.Join(st.Dir, "upper"), WorkDir: filepath.Join(st.Dir, "work"),
		MergedDir: filepath.Join(st.Dir, "merged"),
		ReadOnly:  spec.ReadOnly, Privileged: spec.Privileged, Mounts: spec.Mounts,
		HostnamePath: filepath.Join(st.Dir, "hostname"),
		HostsPath:    spec.HostsPath, ResolvConfPath: spec.ResolvConfPath,
		ShmSize: shm,
		NewNet:  spec.Namespaces.Network == "", HostNet: spec.Namespaces.Network == "host",
		NewIPC: spec.Namespaces.IPC == "", HostIPC: spec.Namespaces.IPC == "host",
		Devices: spec.Devices,
		Sysctls: spec.Sysctls, Init: spec.Init,
		Process: processConfig{
			Args: args, Env: env, Cwd: cwd, User: user, GroupAdd: spec.GroupAdd,
			Caps: caps, NoNewPrivs: spec.NoNewPrivileges == nil || *spec.NoNewPrivileges,
			Rlimits: spec.Ulimits, Tty: spec.Tty, ConsoleSize: spec.ConsoleSize,
		},
	}
	if spec.Namespaces.UTS == "" {
		cfg.Hostname = spec.Hostname
	}
	if cfg.HostsPath == "" {
		cfg.HostsPath = filepath.Join(st.Dir, "hosts")
	}
	if cfg.ResolvConfPath == "" {
		cfg.ResolvConfPath = filepath.Join(st.Dir, "resolv.conf")
	}
	if strings.Join(cfg.LowerDirs, ":") == "" {
		return nil, fmt.Errorf("image %s: no layers", st.Image.Ref)
	}
	return cfg, nil
}
