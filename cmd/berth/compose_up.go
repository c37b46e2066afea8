package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/upstamp"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
)

func init() { registerCommand(newUpCmd) }

// upOptions are the flags of `berth up`, with Compose's names.
type upOptions struct {
	detach, dryRun, removeOrphans, noDeps, forceRecreate, noRecreate   bool
	noStart, wait, abortOnExit, watch, quietPull, noColor, noLogPrefix bool
	timestamps                                                         bool
	scale                                                              []string
	pull, exitCodeFrom                                                 string
	waitTimeout, timeout                                               int
	services                                                           []string
}

func newUpCmd(g *globalOptions) *cobra.Command {
	var o upOptions
	c := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.services = args
			return runUp(cmd, g, &o)
		},
	}
	f := c.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "detached mode: run containers in the background under a supervisor")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan with the cause of each action and change nothing")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "remove containers for services not defined in the Compose file")
	f.BoolVar(&o.noDeps, "no-deps", false, "don't start linked services")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "recreate containers even if their configuration and image haven't changed")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "if containers already exist, don't recreate them")
	f.BoolVar(&o.noStart, "no-start", false, "don't start the services after creating them")
	f.BoolVar(&o.wait, "wait", false, "wait for services to be running|healthy (implies detached mode)")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "maximum duration in seconds to wait for the project to be running|healthy")
	f.BoolVar(&o.abortOnExit, "abort-on-container-exit", false, "stops all containers if any container was stopped")
	f.StringVar(&o.exitCodeFrom, "exit-code-from", "", "return the exit code of the selected service container (implies --abort-on-container-exit)")
	f.BoolVarP(&o.watch, "watch", "w", false, "watch the manifest and re-apply it when it changes (with -d: the detached supervisor watches)")
	f.StringArrayVar(&o.scale, "scale", nil, "scale SERVICE to NUM instances (overrides the scale setting in the Compose file)")
	f.StringVar(&o.pull, "pull", "policy", `pull image before running ("always"|"missing"|"never"|"policy")`)
	f.BoolVar(&o.quietPull, "quiet-pull", false, "pull without printing progress information")
	f.IntVarP(&o.timeout, "timeout", "t", -1, "use this timeout in seconds for container shutdown when attached or when containers are already running")
	f.BoolVar(&o.noColor, "no-color", false, "produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "don't print prefix in logs")
	f.BoolVar(&o.timestamps, "timestamps", false, "show timestamps")
	return c
}

func parseScale(in []string) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range in {
		name, n, ok := strings.Cut(s, "=")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return nil, fmt.Errorf("--scale %q: want SERVICE=NUM", s)
		}
		out[name] = v
	}
	return out, nil
}

