package reconciler

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/spec"
)

func TestResolveHealthcheck(t *testing.T) {
	img := &spec.Healthcheck{Test: []string{"CMD", "img-check"}, Interval: 7 * time.Second, Retries: 5}
	tests := []struct {
		name     string
		svc, img *spec.Healthcheck
		want     *HealthConfig
		args     []string
	}{
		{"none at all", nil, nil, nil, nil},
		{"image only", nil, img, &HealthConfig{Test: []string{"CMD", "img-check"}, Interval: 7 * time.Second, Timeout: 30 * time.Second, StartInterval: 5 * time.Second, Retries: 5}, []string{"img-check"}},
		{"manifest timings over image test", &spec.Healthcheck{Interval: time.Second}, img,
			&HealthConfig{Test: []string{"CMD", "img-check"}, Interval: time.Second, Timeout: 30 * time.Second, StartInterval: 5 * time.Second, Retries: 5}, []string{"img-check"}},
		{"shell", &spec.Healthcheck{Test: []string{"CMD-SHELL", "wget -q localhost || exit 1"}, Timeout: 2 * time.Second, StartPeriod: time.Minute, StartInterval: time.Second}, nil,
			&HealthConfig{Test: []string{"CMD-SHELL", "wget -q localhost || exit 1"}, Interval: 30 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Minute, StartInterval: time.Second, Retries: 3},
			[]string{"/bin/sh", "-c", "wget -q localhost || exit 1"}},
		{"disable", &spec.Healthcheck{Disable: true}, img, nil, nil},
		{"NONE in manifest", &spec.Healthcheck{Test: []string{"NONE"}}, img, nil, nil},
		{"NONE in image", nil, &spec.Healthcheck{Test: []string{"NONE"}}, nil, nil},
		{"CMD without args", &spec.Healthcheck{Test: []string{"CMD"}}, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ResolveHealthcheck(tt.svc, tt.img)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got != nil && !reflect.DeepEqual(got.Args(), tt.args) {
				t.Fatalf("args %q, want %q", got.Args(), tt.args)
			}
		})
	}
}

func TestHealthState(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := HealthConfig{Test: []string{"CMD", "x"}, Interval: 10 * time.Second, Timeout: time.Second, StartPeriod: 30 * time.Second, StartInterval: 2 * time.Second, Retries: 2}
	type probe struct {
		at     time.Duration // since start
		code   int
		status string
		next   time.Duration
	}
	tests := []struct {
		name   string
		probes []probe
	}{
		{"failures in start period do not count", []probe{
			{2 * time.Second, 1, HealthStarting, 2 * time.Second},
			{4 * time.Second, 1, HealthStarting, 2 * time.Second},
			{6 * time.Second, 1, HealthStarting, 2 * time.Second},
			{31 * time.Second, 1, HealthStarting, 10 * time.Second},
			{41 * time.Second, 1, HealthUnhealthy, 10 * time.Second},
		}},
		{"success ends start period", []probe{
			{2 * time.Second, 0, HealthHealthy, 10 * time.Second},
			{12 * time.Second, 1, HealthHealthy, 10 * time.Second},
			{22 * time.Second, 1, HealthUnhealthy, 10 * time.Second},
			{32 * time.Second, 0, HealthHealthy, 10 * time.Second},
			{42 * time.Second, 1, HealthHealthy, 10 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHealthState(cfg, t0)
			if h.FirstProbe() != cfg.StartInterval {
				t.Fatalf("first probe after %s", h.FirstProbe())
			}
			for i, p := range tt.probes {
				at := t0.Add(p.at)
				h.Record(HealthResult{Start: at, End: at, ExitCode: p.code})
				st := h.Status()
				if st.Status != p.status {
					t.Fatalf("probe %d: status %s, want %s (streak %d)", i, st.Status, p.status, st.FailingStreak)
				}
				if n := h.NextProbe(at); n != p.next {
					t.Fatalf("probe %d: next %s, want %s", i, n, p.next)
				}
			}
			if n := len(h.Status().Log); n > healthLogSize {
				t.Fatalf("log keeps %d results", n)
			}
		})
	}
}

func TestHealthResumeIgnoresOtherRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := HealthConfig{Test: []string{"CMD", "x"}, Interval: time.Second, Timeout: time.Second, StartInterval: time.Second, Retries: 1}
	h := NewHealthState(cfg, t0)
	h.Resume(HealthStatus{Status: HealthHealthy, ContainerStarted: t0.Add(-time.Hour)})
	if h.Status().Status != HealthStarting {
		t.Fatal("resumed a status of another run")
	}
	h.Resume(HealthStatus{Status: HealthHealthy, ContainerStarted: t0})
	if h.Status().Status != HealthHealthy {
		t.Fatal("did not resume the status of this run")
	}
}
