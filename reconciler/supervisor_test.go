package reconciler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/spec"
)

// runSupervisor starts a supervisor of p over e in the background; the
// returned func shuts it down (containers keep running) and waits.
func runSupervisor(t *testing.T, e *Executor, p *spec.Project) (*Supervisor, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{Exec: e, Project: p}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return s, func() { cancel(); <-done }
}

// superviseWeb brings up project demo with one service, web (restart:
// always), and a supervisor that watches it; stop shuts the supervisor
// down.
func superviseWeb(t *testing.T) (w *world, e *Executor, p *spec.Project, s *Supervisor, stop func()) {
	t.Helper()
	w = newWorld("busybox:latest")
	e = w.executor(t, "demo")
	p = project(svc("web", restart(spec.RestartAlways, 0)))
	up(t, e, p, PlanOptions{})
	s, stop = runSupervisor(t, e, p)
	eventually(t, "supervisor to watch web", func() bool { return s.Watching() == 1 })
	return w, e, p, s, stop
}

// The supervisor keeps the runtime ready for restarts (a spare shim)
// while it runs, and lets go of it when it ends.
func TestSupervisorKeepsReady(t *testing.T) {
	w, _, _, _, stop := superviseWeb(t)
	counts := func() (int, int) {
		w.rt.mu.Lock()
		defer w.rt.mu.Unlock()
		return w.rt.kept, w.rt.stops
	}
	if kept, stops := counts(); kept != 1 || stops != 0 {
		t.Errorf("while supervising: KeepReady called %d times, stopped %d, want 1 and 0", kept, stops)
	}
	stop()
	if kept, stops := counts(); kept != 1 || stops != 1 {
		t.Errorf("after the supervisor ended: KeepReady called %d times, stopped %d, want 1 and 1", kept, stops)
	}
}

