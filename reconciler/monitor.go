package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Monitor runs the healthchecks of a project's containers by exec into
// them, and persists each status in the Store so that ps and inspect show
// it. Safe for concurrent use.
type Monitor struct {
	containers Containers
	store      *Store // may be nil (tests)
	clock      Clock
	log        *slog.Logger
	// onChange, when set, is called after a status change (the supervisor
	// enqueues a reconcile). Called without mu held.
	onChange func(name string, st HealthStatus)

	mu      sync.Mutex
	watches map[string]*watch // by container ID; guarded by mu
	loops   sync.WaitGroup    // probe goroutines, waited for by Close
}

type watch struct {
	name    string
	started time.Time
	cancel  context.CancelFunc
	// The fields below are guarded by Monitor.mu.
	state   *HealthState
	ended   error         // set when probing stopped (container gone)
	changed chan struct{} // closed and replaced on every status change
}

// NewMonitor makes a Monitor.
func NewMonitor(c Containers, store *Store, clock Clock, log *slog.Logger) *Monitor {
	if clock == nil {
		clock = RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{containers: c, store: store, clock: clock, log: log, watches: map[string]*watch{}}
}

// Watch starts probing c (a running container) with cfg until ctx is
// done, the container stops, or Unwatch. Watching the same run of a
// container again does nothing; a new run (a restart) starts afresh.
func (m *Monitor) Watch(ctx context.Context, c Container, cfg HealthConfig) {
	started := c.StartedAt
	if started.IsZero() {
		started = m.clock.Now()
	}
	m.mu.Lock()
	if w, ok := m.watches[c.ID]; ok {
		if w.started.Equal(started) && w.ended == nil {
			m.mu.Unlock()
			return
		}
		w.cancel()
		if w.ended == nil {
			w.ended = errors.New("restarted")
		}
		w.notify()
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{name: c.Name, started: started, cancel: cancel, state: NewHealthState(cfg, started), changed: make(chan struct{})}
	if m.store != nil {
		if st, err := m.store.Health(c.Name); err == nil {
			w.state.Resume(st)
		}
	}
	m.watches[c.ID] = w
	st := w.state.Status()
	m.mu.Unlock()
	m.save(w.name, st)
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		m.probeLoop(ctx, c.ID, w)
	}()
}

// Unwatch stops probing container id.
func (m *Monitor) Unwatch(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.watches[id]; ok {
		w.cancel()
		delete(m.watches, id)
		if w.ended == nil {
			w.ended = errors.New("no longer watched")
		}
		w.notify()
	}
}

// Close stops every probe and waits for them to end.
func (m *Monitor) Close() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.watches))
	for id := range m.watches {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		m.Unwatch(id)
	}
	m.loops.Wait()
}

// Status returns the health of container id; ok is false when it is not
// watched.
func (m *Monitor) Status(id string) (HealthStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.watches[id]
	if !ok {
		return HealthStatus{}, false
	}
	return w.state.Status(), true
}

// WaitHealthy blocks until container id is healthy. It fails when the
// container becomes unhealthy, stops being probed (it exited) or is not
// watched at all (no healthcheck).
func (m *Monitor) WaitHealthy(ctx context.Context, id, name string) error {
	for {
		m.mu.Lock()
		w, ok := m.watches[id]
		if !ok {
			m.mu.Unlock()
			return fmt.Errorf("container %s has no healthcheck configured", name)
		}
		st := w.state.Status()
		ended := w.ended
		ch := w.changed
		m.mu.Unlock()
		switch {
		case st.Status == HealthHealthy:
			return nil
		case st.Status == HealthUnhealthy:
			return fmt.Errorf("container %s is unhealthy", name)
		case ended != nil:
			return fmt.Errorf("container %s: %w", name, ended)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for container %s to be healthy: %w", name, ctx.Err())
		}
	}
}

func (m *Monitor) probeLoop(ctx context.Context, id string, w *watch) {
	m.mu.Lock()
	delay := w.state.FirstProbe()
	m.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(delay):
		}
		m.mu.Lock()
		cfg := w.state.Config()
		m.mu.Unlock()
		res, err := m.probe(ctx, id, cfg)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The container is gone or stopped: probing ends with it.
			m.mu.Lock()
			if w.ended == nil {
				w.ended = errors.New("stopped while waiting to be healthy")
				w.notify()
			}
			m.mu.Unlock()
			m.log.Debug("healthcheck ends", "container", w.name, "err", err)
			return
		}
		m.mu.Lock()
		if w.ended != nil {
			m.mu.Unlock()
			return
		}
		changed := w.state.Record(res)
		st := w.state.Status()
		delay = w.state.NextProbe(res.End)
		m.mu.Unlock()
		// Persist before waking waiters, so that what they act on is
		// what ps shows.
		m.save(w.name, st)
		if changed {
			m.mu.Lock()
			if w.ended == nil {
				w.notify()
			}
			m.mu.Unlock()
			m.log.Info("health changed", "container", w.name, "status", st.Status)
			if m.onChange != nil {
				m.onChange(w.name, st)
			}
		}
	}
}

// notify wakes the waiters of w; m.mu must be held.
func (w *watch) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// probe runs one healthcheck. A timeout is a failed probe (exit -1), as in
// Docker; other errors mean the container cannot be probed any more.
func (m *Monitor) probe(ctx context.Context, id string, cfg HealthConfig) (HealthResult, error) {
	start := m.clock.Now()
	pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r, err := m.containers.Exec(pctx, id, cfg.Args())
	end := m.clock.Now()
	if err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			return HealthResult{Start: start, End: end, ExitCode: -1, Output: fmt.Sprintf("Health check exceeded timeout (%s)", cfg.Timeout)}, nil
		}
		return HealthResult{}, err
	}
	return HealthResult{Start: start, End: end, ExitCode: r.ExitCode, Output: string(r.Output)}, nil
}

func (m *Monitor) save(name string, st HealthStatus) {
	if m.store == nil {
		return
	}
	if err := m.store.SaveHealth(name, st); err != nil {
		m.log.Info("could not save health", "container", name, "err", err)
	}
}
