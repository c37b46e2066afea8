package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// Runtime manages the containers under one root dir. It holds no state in
// memory: every method reads the disk, so any number of processes may use
// the same root at once (they serialise on per-container flocks). The one
// exception is a spare shim process (KeepSpareShim), which is not state.
type Runtime struct {
	root, runDir string
	images       Images
	log          *slog.Logger
	cgroupParent string
	exe          string
	// initPath resolves Options.InitPath once, when a container with
	// Spec.Init first starts: "" = berth-init.
	initPath func() (string, error)
	spares   spares
}

// New opens (creating if needed) the root and run dirs and reconciles the
// recorded state with reality: after a reboot (no marker in RunDir, or one
// with another boot id) every running container reads as exited; a
// container whose shim has died is marked exited and its leftovers (init,
// cgroup) are removed.
func New(opts Options) (*Runtime, error) {
	if opts.Root == "" || opts.RunDir == "" {
		return nil, fmt.Errorf("%w: runtime needs Root and RunDir", ErrInvalidArgument)
	}
	r := &Runtime{root: opts.Root, runDir: opts.RunDir, images: opts.Images, log: opts.Logger,
		cgroupParent: opts.CgroupParent, exe: opts.Exe}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.cgroupParent == "" {
		r.cgroupParent = "/berth"
	}
	if r.exe == "" {
		r.exe = defaultExe()
	}
	r.initPath = sync.OnceValues(func() (string, error) { return ResolveInitPath(opts.InitPath) })
	for _, d := range []string{r.root, r.runDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("runtime dir: %w", err)
		}
	}
	rebooted, err := r.checkBoot()
	if err != nil {
		return nil, err
	}
	ids, err := r.ids()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := r.reconcile(id, rebooted); err != nil {
			r.log.Info("reconcile container", "container", id, "err", err)
		}
	}
	return r, nil
}

// checkBoot compares the marker <RunDir>/boot-id with the kernel's boot id.
// RunDir is on tmpfs (/run), so after a reboot the marker is missing; the
// boot id catches a RunDir that is not on tmpfs.
func (r *Runtime) checkBoot() (bool, error) {
	marker := filepath.Join(r.runDir, "boot-id")
	cur := bootID()
	old, err := os.ReadFile(marker)
	if err == nil && strings.TrimSpace(string(old)) == cur {
		return false, nil
	}
	if err := atomicfile.WriteFile(marker, []byte(cur+"\n"), 0o644); err != nil {
		return false, fmt.Errorf("boot marker: %w", err)
	}
	return true, nil
}

// defaultExe is berth-shim next to this executable when installed (its
// package init is far cheaper than berth's, and it sits on the path of
// every start and exec), else this executable itself.
func defaultExe() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "berth-shim")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return "/proc/self/exe"
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.root, id) }

func (r *Runtime) ids() ([]string, error) {
	ents, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (r *Runtime) load(id string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(r.dir(id), "state.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	st, err := unmarshalState(data)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if st.Status == StatusRunning || st.Status == StatusPaused {
		// The shim's exit record, if it ends this run (a damaged one is
		// ignored: see exitRecord).
		if data, err := os.ReadFile(filepath.Join(r.dir(id), exitFile)); err == nil {
			var rec exitRecord
			if json.Unmarshal(data, &rec) == nil {
				st.applyExit(rec)
			}
		}
	}
	return st, nil
}

// nameOf returns the name of container id ("" if unreadable), decoding
// nothing else of its state: Create checks every container's name.
func (r *Runtime) nameOf(id string) string {
	data, err := os.ReadFile(filepath.Join(r.dir(id), "state.json"))
	if err != nil {
		return ""
	}
	var named struct {
		Name string `json:"name"`
	}
	json.Unmarshal(data, &named)
	return named.Name
}

func (r *Runtime) save(st *State) error {
	data, err := marshalState(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(st.Dir, "state.json"), data, 0o600)
}

// lockFile takes an exclusive flock on path; the returned func releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func (r *Runtime) lock(id string) (func(), error) {
	if _, err := os.Stat(r.dir(id)); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	return lockFile(filepath.Join(r.dir(id), "lock"))
}

