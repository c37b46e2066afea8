package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// ExitEvent reports that a supervised container exited and what the
// supervisor decided.
type ExitEvent struct {
	Container Container
	Service   string
	Code      int
	Decision  Decision
	Delay     time.Duration
}

// Supervisor keeps one project converged while it is up: it restarts
// containers per their restart policy (with backoff), runs healthchecks
// and, in watch mode, re-applies the manifest when it changes.
//
// It is level-based: container exits, health changes, file changes and
// timers only enqueue a reconcile (a cap-1 channel, so bursts coalesce);
// each reconcile looks at the whole project again. One goroutine runs the
// reconciles, so they never overlap.
type Supervisor struct {
	Exec    *Executor
	Project *spec.Project
	// OnExit, when set, is told about every exit (foreground up prints
	// them and implements --abort-on-container-exit). Called from the
	// reconcile goroutine; it must not block.
	OnExit func(ExitEvent)
	// Reload, when set, returns the manifest anew (watch mode); Changes
	// signals that it may have changed.
	Reload  func(context.Context) (*spec.Project, error)
	Changes <-chan struct{}

	trigger chan struct{}
	// activity counts the starts and ends of the supervisor's changes to
	// the project: odd while one is under way (see Activity).
	activity atomic.Int64
	// The fields below are used only by the reconcile goroutine.
	runs     map[string]*supervised // by container ID
	timerDue time.Time
	// waitersMu guards waiting, which the exit-wait goroutines clear.
	waitersMu sync.Mutex
	waiting   map[string]time.Time // container ID -> StartedAt being waited on
}

// supervised is what the supervisor remembers of one container.
type supervised struct {
	tracker  *RestartTracker
	started  time.Time // StartedAt of the run the tracker knows about
	handled  time.Time // FinishedAt of the last exit decided upon
	decided  bool      // an exit was decided upon (handled is valid)
	decision Decision
	due      time.Time // when a decided restart is due
}

func (s *Supervisor) log() *slog.Logger { return s.Exec.Log }

// Enqueue asks for a reconcile; it never blocks.
func (s *Supervisor) Enqueue() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run supervises until ctx is done. ctx is the shutdown context: when it
// ends, supervision ends and the containers keep running. Stopping the
// containers (kill) is the caller's business: Executor.StopProject.
func (s *Supervisor) Run(ctx context.Context) error {
	s.Exec.init()
	s.trigger = make(chan struct{}, 1)
	s.runs = map[string]*supervised{}
	if s.Exec.Monitor == nil {
		s.Exec.Monitor = NewMonitor(s.Exec.Deps.Containers, s.Exec.Store, s.Exec.Clock, s.Exec.Log)
	}
	s.Exec.Monitor.onChange = func(string, HealthStatus) { s.Enqueue() }
	defer s.Exec.Monitor.Close()
	if p, ok := s.Exec.Deps.Containers.(Prestarter); ok {
		defer p.KeepReady(ctx)()
	}
	if s.Exec.Store != nil {
		// Other commands' changes (a container started by berth start)
		// are runs this supervisor did not start: they nudge it.
		if stop, err := s.Exec.Store.listenNudges(s.Enqueue); err != nil {
			s.log().Info("not listening for other commands' changes", "project", s.Project.Name, "err", err)
		} else {
			defer stop()
		}
	}
	s.Enqueue()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
			if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
				s.log().Info("reconcile failed", "project", s.Project.Name, "err", err)
				s.wakeAfter(ctx, 500*time.Millisecond)
			}
		case <-s.Changes:
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.log().Info("apply changed manifest failed", "project", s.Project.Name, "err", err)
			}
			s.Enqueue()
		}
	}
}

// Activity is a token for "the supervisor is not changing the project
// now, and has not since the last token": it is even when idle, and any
// change in between makes the next one differ. Foreground up uses it so
// that the gap of a recreate (old container gone, new one not yet there)
// never reads as "every container has ended".
func (s *Supervisor) Activity() int64 { return s.activity.Load() }

func (s *Supervisor) busy() func() {
	s.activity.Add(1)
	return func() { s.activity.Add(1) }
}