func runUp(cmd *cobra.Command, g *globalOptions, o *upOptions) error {
	ctx := cmd.Context()
	if o.exitCodeFrom != "" {
		o.abortOnExit = true
	}
	if o.wait {
		o.detach = true
	}
	if o.detach && o.abortOnExit {
		return errors.New("--abort-on-container-exit and --detach are incompatible")
	}
	scale, err := parseScale(o.scale)
	if err != nil {
		return err
	}
	pull := o.pull
	if pull == "policy" {
		pull = ""
	}
	env, err := openCompose(cmd, g, composeOpts{})
	if err != nil {
		return err
	}
	p := env.project
	if o.exitCodeFrom != "" {
		if _, ok := p.Service(o.exitCodeFrom); !ok {
			return fmt.Errorf("no such service: %s", o.exitCodeFrom)
		}
	}
	popts := reconciler.PlanOptions{Services: o.services, NoDeps: o.noDeps, Scale: scale, RemoveOrphans: o.removeOrphans,
		ForceRecreate: o.forceRecreate, NoRecreate: o.noRecreate, NoStart: o.noStart, Pull: pull}
	if o.dryRun {
		obs, err := reconciler.Observe(ctx, env.deps, p.Name, reconciler.ObserveOptions{Images: imageRefs(p), Store: env.store})
		if err != nil {
			return err
		}
		plan, err := reconciler.PlanUp(p, obs, popts)
		if err != nil {
			return err
		}
		io.WriteString(cmd.OutOrStdout(), plan.String())
		return nil
	}

	if !o.noStart {
		if err := checkHostPorts(ctx, env, o.services, o.noDeps); err != nil {
			return err
		}
	}
	lock, err := env.lock(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer lock.Release()
	obs, err := reconciler.Observe(ctx, env.deps, p.Name, reconciler.ObserveOptions{Images: imageRefs(p), Store: env.store})
	if err != nil {
		return err
	}
	plan, err := reconciler.PlanUp(p, obs, popts)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARN[0000]", w)
	}
	if o.detach && !o.wait && !o.watch && plan.Empty() && env.store.SupervisorPid() != 0 && sameProject(env.store, p) {
		// Nothing to do and the running supervisor already supervises
		// this very manifest: the no-op up touches nothing at all.
		if stampable(o) {
			env.writeUpStamp(env.convergedFacts(ctx, p, popts, obs))
		}
		return nil
	}
	// Shut the old supervisor down (its containers keep running): the new
	// one supervises the manifest applied now. We hold the lock, so it is
	// not in the middle of a change.
	if err := env.store.StopSupervisor(10 * time.Second); err != nil {
		return err
	}
	var sv *supervisorStart
	if o.detach && !o.noStart {
		if sv, err = spawnSupervisor(g, env, o.watch); err != nil {
			return err
		}
		defer sv.abandon()
	}
	prog := newProgress(cmd.ErrOrStderr(), "Running", false)
	env.exec.Progress = prog.event
	env.exec.Monitor = reconciler.NewMonitor(env.deps.Containers, env.store, nil, env.log)
	defer env.exec.Monitor.Close()
	applyErr := env.exec.Apply(ctx, p, plan, reconciler.ApplyOptions{NoStart: o.noStart, StopTimeout: durationFlag(o.timeout)})
	if err := env.store.SaveProject(p); err != nil && applyErr == nil {
		applyErr = err
	} else if err == nil {
		env.recordApplied(p)
	}
	if o.detach || o.noStart {
		if !o.noStart {
			// A supervisor runs even when some services failed: those
			// that started deserve their restart policy.
			// The stamp's checks run while the supervisor gets going.
			facts := make(chan *upstamp.Stamp, 1)
			if applyErr == nil && stampable(o) {
				go func() { facts <- env.convergedFacts(ctx, p, popts, nil) }()
			} else {
				facts <- nil
			}
			if err := sv.release(); err != nil && applyErr == nil {
				applyErr = err
			}
			if st := <-facts; applyErr == nil {
				env.writeUpStamp(st)
			}
		}
		lock.Release()
		if applyErr == nil && o.wait {
			wctx := ctx
			if o.waitTimeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, time.Duration(o.waitTimeout)*time.Second)
				defer cancel()
			}
			scope, _ := reconciler.Scope(p, o.services, o.noDeps)
			applyErr = env.exec.WaitReady(wctx, p, scope)
		}
		prog.finish()
		return composeErr(applyErr)
	}
	prog.finish()
	if applyErr != nil {
		return composeErr(applyErr)
	}
	lock.Release()
	env.exec.Monitor.Close()
	env.exec.Monitor = nil
	return runForeground(cmd, g, env, o)
}

// stampable reports whether an `up` with these options may be answered
// from a stamp when repeated: detached, and neither waiting, watching,
// forcing a recreate, leaving containers unstarted nor only planning.
func stampable(o *upOptions) bool {
	return o.detach && !o.wait && !o.watch && !o.forceRecreate && !o.noStart && !o.dryRun
}

// sameProject reports whether the project last applied is p.
func sameProject(st *reconciler.Store, p *spec.Project) bool {
	old, err := st.LoadProject()
	if err != nil {
		return false
	}
	a, err1 := json.Marshal(old)
	b, err2 := json.Marshal(p)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

func imageRefs(p *spec.Project) []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Image)
	}
	return out
}

// supervisorStart is a supervisor process started ahead of need: it runs
// its start-up (a full berth process, tens of milliseconds) while up
// applies the plan, then waits on its go pipe for the project to be saved.
type supervisorStart struct {
	env    *composeEnv
	pid    int
	goPipe *os.File
	exited chan error
}