// resolve finds a container by full id, unique id prefix or name.
func (r *Runtime) resolve(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%w: empty container reference", ErrInvalidArgument)
	}
	if _, err := os.Stat(filepath.Join(r.dir(ref), "state.json")); err == nil && len(ref) == 64 {
		return ref, nil
	}
	ids, err := r.ids()
	if err != nil {
		return "", err
	}
	var prefixed []string
	for _, id := range ids {
		st, err := r.load(id)
		if err != nil {
			continue
		}
		if st.Name == ref || id == ref {
			return id, nil
		}
		if strings.HasPrefix(id, ref) {
			prefixed = append(prefixed, id)
		}
	}
	switch len(prefixed) {
	case 1:
		return prefixed[0], nil
	case 0:
		return "", fmt.Errorf("container %s: %w", ref, ErrNotFound)
	default:
		return "", fmt.Errorf("%w: container reference %q is ambiguous", ErrInvalidArgument, ref)
	}
}

// reconcile repairs one container's state after its shim died or the host
// rebooted.
func (r *Runtime) reconcile(id string, rebooted bool) error {
	st, err := r.load(id)
	if err != nil {
		return err
	}
	if st.Status != StatusRunning && st.Status != StatusPaused {
		return nil
	}
	if !rebooted && alive(st.ShimPid, st.ShimStart) {
		return nil
	}
	unlock, err := r.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	if st, err = r.load(id); err != nil {
		return err
	}
	if st.Status != StatusRunning && st.Status != StatusPaused {
		return nil
	}
	if !rebooted && alive(st.ShimPid, st.ShimStart) {
		return nil
	}
	r.markDead(st, rebooted)
	return r.save(st)
}

// markDead records a container whose shim is gone as exited, killing what
// is left of it (its init and anything in its cgroup).
func (r *Runtime) markDead(st *State, rebooted bool) {
	if rebooted {
		st.Error = "host rebooted while the container was running"
	} else {
		st.Error = "shim exited unexpectedly"
		signalProcess(st.Pid, st.PidStart, unix.SIGKILL)
		if m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged); err == nil {
			destroyCgroup(m)
		}
	}
	st.Status = StatusExited
	st.ExitCode = 255
	st.FinishedAt = time.Now().UTC()
	st.Pid, st.PidStart, st.ShimPid, st.ShimStart = 0, 0, 0, 0
	st.Namespaces = nil
}

