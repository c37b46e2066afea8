package reconciler

import "time"

// Event is one step of progress on one object, for Compose-like output
// (`✔ Container web-1  Started  0.4s`). Working events come before the
// final one (Done) of the same object.
type Event struct {
	Kind   string // "Network", "Volume", "Image", "Container"
	Name   string
	Status string // "Creating", "Created", "Starting", "Started", "Waiting", "Healthy", "Stopping", "Stopped", "Removing", "Removed", "Pulling", "Pulled", "Recreate", "Recreated", "Running", "Exited", "Error"
	Done   bool
	Err    error
	// Elapsed since the object's first event, filled on Done events.
	Elapsed time.Duration
}

// ProgressFunc receives events; it must be safe for concurrent use.
type ProgressFunc func(Event)

// tracker stamps Elapsed on events.
type tracker struct {
	fn    ProgressFunc
	clock Clock
	start time.Time
}

func newTracker(fn ProgressFunc, c Clock) *tracker {
	return &tracker{fn: fn, clock: c, start: c.Now()}
}

func (t *tracker) emit(kind, name, status string) func(done string, err error) {
	if t == nil || t.fn == nil {
		return func(string, error) {}
	}
	start := t.clock.Now()
	t.fn(Event{Kind: kind, Name: name, Status: status})
	return func(done string, err error) {
		ev := Event{Kind: kind, Name: name, Status: done, Done: true, Err: err, Elapsed: t.clock.Now().Sub(start)}
		if err != nil {
			ev.Status = "Error"
		}
		t.fn(ev)
	}
}