func (s *Supervisor) reload(ctx context.Context) error {
	if s.Reload == nil {
		return nil
	}
	defer s.busy()()
	p, err := s.Reload(ctx)
	if err != nil {
		return err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	obs, err := Observe(ctx, s.Exec.Deps, p.Name, ObserveOptions{Images: imageRefs(p), Store: s.Exec.Store})
	if err != nil {
		return err
	}
	plan, err := PlanUp(p, obs, PlanOptions{})
	if err != nil {
		return err
	}
	if !plan.Empty() {
		s.log().Info("manifest changed", "project", p.Name, "plan", plan.String())
		if err := s.Exec.Apply(ctx, p, plan, ApplyOptions{}); err != nil {
			return err
		}
	}
	s.Project = p
	if s.Exec.Store != nil {
		return s.Exec.Store.SaveProject(p)
	}
	return nil
}

// lock takes the project lock when there is a store, so that a reconcile
// never interleaves with a berth command on the same project.
func (s *Supervisor) lock(ctx context.Context) (func(), error) {
	if s.Exec.Store == nil {
		return func() {}, nil
	}
	l, err := AcquireLock(ctx, s.Exec.Store)
	if err != nil {
		return nil, err
	}
	return func() { l.Release() }, nil
}

func (s *Supervisor) reconcile(ctx context.Context) error {
	defer s.busy()()
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	cs, err := s.Exec.Deps.Containers.List(ctx, s.Project.Name)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var stopped map[string]bool
	if s.Exec.Store != nil {
		if stopped, err = s.Exec.Store.StoppedByUser(); err != nil {
			return err
		}
	}
	now := s.Exec.Clock.Now()
	seen := map[string]bool{}
	var next time.Time
	for i := range cs {
		c := cs[i]
		svc, ok := s.Project.Service(c.Service())
		if !ok || c.Oneoff() {
			continue
		}
		seen[c.ID] = true
		r := s.runs[c.ID]
		if r == nil {
			r = &supervised{tracker: NewRestartTracker(svc.Restart)}
			s.runs[c.ID] = r
		}
		r.tracker.policy = svc.Restart // a reload may change it
		switch {
		case c.Running():
			if !c.StartedAt.Equal(r.started) {
				r.started = c.StartedAt
				r.tracker.Started(c.StartedAt)
			}
			s.waitExit(ctx, c)
			if c.Status == runtime.StatusRunning {
				s.watchHealth(ctx, svc, c)
			}
		case c.Status == runtime.StatusExited:
			if stopped[c.Name] {
				r.decision = Leave
				continue
			}
			// A new exit (or one found when adopting the project) is
			// decided once; later reconciles only act on the decision.
			if !r.decided || !c.FinishedAt.Equal(r.handled) {
				r.decided, r.handled = true, c.FinishedAt
				d, delay := r.tracker.Exited(c.ExitCode, false, now)
				r.decision, r.due = d, now.Add(delay)
				s.log().Info("container exited", "container", c.Name, "code", c.ExitCode, "decision", d.String(), "delay", delay)
				if s.OnExit != nil {
					s.OnExit(ExitEvent{Container: c, Service: svc.Name, Code: c.ExitCode, Decision: d, Delay: delay})
				}
			}
			if r.decision != Restart {
				continue
			}
			if now.Before(r.due) {
				if next.IsZero() || r.due.Before(next) {
					next = r.due
				}
				continue
			}
			r.decision = Leave
			if err := s.restart(ctx, c); err != nil {
				// A failed start counts as another exit: back off.
				s.log().Info("restart failed", "container", c.Name, "err", err)
				d, delay := r.tracker.Exited(c.ExitCode, false, now)
				r.decision, r.due = d, now.Add(max(delay, BackoffStart))
				if d == Restart && (next.IsZero() || r.due.Before(next)) {
					next = r.due
				}
			}
		}
	}
	for id := range s.runs {
		if !seen[id] {
			delete(s.runs, id)
			s.Exec.Monitor.Unwatch(id)
		}
	}
	if !next.IsZero() {
		s.wakeAt(ctx, next)
	}
	return nil
}

func (s *Supervisor) restart(ctx context.Context, c Container) error {
	if err := s.restartJoined(ctx, c); err != nil {
		return err
	}
	s.log().Info("container restarted", "container", c.Name)
	// The next reconcile sees it running and waits for its exit.
	s.Enqueue()
	return nil
}

// waitExit starts one goroutine per container run that enqueues a
// reconcile when the run ends.
func (s *Supervisor) waitExit(ctx context.Context, c Container) {
	s.waitersMu.Lock()
	defer s.waitersMu.Unlock()
	if t, ok := s.waiting[c.ID]; ok && t.Equal(c.StartedAt) {
		return
	}
	if s.waiting == nil {
		s.waiting = map[string]time.Time{}
	}
	s.waiting[c.ID] = c.StartedAt
	go func() {
		_, err := s.Exec.Deps.Containers.Wait(ctx, c.ID)
		s.waitersMu.Lock()
		if t, ok := s.waiting[c.ID]; ok && t.Equal(c.StartedAt) {
			delete(s.waiting, c.ID)
		}
		s.waitersMu.Unlock()
		if err != nil && ctx.Err() != nil {
			return
		}
		s.Enqueue()
	}()
}

// Watching returns how many container runs the supervisor waits on.
func (s *Supervisor) Watching() int {
	s.waitersMu.Lock()
	defer s.waitersMu.Unlock()
	return len(s.waiting)
}

func (s *Supervisor) watchHealth(ctx context.Context, svc *spec.Service, c Container) {
	if svc.Healthcheck != nil && svc.Healthcheck.Disable {
		return
	}
	img, err := s.Exec.image(ctx, svc.Image)
	if err != nil {
		// An image removed under a running container: no image healthcheck.
		img = ImageInfo{}
	}
	if hc := ResolveHealthcheck(svc.Healthcheck, img.Healthcheck); hc != nil {
		s.Exec.Monitor.Watch(ctx, c, *hc)
	}
}

// wakeAt enqueues a reconcile at t (the earliest pending restart).
func (s *Supervisor) wakeAt(ctx context.Context, t time.Time) {
	if !s.timerDue.IsZero() && !t.Before(s.timerDue) && s.timerDue.After(s.Exec.Clock.Now()) {
		return
	}
	s.timerDue = t
	s.wakeAfter(ctx, t.Sub(s.Exec.Clock.Now()))
}

func (s *Supervisor) wakeAfter(ctx context.Context, d time.Duration) {
	ch := s.Exec.Clock.After(d)
	go func() {
		select {
		case <-ch:
			s.Enqueue()
		case <-ctx.Done():
		}
	}()
}

func imageRefs(p *spec.Project) []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Image)
	}
	return out
}