// refresh returns the state of id, repaired if its shim died.
func (r *Runtime) refresh(id string) (*State, error) {
	st, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if (st.Status == StatusRunning || st.Status == StatusPaused) && !alive(st.ShimPid, st.ShimStart) {
		if err := r.reconcile(id, false); err != nil {
			return nil, err
		}
		return r.load(id)
	}
	return st, nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create validates spec, resolves its image and prepares the container's
// directory (upper/work dirs, hostname, hosts, resolv.conf). Nothing runs
// yet. On error nothing is left behind.
func (r *Runtime) Create(ctx context.Context, spec Spec) (_ *State, err error) {
	if err := validateSpec(&spec); err != nil {
		return nil, err
	}
	if r.images == nil {
		return nil, fmt.Errorf("create container: %w: no image store configured", ErrInvalidArgument)
	}
	img, err := r.images.Resolve(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("create container: image %s: %w", spec.Image, err)
	}
	if len(img.LowerDirs) == 0 {
		return nil, fmt.Errorf("create container: image %s has no layers", spec.Image)
	}
	id := newID()
	if spec.Name == "" {
		spec.Name = id[:12]
	}
	unlock, err := lockFile(filepath.Join(r.root, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, err := r.ids()
	if err != nil {
		return nil, err
	}
	for _, other := range ids {
		if r.nameOf(other) == spec.Name {
			return nil, fmt.Errorf("create container: name %q: %w (container %s)", spec.Name, ErrAlreadyExists, shortID(other))
		}
	}
	if spec.Hostname == "" && spec.Namespaces.UTS == "" {
		spec.Hostname = id[:12]
	}
	final := r.dir(id)
	tmp, err := os.MkdirTemp(r.root, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		return nil, err
	}
	st := &State{
		ID: id, Name: spec.Name, Created: time.Now().UTC(), Spec: spec, Image: img,
		Status: StatusCreated, Dir: final,
		CgroupPath: filepath.Join(r.cgroupParent, id),
		LogPath:    filepath.Join(final, id+"-json.log"),
	}
	if err := writeEtcFiles(tmp, st); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	data, err := marshalState(st)
	if err != nil {
		return nil, err
	}
	// A sync of tmp would not make the rename below durable (that is the
	// root's entry): the file is synced, the rename makes it appear whole.
	if err := atomicfile.Replace(filepath.Join(tmp, "state.json"), data, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	r.log.Debug("container created", "container", id, "name", spec.Name)
	return st, nil
}

// writeEtcFiles writes hostname, and hosts/resolv.conf unless the spec
// brings its own.
func writeEtcFiles(dir string, st *State) error {
	hn := st.Spec.Hostname
	if hn == "" {
		hn, _ = os.Hostname()
	}
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(hn+"\n"), 0o644); err != nil {
		return err
	}
	if st.Spec.HostsPath == "" {
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(defaultHosts(hn, st.Spec.Domainname)), 0o644); err != nil {
			return err
		}
	}
	if st.Spec.ResolvConfPath == "" {
		host, _ := os.ReadFile("/etc/resolv.conf")
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(filterResolvConf(string(host))), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Start runs the container's process under a new shim. It returns when the
// process has been exec'd (or failed to start: *StartError with Docker's
// exit code). A container in status exited is started again in place.
func (r *Runtime) Start(ctx context.Context, ref string) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	unlock, err := r.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := r.refreshLocked(id)
	if err != nil {
		return err
	}
	if err := checkTransition(id, "start", st.Status); err != nil {
		return err
	}
	wasExited := st.Status == StatusExited
	killOrphanShim(st.Dir)
	// The last run's exit record is folded in above; the new run gets its own.
	if err := os.Remove(filepath.Join(st.Dir, exitFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start container %s: %w", shortID(id), err)
	}
	res, shimPid, m, err := r.spawnShim(st)
	if (err != nil || res.Error != "") && m != nil {
		// A failed start leaves no cgroup (the shim has reaped what it
		// forked; destroyCgroup kills anything else).
		if derr := destroyCgroup(m); derr != nil {
			r.log.Info("destroy cgroup", "container", id, "err", derr)
		}
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", shortID(id), err)
	}
	if res.Error != "" {
		st.ExitCode = res.ExitCode
		st.Error = res.Error
		if err := r.save(st); err != nil {
			return err
		}
		return &StartError{ID: id, ExitCode: res.ExitCode, Msg: res.Error}
	}
	shimStart := res.ShimStart // the shim's own word: it may have ended by now
	if wasExited {
		st.RestartCount++
	}
	st.Status = StatusRunning
	st.Pid, st.PidStart = res.Pid, res.PidStart
	st.ShimPid, st.ShimStart = shimPid, shimStart
	st.StartedAt = time.Now().UTC()
	st.FinishedAt = time.Time{}
	st.ExitCode, st.OOMKilled, st.Error = 0, false, ""
	st.BootID = bootID()
	st.Namespaces = map[string]string{}
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt", "cgroup"} {
		st.Namespaces[ns] = fmt.Sprintf("/proc/%d/ns/%s", res.Pid, ns)
	}
	if err := r.save(st); err != nil {
		return err
	}
	r.log.Debug("container started", "container", id, "pid", res.Pid)
	return nil
}

// refreshLocked is refresh for a caller that already holds the lock.
func (r *Runtime) refreshLocked(id string) (*State, error) {
	st, err := r.load(id)
	if err != nil {
		return nil, err
	}
	if (st.Status == StatusRunning || st.Status == StatusPaused) && !alive(st.ShimPid, st.ShimStart) {
		// The shim may have finished between our checks: give its final
		// write (blocked on our lock) no chance; record what we know.
		r.markDead(st, false)
		if err := r.save(st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// spawnShim starts the shim (or takes the spare, KeepSpareShim), tells it
// its container, makes the container's cgroup while the shim starts up or
// reads the container's config (milliseconds that this process would
// otherwise spend waiting), tells the shim on fd 4, and reads its one-line
// result.
func (r *Runtime) spawnShim(st *State) (res shimResult, pid int, m cgroups.Manager, err error) {
	a := shimAssignment{Dir: st.Dir}
	if st.Spec.Init {
		if a.InitPath, err = r.initPath(); err != nil {
			return res, 0, nil, err
		}
	}
	if os.Getenv("BERTH_TRACE_START") != "" {
		// The shim logs its start-up milestones to shim.log, relative to now.
		a.T0 = time.Now().UnixNano()
	}
	defer r.refillSpare()
	p, err := r.assignShim(st, a)
	if err != nil {
		return res, 0, nil, err
	}
	defer p.result.Close()
	defer p.starter.Close()
	var ready cgroupReady
	if m, err = newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged); err != nil {
		ready.Error = err.Error()
	} else if err := prepareCgroup(m, st.CgroupPath, &st.Spec); err != nil {
		ready.Error = err.Error()
	} else {
		ready.Paths = cgroupDirs(m)
	}
	json.NewEncoder(p.starter).Encode(ready)
	p.starter.Close()
	data, err := io.ReadAll(p.result)
	if err != nil {
		return res, 0, m, fmt.Errorf("read shim result: %w", err)
	}
	if len(data) == 0 {
		return res, 0, m, fmt.Errorf("shim exited without a result (see %s)", filepath.Join(st.Dir, "shim.log"))
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, 0, m, fmt.Errorf("decode shim result %q: %w", data, err)
	}
	return res, p.cmd.Process.Pid, m, nil
}

// assignShim gives the container of st to the spare shim, or to a new one
// when there is no spare or it died.
func (r *Runtime) assignShim(st *State, a shimAssignment) (*shimProc, error) {
	if p := r.takeSpare(); p != nil {
		if err := handOver(p, st, a); err == nil {
			return p, nil
		}
		p.retire()
	}
	p, err := r.startShim(st.Dir)
	if err != nil {
		return nil, err
	}
	// A shim that died already is seen by the caller (no result): ignore
	// EPIPE.
	handOver(p, st, a)
	return p, nil
}

// handOver records p as the shim of st's container and tells p so. Who
// runs a container is recorded first, for a Start that finds this one
// killed before it recorded the run (killOrphanShim): a starter killed
// before this never assigns, and a shim that reads end-of-file instead
// starts nothing.
func handOver(p *shimProc, st *State, a shimAssignment) error {
	pid := p.cmd.Process.Pid
	if start, err := procStartTime(pid); err == nil {
		os.WriteFile(filepath.Join(st.Dir, shimPidFile), fmt.Appendf(nil, "%d %d\n", pid, start), 0o600)
	}
	return p.assign(a)
}

// Wait blocks until the container is no longer running and returns how its
// process ended. It works from any process: it wakes when the shim
// records the exit status (or, should the shim die first, on its pidfd).
func (r *Runtime) Wait(ctx context.Context, ref string) (ExitStatus, error) {
	id, err := r.resolve(ref)
	if err != nil {
		return ExitStatus{}, err
	}
	for {
		st, err := r.load(id)
		if err != nil {
			return ExitStatus{}, err
		}
		switch st.Status {
		case StatusRunning, StatusPaused:
			fd, err := openProcess(st.ShimPid, st.ShimStart)
			if errors.Is(err, errGone) {
				// Its record was folded in by load, so it died without
				// one: repair the state.
				if st, err = r.refresh(id); err != nil {
					return ExitStatus{}, err
				}
				if st.Status == StatusRunning || st.Status == StatusPaused {
					continue // restarted meanwhile by someone else
				}
				return exitStatus(st), nil
			}
			if err != nil {
				return ExitStatus{}, err
			}
			ended, err := r.waitEnded(ctx, st, fd)
			unix.Close(fd)
			if err != nil {
				return ExitStatus{}, err
			}
			if ended != nil && ended.Status != StatusRunning && ended.Status != StatusPaused {
				return exitStatus(ended), nil
			}
			// The shim is gone, or the container was restarted by
			// someone else: look again.
		case StatusCreated:
			select {
			case <-ctx.Done():
				return ExitStatus{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return exitStatus(st), nil
		}
	}
}

func exitStatus(st *State) ExitStatus {
	return ExitStatus{Code: st.ExitCode, OOMKilled: st.OOMKilled, FinishedAt: st.FinishedAt, Error: st.Error}
}

// Kill sends sig to the container's init (pid 1 of its pid namespace).
func (r *Runtime) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.refresh(id)
	if err != nil {
		return err
	}
	if err := checkTransition(id, "kill", st.Status); err != nil {
		return err
	}
	if st.Status == StatusPaused && sig == unix.SIGKILL {
		// Deliver now; a frozen task dies once thawed.
		defer r.thaw(st)
	}
	if err := signalProcess(st.Pid, st.PidStart, sig); err != nil {
		if errors.Is(err, errGone) {
			return &TransitionError{ID: id, Op: "kill", Status: StatusExited}
		}
		return fmt.Errorf("kill container %s: %w", shortID(id), err)
	}
	return nil
}

func (r *Runtime) thaw(st *State) {
	if m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged); err == nil {
		m.Freeze("THAWED")
	}
}

// stopSignal is the spec's, else the image's, else SIGTERM.
func stopSignal(st *State) (syscall.Signal, error) {
	name := st.Spec.StopSignal
	if name == "" {
		name = st.Image.Config.StopSignal
	}
	if name == "" {
		return unix.SIGTERM, nil
	}
	return ParseSignal(name)
}

// Stop sends the stop signal, waits up to timeout (nil = the spec's stop
// timeout, else 10s) and then SIGKILL. Stopping a container that is not
// running succeeds.
func (r *Runtime) Stop(ctx context.Context, ref string, timeout *time.Duration) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.refresh(id)
	if err != nil {
		return err
	}
	if st.Status != StatusRunning && st.Status != StatusPaused {
		return nil
	}
	grace := 10 * time.Second
	if st.Spec.StopTimeout != nil {
		grace = *st.Spec.StopTimeout
	}
	if timeout != nil {
		grace = *timeout
	}
	sig, err := stopSignal(st)
	if err != nil {
		return err
	}
	shimFd, err := openProcess(st.ShimPid, st.ShimStart)
	if err != nil {
		if errors.Is(err, errGone) {
			_, err = r.refresh(id)
			return err
		}
		return err
	}
	defer unix.Close(shimFd)
	if st.Status == StatusPaused {
		r.thaw(st)
	}
	if grace > 0 {
		if err := signalProcess(st.Pid, st.PidStart, sig); err != nil && !errors.Is(err, errGone) {
			return fmt.Errorf("stop container %s: %w", shortID(id), err)
		}
		wctx, cancel := context.WithTimeout(ctx, grace)
		_, err := r.waitEnded(wctx, st, shimFd)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := signalProcess(st.Pid, st.PidStart, unix.SIGKILL); err != nil && !errors.Is(err, errGone) {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	_, err = r.waitEnded(ctx, st, shimFd)
	return err
}

// Pause freezes every process of the container (freezer cgroup).
func (r *Runtime) Pause(ctx context.Context, ref string) error {
	return r.setFrozen(ref, "pause", true)
}

// Unpause thaws a paused container.
func (r *Runtime) Unpause(ctx context.Context, ref string) error {
	return r.setFrozen(ref, "unpause", false)
}

func (r *Runtime) setFrozen(ref, op string, freeze bool) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	unlock, err := r.lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := r.refreshLocked(id)
	if err != nil {
		return err
	}
	if err := checkTransition(id, op, st.Status); err != nil {
		return err
	}
	m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged)
	if err != nil {
		return err
	}
	state, next := "THAWED", StatusRunning
	if freeze {
		state, next = "FROZEN", StatusPaused
	}
	if err := m.Freeze(freezerState(state)); err != nil {
		return fmt.Errorf("%s container %s: %w", op, shortID(id), err)
	}
	st.Status = next
	return r.save(st)
}

// Remove deletes a container: its state dir, upper dir, logs and cgroup.
// A running container needs force (it is killed first). Removing a
// container that does not exist returns ErrNotFound.
func (r *Runtime) Remove(ctx context.Context, ref string, force bool) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.refresh(id)
	if err != nil {
		return err
	}
	if st.Status == StatusRunning || st.Status == StatusPaused {
		if !force {
			return &TransitionError{ID: id, Op: "remove", Status: st.Status}
		}
		zero := time.Duration(0)
		if err := r.Stop(ctx, id, &zero); err != nil {
			return fmt.Errorf("remove container %s: %w", shortID(id), err)
		}
	}
	return r.removeDir(id)
}

func (r *Runtime) removeDir(id string) error {
	unlock, err := r.lock(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	defer unlock()
	st, err := r.load(id)
	if err == nil {
		if st.Status == StatusRunning || st.Status == StatusPaused {
			if alive(st.ShimPid, st.ShimStart) {
				return &TransitionError{ID: id, Op: "remove", Status: st.Status}
			}
		}
		// A shim that recorded its exit may still be ending (Wait and
		// Stop return on the record): nothing of ours outlives rm.
		killOrphanShim(st.Dir)
		if m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, st.Spec.Privileged); err == nil && len(cgroupDirs(m)) > 0 {
			destroyCgroup(m)
		}
	}
	// Rename first so a crash mid-removal leaves no half container in List.
	trash := filepath.Join(r.root, ".rm-"+id)
	if err := os.Rename(r.dir(id), trash); err != nil {
		return fmt.Errorf("remove container %s: %w", shortID(id), err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove container %s: %w", shortID(id), err)
	}
	r.log.Debug("container removed", "container", id)
	return nil
}

// Inspect returns the container's state.
func (r *Runtime) Inspect(ctx context.Context, ref string) (*State, error) {
	id, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	return r.refresh(id)
}

// List returns the containers whose labels include every key=value of
// labels (nil = all), sorted by creation time.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]*State, error) {
	ids, err := r.ids()
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, id := range ids {
		st, err := r.refresh(id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, err
		}
		match := true
		for k, v := range labels {
			if st.Spec.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Logs sends the container's log entries to fn. With Follow it keeps going
// until the container stops (or ctx ends).
func (r *Runtime) Logs(ctx context.Context, ref string, opts LogOptions, fn func(LogEntry) error) error {
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	st, err := r.load(id)
	if err != nil {
		return err
	}
	var shimFd = -1
	if opts.Follow && (st.Status == StatusRunning || st.Status == StatusPaused) {
		shimFd, _ = openProcess(st.ShimPid, st.ShimStart)
	}
	if shimFd >= 0 {
		defer unix.Close(shimFd)
	}
	done := func() bool {
		if shimFd < 0 {
			return true
		}
		n, _ := unix.Poll([]unix.PollFd{{Fd: int32(shimFd), Events: unix.POLLIN}}, 0)
		return n > 0
	}
	// Between polls of the file, wait on the shim's pidfd: the follower
	// ends as soon as the container does.
	pause := func(ctx context.Context) {
		if shimFd < 0 {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		pidfdWait(wctx, shimFd)
	}
	return readLogs(ctx, st.LogPath, opts, done, pause, fn)
}