// A container that another command starts (berth start after berth stop)
// is a run the supervisor did not start: the nudge that command sends
// makes the supervisor watch it and restart it per its policy.
func TestSupervisorNudged(t *testing.T) {
	w, e, p, s, _ := superviseWeb(t)
	ctx := context.Background()
	list := func() []Container {
		cs, err := w.rt.List(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if err := e.StopContainers(ctx, p, list(), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stopped run no longer watched", func() bool { return s.Watching() == 0 })
	eventually(t, "the supervisor done with the stop", func() bool {
		a := s.Activity()
		time.Sleep(20 * time.Millisecond)
		return a%2 == 0 && a == s.Activity()
	})
	if err := e.StartContainers(ctx, p, list()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if s.Watching() != 0 {
		t.Fatal("the supervisor watches a run nobody told it of: the test shows nothing")
	}
	e.Store.NudgeSupervisor()
	eventually(t, "the nudged supervisor to watch the new run", func() bool { return s.Watching() == 1 })
	before := w.rt.starts("demo-web-1")
	w.rt.exit("demo-web-1", 1)
	eventually(t, "the crashed run restarted", func() bool {
		c, _ := w.rt.get("demo-web-1")
		return w.rt.starts("demo-web-1") == before+1 && c.Running()
	})
}

func TestSupervisorBackoff(t *testing.T) {
	w, _, _, s, _ := superviseWeb(t)
	starts := func() int { return w.rt.starts("demo-web-1") }
	running := func() bool { c, _ := w.rt.get("demo-web-1"); return c.Running() }

	// First crash: restarted at once.
	w.rt.exit("demo-web-1", 1)
	eventually(t, "immediate restart", func() bool { return starts() == 2 && running() })

	// Then 100 ms, 200 ms, 400 ms: not before, but right at the delay.
	for i, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		want := 3 + i
		eventually(t, "watching the new run", func() bool { return s.Watching() == 1 })
		w.rt.exit("demo-web-1", 1)
		eventually(t, "restart timer", func() bool { return w.clock.Pending() > 0 })
		w.clock.Advance(d - time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		if starts() != want-1 {
			t.Fatalf("restart %d came before its %s delay", want-1, d)
		}
		w.clock.Advance(time.Millisecond)
		eventually(t, "restart after "+d.String(), func() bool { return starts() == want && running() })
	}

	// After 10 s up, the backoff resets: the next crash restarts at once.
	w.clock.Advance(BackoffReset + time.Millisecond)
	eventually(t, "watching the new run", func() bool { return s.Watching() == 1 })
	w.rt.exit("demo-web-1", 1)
	eventually(t, "restart after reset", func() bool { return starts() == 6 && running() })
}

func TestSupervisorPolicies(t *testing.T) {
	tests := []struct {
		name        string
		policy      spec.RestartPolicy
		code        int
		userStopped bool
		restarted   bool
	}{
		{"no", spec.RestartPolicy{Name: spec.RestartNo}, 1, false, false},
		{"always", spec.RestartPolicy{Name: spec.RestartAlways}, 0, false, true},
		{"on-failure success", spec.RestartPolicy{Name: spec.RestartOnFailure}, 0, false, false},
		{"on-failure failure", spec.RestartPolicy{Name: spec.RestartOnFailure}, 2, false, true},
		{"unless-stopped user stop", spec.RestartPolicy{Name: spec.RestartUnlessStopped}, 137, true, false},
		{"always user stop", spec.RestartPolicy{Name: spec.RestartAlways}, 137, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld("busybox:latest")
			e := w.executor(t, "demo")
			p := project(svc("web", func(s *spec.Service) { s.Restart = tt.policy }))
			up(t, e, p, PlanOptions{})
			exited := make(chan ExitEvent, 4)
			ctx, cancel := context.WithCancel(context.Background())
			s := &Supervisor{Exec: e, Project: p, OnExit: func(ev ExitEvent) { exited <- ev }}
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			eventually(t, "watch", func() bool { return s.Watching() == 1 })
			if tt.userStopped {
				c, _ := w.rt.get("demo-web-1")
				if err := e.StopContainers(context.Background(), p, []Container{c}, nil); err != nil {
					t.Fatal(err)
				}
				s.Enqueue()
				time.Sleep(30 * time.Millisecond)
			} else {
				w.rt.exit("demo-web-1", tt.code)
				select {
				case ev := <-exited:
					if ev.Code != tt.code || (ev.Decision == Restart) != tt.restarted {
						t.Fatalf("event %+v", ev)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no exit event")
				}
			}
			if tt.restarted {
				eventually(t, "restart", func() bool { return w.rt.starts("demo-web-1") == 2 })
			} else {
				time.Sleep(30 * time.Millisecond)
				if n := w.rt.starts("demo-web-1"); n != 1 {
					t.Fatalf("restarted (%d starts)", n)
				}
			}
		})
	}
}

func TestSupervisorGivesUp(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("web", restart(spec.RestartOnFailure, 1)))
	up(t, e, p, PlanOptions{})
	events := make(chan ExitEvent, 4)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{Exec: e, Project: p, OnExit: func(ev ExitEvent) { events <- ev }}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, want := range []Decision{Restart, GiveUp} {
		eventually(t, "watch", func() bool { return s.Watching() == 1 })
		w.rt.exit("demo-web-1", 1)
		ev := <-events
		if ev.Decision != want {
			t.Fatalf("exit %d: %s, want %s", i, ev.Decision, want)
		}
	}
	if n := w.rt.starts("demo-web-1"); n != 2 {
		t.Fatalf("%d starts", n)
	}
}

// A supervisor that is shut down (or killed) leaves containers running;
// the next up adopts them without recreating, and a new supervisor
// restarts them per policy.
func TestSupervisorShutdownAndAdoption(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("web", restart(spec.RestartAlways, 0)), svc("db", restart(spec.RestartAlways, 0)))
	up(t, e, p, PlanOptions{})
	before := ids(t, w)
	_, shutdown := runSupervisor(t, e, p)
	time.Sleep(10 * time.Millisecond)
	shutdown()
	for name := range before {
		if c, _ := w.rt.get(name); !c.Running() {
			t.Fatalf("%s stopped by a supervisor shutdown", name)
		}
	}
	// A container crashed while nobody supervised it.
	w.rt.exit("demo-db-1", 1)

	// The next up: plan is "start db" only (not recreate), IDs unchanged.
	e2 := &Executor{Deps: w.deps(), Store: e.Store, Clock: w.clock, Log: e.Log}
	e2.Monitor = NewMonitor(w.rt, e.Store, w.clock, e.Log)
	defer e2.Monitor.Close()
	pl := plan(t, e2, p, PlanOptions{})
	if got := pl.String(); got != "service db:\n  start container demo-db-1: exited\n" {
		t.Fatalf("adoption plan:\n%s", got)
	}
	// Even without that up, a new supervisor restarts it (always).
	runSupervisor(t, e2, p)
	eventually(t, "adopted restart", func() bool { c, _ := w.rt.get("demo-db-1"); return c.Running() })
	if after := ids(t, w); len(after) != 2 || after["demo-web-1"] != before["demo-web-1"] || after["demo-db-1"] != before["demo-db-1"] {
		t.Fatalf("ids %v -> %v", before, after)
	}
}

func TestSupervisorHealth(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	e.Monitor = nil // the supervisor makes its own
	p := project(svc("web", healthcheck("CMD-SHELL", "exit 0")))
	var mu sync.Mutex
	var args []string
	w.rt.onExec = func(name string, a []string) (ExecResult, error) {
		mu.Lock()
		defer mu.Unlock()
		args = a
		return ExecResult{}, nil
	}
	up(t, e, p, PlanOptions{})
	runSupervisor(t, e, p)
	eventually(t, "probe scheduled", func() bool { return w.clock.Pending() > 0 })
	w.clock.Advance(5 * time.Second) // start_interval, no start period
	w.clock.Advance(time.Second)
	eventually(t, "healthy", func() bool {
		h, err := e.Store.Health("demo-web-1")
		return err == nil && h.Status == HealthHealthy
	})
	mu.Lock()
	defer mu.Unlock()
	if len(args) != 3 || args[0] != "/bin/sh" || args[2] != "exit 0" {
		t.Fatalf("probe args %q", args)
	}
}
