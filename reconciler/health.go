package reconciler

import (
	"time"

	"github.com/berth-dev/berth/spec"
)

// Health statuses, as Docker names them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Docker's healthcheck defaults.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
	healthLogSize              = 5
	healthOutputMax            = 4096
)

// HealthConfig is a resolved healthcheck: the manifest's over the image's,
// defaults filled in.
type HealthConfig struct {
	Test          []string // CMD args..., or CMD-SHELL command
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// ResolveHealthcheck merges the manifest's healthcheck over the image's
// (either may be nil) and returns nil when there is none (no test, NONE, or
// disable: true). As Docker does, each unset field of the manifest's takes
// the image's value, then the default.
func ResolveHealthcheck(svc, img *spec.Healthcheck) *HealthConfig {
	if svc != nil && svc.Disable {
		return nil
	}
	var h spec.Healthcheck
	if img != nil {
		h = *img
	}
	if svc != nil {
		if len(svc.Test) > 0 {
			h.Test = svc.Test
		}
		if svc.Interval != 0 {
			h.Interval = svc.Interval
		}
		if svc.Timeout != 0 {
			h.Timeout = svc.Timeout
		}
		if svc.StartPeriod != 0 {
			h.StartPeriod = svc.StartPeriod
		}
		if svc.StartInterval != 0 {
			h.StartInterval = svc.StartInterval
		}
		if svc.Retries != 0 {
			h.Retries = svc.Retries
		}
	}
	if len(h.Test) == 0 || h.Test[0] == spec.HealthNone {
		return nil
	}
	if h.Test[0] != spec.HealthCmd && h.Test[0] != spec.HealthCmdShell {
		// A bare command list as some images write it: CMD.
		h.Test = append([]string{spec.HealthCmd}, h.Test...)
	}
	if len(h.Test) < 2 {
		return nil
	}
	c := &HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	if c.Interval <= 0 {
		c.Interval = DefaultHealthInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHealthTimeout
	}
	if c.StartInterval <= 0 {
		c.StartInterval = DefaultHealthStartInterval
	}
	if c.Retries <= 0 {
		c.Retries = DefaultHealthRetries
	}
	return c
}

// Args is the command to exec for one probe.
func (c *HealthConfig) Args() []string {
	if c.Test[0] == spec.HealthCmdShell {
		return []string{"/bin/sh", "-c", c.Test[1]}
	}
	return append([]string(nil), c.Test[1:]...)
}

// HealthResult is one probe's outcome.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// HealthStatus is what ps and inspect show, persisted per container.
type HealthStatus struct {
	Status        string         `json:"Status"`
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"`
	// ContainerStarted is the start time of the container run this status
	// belongs to; a status from an earlier run is stale.
	ContainerStarted time.Time `json:"ContainerStarted"`
}

// HealthState is the pure state machine of one container run's health:
//
//	            success                         success
//	starting ─────────▶ healthy ◀─────────────────────────┐
//	   │                   │ failures ≥ retries            │
//	   │ failures ≥ retries│ (after start period)          │
//	   └───(after start───▶ unhealthy ─────────────────────┘
//	        period)
//
// Failures during the start period do not count, as in Docker; a success
// during it ends it.
type HealthState struct {
	cfg     HealthConfig
	started time.Time
	status  HealthStatus
	// healthyOnce is set at the first success; the start period then ends.
	healthyOnce bool
}

// NewHealthState starts the machine for a container run started at started.
func NewHealthState(cfg HealthConfig, started time.Time) *HealthState {
	return &HealthState{cfg: cfg, started: started, status: HealthStatus{Status: HealthStarting, ContainerStarted: started}}
}

// Resume continues from a persisted status of the same container run.
func (h *HealthState) Resume(st HealthStatus) {
	if !st.ContainerStarted.Equal(h.started) {
		return
	}
	h.status = st
	h.healthyOnce = st.Status == HealthHealthy || st.Status == HealthUnhealthy
}

// Status returns a copy of the current status.
func (h *HealthState) Status() HealthStatus {
	s := h.status
	s.Log = append([]HealthResult(nil), s.Log...)
	return s
}

// inStartPeriod reports whether failures at t are forgiven.
func (h *HealthState) inStartPeriod(t time.Time) bool {
	return !h.healthyOnce && t.Sub(h.started) < h.cfg.StartPeriod
}

// Record feeds one probe result and returns whether the status changed.
func (h *HealthState) Record(r HealthResult) bool {
	if len(r.Output) > healthOutputMax {
		r.Output = r.Output[:healthOutputMax]
	}
	h.status.Log = append(h.status.Log, r)
	if len(h.status.Log) > healthLogSize {
		h.status.Log = h.status.Log[len(h.status.Log)-healthLogSize:]
	}
	before := h.status.Status
	if r.ExitCode == 0 {
		h.healthyOnce = true
		h.status.FailingStreak = 0
		h.status.Status = HealthHealthy
		return before != h.status.Status
	}
	if h.inStartPeriod(r.Start) {
		return false
	}
	h.status.FailingStreak++
	if h.status.FailingStreak >= h.cfg.Retries {
		h.status.Status = HealthUnhealthy
	}
	return before != h.status.Status
}

// NextProbe is how long to wait after a probe ending at now before the
// next one: start_interval while in the start period, interval otherwise.
func (h *HealthState) NextProbe(now time.Time) time.Duration {
	if h.inStartPeriod(now) {
		return h.cfg.StartInterval
	}
	return h.cfg.Interval
}

// FirstProbe is the delay before the first probe after start: Docker waits
// a full interval (start_interval during the start period).
func (h *HealthState) FirstProbe() time.Duration { return h.NextProbe(h.started) }

// Config returns the resolved healthcheck.
func (h *HealthState) Config() HealthConfig { return h.cfg }
