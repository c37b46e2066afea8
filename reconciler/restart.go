package reconciler

import (
	"time"

	"github.com/berth-dev/berth/spec"
)

// Backoff values; see the package doc for why these.
const (
	BackoffStart = 100 * time.Millisecond
	BackoffMax   = 30 * time.Second
	BackoffReset = 10 * time.Second
)

// Decision is what to do about a container that exited.
type Decision int

const (
	// Leave it stopped: the policy does not restart it (or the user stopped it).
	Leave Decision = iota
	// Restart it after Delay.
	Restart
	// GiveUp: the policy's retry limit is reached.
	GiveUp
)

func (d Decision) String() string {
	switch d {
	case Restart:
		return "restart"
	case GiveUp:
		return "give up"
	}
	return "leave"
}

// RestartTracker decides, for one container, whether and when to restart
// it after it exits. It is pure: the caller passes the clock's time in, and
// the supervising goroutine only waits and applies. Not safe for
// concurrent use.
type RestartTracker struct {
	policy spec.RestartPolicy
	// restarts counts restarts since the last reset (for the backoff) and
	// attempts counts them in total (for max retries).
	restarts int
	attempts int
	started  time.Time
}

// NewRestartTracker tracks a container under policy.
func NewRestartTracker(p spec.RestartPolicy) *RestartTracker {
	return &RestartTracker{policy: p}
}

// Started records that the container's process started at t.
func (t *RestartTracker) Started(at time.Time) { t.started = at }

// Attempts is how many restarts the tracker has asked for.
func (t *RestartTracker) Attempts() int { return t.attempts }

// Exited decides about an exit with code at time now. userStopped says
// the user stopped it (berth stop/kill/down): never restarted.
func (t *RestartTracker) Exited(code int, userStopped bool, now time.Time) (Decision, time.Duration) {
	if userStopped {
		return Leave, 0
	}
	switch t.policy.Name {
	case spec.RestartAlways, spec.RestartUnlessStopped:
	case spec.RestartOnFailure:
		if code == 0 {
			return Leave, 0
		}
	default: // "no", "" and anything unknown
		return Leave, 0
	}
	reset := BackoffReset
	if t.policy.Window > 0 {
		reset = t.policy.Window
	}
	if !t.started.IsZero() && now.Sub(t.started) >= reset {
		t.restarts = 0
	}
	if t.policy.MaxRetries > 0 && t.attempts >= t.policy.MaxRetries {
		return GiveUp, 0
	}
	delay := t.policy.Delay
	if delay == 0 {
		delay = backoff(t.restarts)
	}
	t.restarts++
	t.attempts++
	return Restart, delay
}

// backoff is the delay before restart number n (0-based) since the last
// reset: 0, 100ms, 200ms, 400ms, ... capped at BackoffMax.
func backoff(n int) time.Duration {
	if n == 0 {
		return 0
	}
	d := BackoffStart
	for i := 1; i < n; i++ {
		d *= 2
		if d >= BackoffMax {
			return BackoffMax
		}
	}
	return d
}
