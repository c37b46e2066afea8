package reconciler

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/spec"
)

func TestRestartTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type exit struct {
		upFor       time.Duration // how long the run lasted
		code        int
		userStopped bool
		want        Decision
		delay       time.Duration
	}
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy spec.RestartPolicy
		exits  []exit
	}{
		{"no", spec.RestartPolicy{Name: spec.RestartNo}, []exit{{0, 1, false, Leave, 0}, {0, 0, false, Leave, 0}}},
		{"empty is no", spec.RestartPolicy{}, []exit{{0, 1, false, Leave, 0}}},
		{"always backs off and caps", spec.RestartPolicy{Name: spec.RestartAlways}, []exit{
			{0, 0, false, Restart, 0},
			{0, 1, false, Restart, 100 * ms},
			{0, 1, false, Restart, 200 * ms},
			{0, 1, false, Restart, 400 * ms},
			{0, 1, false, Restart, 800 * ms},
			{0, 1, false, Restart, 1600 * ms},
			{0, 1, false, Restart, 3200 * ms},
			{0, 1, false, Restart, 6400 * ms},
			{0, 1, false, Restart, 12800 * ms},
			{0, 1, false, Restart, 25600 * ms},
			{0, 1, false, Restart, 30 * time.Second},
			{0, 1, false, Restart, 30 * time.Second},
		}},
		{"reset after 10s up", spec.RestartPolicy{Name: spec.RestartAlways}, []exit{
			{0, 1, false, Restart, 0},
			{0, 1, false, Restart, 100 * ms},
			{0, 1, false, Restart, 200 * ms},
			{10 * time.Second, 1, false, Restart, 0},
			{9 * time.Second, 1, false, Restart, 100 * ms},
		}},
		{"window replaces the reset time", spec.RestartPolicy{Name: spec.RestartAlways, Window: time.Second}, []exit{
			{0, 1, false, Restart, 0},
			{0, 1, false, Restart, 100 * ms},
			{time.Second, 1, false, Restart, 0},
		}},
		{"on-failure", spec.RestartPolicy{Name: spec.RestartOnFailure}, []exit{
			{0, 0, false, Leave, 0},
			{0, 2, false, Restart, 0},
			{0, 137, false, Restart, 100 * ms},
		}},
		{"on-failure:2 gives up", spec.RestartPolicy{Name: spec.RestartOnFailure, MaxRetries: 2}, []exit{
			{0, 1, false, Restart, 0},
			{0, 1, false, Restart, 100 * ms},
			{0, 1, false, GiveUp, 0},
			{20 * time.Second, 1, false, GiveUp, 0}, // max retries count in total, not since reset
		}},
		{"user stop wins", spec.RestartPolicy{Name: spec.RestartAlways}, []exit{{0, 137, true, Leave, 0}}},
		{"unless-stopped", spec.RestartPolicy{Name: spec.RestartUnlessStopped}, []exit{{0, 0, false, Restart, 0}, {0, 0, true, Leave, 0}}},
		{"fixed delay", spec.RestartPolicy{Name: spec.RestartAlways, Delay: 5 * time.Second}, []exit{{0, 1, false, Restart, 5 * time.Second}, {0, 1, false, Restart, 5 * time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewRestartTracker(tt.policy)
			now := t0
			for i, e := range tt.exits {
				tr.Started(now)
				now = now.Add(e.upFor)
				d, delay := tr.Exited(e.code, e.userStopped, now)
				if d != e.want || delay != e.delay {
					t.Fatalf("exit %d: got %s after %s, want %s after %s", i, d, delay, e.want, e.delay)
				}
				now = now.Add(delay)
			}
		})
	}
}