// spawnSupervisor re-executes berth as the project's detached supervisor
// (`berth --root R -p NAME supervise`) in its own session, so that it
// outlives this command and the terminal; with watch it also re-applies
// the manifest when its files change (`up -d --watch`). The supervisor
// waits until release (or gives up, should this command die first: its go
// pipe then reads end-of-file).
func spawnSupervisor(g *globalOptions, env *composeEnv, watch bool) (*supervisorStart, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	args := []string{"--root", g.Root, "-p", env.project.Name}
	if watch {
		// The supervisor loads the manifest anew on each change, as this
		// command did: same files (absolute), directory, profiles and env
		// files; it inherits our environment and working directory.
		for _, f := range env.project.ConfigFiles {
			if f == "-" {
				return nil, errors.New("--watch needs manifest files: a manifest from stdin cannot change")
			}
			args = append(args, "--file", f)
		}
		if g.ProjectDirectory != "" {
			args = append(args, "--project-directory", g.ProjectDirectory)
		}
		for _, pr := range g.Profiles {
			args = append(args, "--profile", pr)
		}
		for _, e := range g.EnvFiles {
			args = append(args, "--env-file", e)
		}
	}
	args = append(args, reconciler.SupervisorMarker, "--go-fd", "3")
	if watch {
		args = append(args, "--watch")
	}
	if err := os.MkdirAll(env.store.Dir(), 0o700); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(env.store.Dir(), "supervisor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	defer r.Close()
	c := exec.Command(exe, args...)
	c.Stdout, c.Stderr = logf, logf
	c.ExtraFiles = []*os.File{r}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	sv := &supervisorStart{env: env, pid: c.Process.Pid, goPipe: w, exited: make(chan error, 1)}
	go func() { sv.exited <- c.Wait() }()
	return sv, nil
}

// release lets the supervisor go (the project is saved) and returns once
// it has written its pid file.
func (sv *supervisorStart) release() error {
	_, err := sv.goPipe.Write([]byte{1})
	sv.goPipe.Close()
	sv.goPipe = nil
	logPath := filepath.Join(sv.env.store.Dir(), "supervisor.log")
	if err != nil {
		return fmt.Errorf("start supervisor: %w; see %s", err, logPath)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if sv.env.store.SupervisorPid() == sv.pid {
			return nil
		}
		select {
		case err := <-sv.exited:
			return fmt.Errorf("supervisor exited at start (%v); see %s", err, logPath)
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fmt.Errorf("supervisor did not start; see %s", logPath)
}

// abandon ends a supervisor that will not be needed: it reads end-of-file
// and exits without supervising.
func (sv *supervisorStart) abandon() {
	if sv != nil && sv.goPipe != nil {
		sv.goPipe.Close()
	}
}

// logColors are Compose's prefix colours, cycled per service.
var logColors = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// logPrinter writes container output with `web-1  | ` prefixes.
type logPrinter struct {
	mu         sync.Mutex
	w          io.Writer
	width      int
	color      bool
	noPrefix   bool
	timestamps bool
}

func (lp *logPrinter) prefix(c reconciler.Container) string {
	if lp.noPrefix {
		return ""
	}
	name := c.Service() + "-" + strconv.Itoa(c.Number())
	if c.Oneoff() || c.Service() == "" {
		name = c.Name
	}
	pad := lp.width - len(name)
	if pad < 0 {
		pad = 0
	}
	p := name + strings.Repeat(" ", pad) + "  | "
	if lp.color {
		h := fnv.New32a()
		h.Write([]byte(c.Service()))
		p = "\x1b[" + logColors[h.Sum32()%uint32(len(logColors))] + "m" + p + "\x1b[0m"
	}
	return p
}

func (lp *logPrinter) line(c reconciler.Container, l reconciler.LogLine) {
	text := strings.TrimRight(l.Line, "\n")
	if lp.timestamps {
		text = l.Time.Format(time.RFC3339Nano) + " " + text
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	fmt.Fprintln(lp.w, lp.prefix(c)+text)
}

func (lp *logPrinter) note(c reconciler.Container, msg string) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	fmt.Fprintln(lp.w, lp.prefix(c)+msg)
}

// followContainer streams one container's output across its restarts until
// ctx ends, the container is removed, or over (when set) says that its
// stopped run was its last. first selects the first run's lines (--tail,
// --since); later runs continue where the output left off. A run too
// short to be seen running (a crash loop) is read once it is over, and
// what the last runs wrote is read before the follower ends.
func followContainer(ctx context.Context, env *composeEnv, lp *logPrinter, c reconciler.Container, first reconciler.LogOptions, over func(reconciler.Container) bool) {
	logger, ok := env.deps.Containers.(reconciler.Logger)
	if !ok {
		return
	}
	since, tail := first.Since, first.Tail
	read := func(ctx context.Context, follow bool) {
		logger.Logs(ctx, c.ID, reconciler.LogOptions{Follow: follow, Tail: tail, Since: since}, func(l reconciler.LogLine) error {
			lp.line(c, l)
			since = l.Time.Add(time.Nanosecond)
			return nil
		})
		tail = -1
	}
	started := false
	var lastStart time.Time
	for {
		if ctx.Err() != nil {
			read(context.WithoutCancel(ctx), false)
			return
		}
		cs, err := env.deps.Containers.List(ctx, env.project.Name)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return
		}
		var cur *reconciler.Container
		for i := range cs {
			if cs[i].ID == c.ID {
				cur = &cs[i]
			}
		}
		if cur == nil {
			return
		}
		if !started || !cur.StartedAt.Equal(lastStart) {
			started = true
			lastStart = cur.StartedAt
			read(ctx, cur.Running())
			continue
		}
		if over != nil && !cur.Running() && over(*cur) {
			read(ctx, false)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runForeground is `berth up` without -d: the supervisor runs in this
// process and every service's output is streamed with prefixes. Ctrl-C
// stops the project's containers gracefully, a second one kills them.
//
// Two contexts, as in the reconciler: supCtx is the supervisor's shutdown
// context (cancelled first, so nothing is restarted while stopping); the
// containers are then stopped through StopContainers/KillContainers (the
// kill path).
func runForeground(cmd *cobra.Command, g *globalOptions, env *composeEnv, o *upOptions) error {
	ctx := cmd.Context()
	p := env.project
	out := cmd.OutOrStdout()
	lp := &logPrinter{w: out, color: !o.noColor && isTerminal(out), noPrefix: o.noLogPrefix, timestamps: o.timestamps}
	for _, s := range p.Services {
		n := s.Replicas
		if len(s.Name)+1+len(strconv.Itoa(n)) > lp.width {
			lp.width = len(s.Name) + 1 + len(strconv.Itoa(n))
		}
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "Attaching to", strings.Join(attachNames(ctx, env), ", "))

	supCtx, cancelSup := context.WithCancel(ctx)
	defer cancelSup()
	logCtx, cancelLogs := context.WithCancel(ctx)
	defer cancelLogs()
	exits := make(chan reconciler.ExitEvent, 64)
	sup := &reconciler.Supervisor{Exec: env.exec, Project: p, OnExit: func(ev reconciler.ExitEvent) {
		select {
		case exits <- ev:
		default:
		}
	}}
	if o.watch {
		changes, err := watchFiles(supCtx, p.ConfigFiles)
		if err != nil {
			return err
		}
		sup.Changes = changes
		sup.Reload = func(ctx context.Context) (*spec.Project, error) { return g.loadProject(ctx, nil) }
	}
	supDone := make(chan struct{})
	go func() {
		defer close(supDone)
		if err := sup.Run(supCtx); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "berth: supervisor:", err)
		}
	}()

	followed := map[string]bool{}
	var wg sync.WaitGroup
	attachNew := func() []reconciler.Container {
		cs, _ := env.containers(ctx)
		var mine []reconciler.Container
		for _, c := range cs {
			if c.Oneoff() {
				continue
			}
			if _, ok := sup.Project.Service(c.Service()); !ok {
				continue
			}
			mine = append(mine, c)
			if !followed[c.ID] {
				followed[c.ID] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					followContainer(logCtx, env, lp, c, reconciler.LogOptions{Tail: -1}, nil)
				}()
			}
		}
		return mine
	}
	attachNew()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	stopAll := func(kill bool) error {
		cancelSup()
		<-supDone
		cs, err := env.containers(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		cs = reconciler.Select(cs, nil, false)
		env.exec.Progress = newProgress(cmd.ErrOrStderr(), "Stopping", false).event
		if kill {
			return env.exec.KillContainers(context.WithoutCancel(ctx), cs, "")
		}
		return env.exec.StopContainers(context.WithoutCancel(ctx), p, cs, durationFlag(o.timeout))
	}
	finish := func(code int, err error) error {
		cancelLogs()
		wg.Wait()
		if err != nil {
			return err
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	}

	// The exits the supervisor gave up restarting (by container ID):
	// those containers are done although their policy restarts them.
	gaveUp := map[string]time.Time{}
	givenUp := func(c reconciler.Container) bool {
		t, ok := gaveUp[c.ID]
		return ok && t.Equal(c.FinishedAt)
	}
	exitCode := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	stopping := false
	stopErr := make(chan error, 1)
	for {
		select {
		case <-sigs:
			if !stopping {
				stopping = true
				fmt.Fprintln(cmd.ErrOrStderr(), "Gracefully stopping... (press Ctrl+C again to force)")
				go func() { stopErr <- stopAll(false) }()
				continue
			}
			cs, _ := env.containers(context.WithoutCancel(ctx))
			env.exec.KillContainers(context.WithoutCancel(ctx), reconciler.Select(cs, nil, false), "")
		case err := <-stopErr:
			return finish(130, err)
		case ev := <-exits:
			msg := fmt.Sprintf("exited with code %d", ev.Code)
			if ev.Decision == reconciler.Restart {
				msg += fmt.Sprintf(" (restarting in %s)", ev.Delay)
			}
			lp.note(ev.Container, msg)
			if ev.Decision == reconciler.GiveUp {
				gaveUp[ev.Container.ID] = ev.Container.FinishedAt
			}
			if o.abortOnExit && !stopping && (o.exitCodeFrom == "" || o.exitCodeFrom == ev.Service) {
				stopping = true
				exitCode = ev.Code
				fmt.Fprintln(cmd.ErrOrStderr(), "Aborting on container exit...")
				err := stopAll(false)
				return finish(exitCode, err)
			}
		case <-tick.C:
			if stopping {
				continue
			}
			before := sup.Activity()
			cs := attachNew()
			if before%2 == 0 && sup.Activity() == before && allDone(sup.Project, cs, givenUp) {
				cancelSup()
				<-supDone
				if o.exitCodeFrom != "" {
					for _, c := range cs {
						if c.Service() == o.exitCodeFrom {
							exitCode = c.ExitCode
						}
					}
				}
				return finish(exitCode, nil)
			}
		case <-ctx.Done():
			return finish(1, ctx.Err())
		}
	}
}

// allDone reports whether every container has exited for good (none
// running, and none that its policy will restart but for those whose
// restarts the supervisor gave up, on-failure:N), which ends a foreground
// up as Compose's does.
func allDone(p *spec.Project, cs []reconciler.Container, gaveUp func(reconciler.Container) bool) bool {
	for _, c := range cs {
		if c.Running() || c.Status == "created" || (willRestart(p, c) && !gaveUp(c)) {
			return false
		}
	}
	return true
}

// willRestart reports whether the restart policy of c's service restarts
// it after the exit it shows (backoff and retry limits aside).
func willRestart(p *spec.Project, c reconciler.Container) bool {
	s, ok := p.Service(c.Service())
	if !ok {
		return false
	}
	switch s.Restart.Name {
	case spec.RestartAlways, spec.RestartUnlessStopped:
		return true
	case spec.RestartOnFailure:
		return c.ExitCode != 0
	}
	return false
}

func attachNames(ctx context.Context, env *composeEnv) []string {
	cs, _ := env.containers(ctx)
	var out []string
	for _, c := range reconciler.Select(cs, nil, false) {
		out = append(out, c.Name)
	}
	return out
}

// watchFiles signals (coalesced) when one of files changes. Editors
// replace files by rename, so the directories are watched.
func watchFiles(ctx context.Context, files []string) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		if f == "-" {
			continue
		}
		abs, _ := filepath.Abs(f)
		want[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
	}
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-w.Events:
				if want[ev.Name] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			case <-w.Errors:
			}
		}
	}()
	return out, nil
}
