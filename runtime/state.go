package runtime

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is a container's place in its lifecycle:
//
//	        Create            Start              (process exits / Kill / Stop)
//	(none) ───────▶ created ────────▶ running ─────────────────────────────▶ exited
//	                   ▲                │  ▲                                  │
//	                   │        Pause   ▼  │ Unpause                          │ Start (restart:
//	                   │              paused                                  │ same upper dir,
//	                   └── failed Start (command not found ...)               │ same netns path)
//	                                                       running ◀──────────┘
//	dead: the shim vanished and the state could not be repaired; only Remove is allowed.
//	Remove is allowed in created, exited and dead (and in any status with force).
type Status string

const (
	StatusCreated Status = "created"
	StatusRunning Status = "running"
	StatusPaused  Status = "paused"
	StatusExited  Status = "exited"
	StatusDead    Status = "dead"
)

// allowed lists, per operation, the statuses it may start from.
var allowed = map[string][]Status{
	"start":   {StatusCreated, StatusExited},
	"stop":    {StatusRunning, StatusPaused},
	"kill":    {StatusRunning, StatusPaused},
	"pause":   {StatusRunning},
	"unpause": {StatusPaused},
	"exec":    {StatusRunning},
	"remove":  {StatusCreated, StatusExited, StatusDead},
	"top":     {StatusRunning, StatusPaused},
}

// checkTransition returns a *TransitionError unless op is allowed from s.
func checkTransition(id, op string, s Status) error {
	for _, ok := range allowed[op] {
		if ok == s {
			return nil
		}
	}
	return &TransitionError{ID: id, Op: op, Status: s}
}

// stateVersion is the format version of state.json. Bump it on any
// incompatible change and teach loadState to upgrade older versions
// (samples live in testdata/).
const stateVersion = 1

// State is everything known about one container; it is persisted as
// state.json in the container's directory and is what Inspect returns.
type State struct {
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Spec    Spec      `json:"spec"`
	Image   Image     `json:"image"` // resolved at Create; the container keeps these layers

	Status     Status    `json:"status"`
	Pid        int       `json:"pid,omitempty"`       // init's pid (host pid ns)
	PidStart   uint64    `json:"pidStart,omitempty"`  // init's start time, field 22 of /proc/<pid>/stat
	ShimPid    int       `json:"shimPid,omitempty"`   // the shim's pid
	ShimStart  uint64    `json:"shimStart,omitempty"` // the shim's start time
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled"`
	Error      string    `json:"error,omitempty"` // why the last start failed or the container died
	// RestartCount counts starts after the first one.
	RestartCount int `json:"restartCount"`
	// BootID is /proc/sys/kernel/random/boot_id when the container last started.
	BootID string `json:"bootID,omitempty"`

	// Namespaces are the paths of the running container's namespaces
	// (/proc/<pid>/ns/<kind>), for containers that share them (pods,
	// network_mode: container:x). Empty unless running or paused.
	Namespaces map[string]string `json:"namespaces,omitempty"`
	// CgroupPath is the container's cgroup path, relative to each hierarchy.
	CgroupPath string `json:"cgroupPath"`
	// Dir is the container's state directory; LogPath its current log file.
	Dir     string `json:"dir"`
	LogPath string `json:"logPath"`
}

// ExitStatus is how a container's process ended.
type ExitStatus struct {
	Code       int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled"`
	FinishedAt time.Time `json:"finishedAt"`
	Error      string    `json:"error,omitempty"`
}

// Image is the image a container was created from, as the runtime needs it.
type Image struct {
	Ref       string      `json:"ref"`
	ID        string      `json:"id"`
	LowerDirs []string    `json:"lowerDirs"` // unpacked layer dirs, top first
	Config    ImageConfig `json:"config"`
}

// ImageConfig is the part of an image's config the runtime applies.
type ImageConfig struct {
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	User       string            `json:"user,omitempty"`
	StopSignal string            `json:"stopSignal,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// exitFile is where a shim records how its run ended (exitRecord).
const exitFile = "exit.json"

// exitRecord is how one run of a container ended, written by its shim to
// exitFile; every read of the state folds it in (applyExit). Writing it
// takes no lock, no read of state.json and no fsync, which keeps all of
// that off the path between an exit and its waiter. It is named by the
// shim's pid and start time, so a record of an earlier run never applies
// to a later one. A crash may lose it or leave it empty: that run then
// reads as ended by the reboot, as every run does after one.
type exitRecord struct {
	ShimPid    int       `json:"shimPid"`
	ShimStart  uint64    `json:"shimStart"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled"`
	FinishedAt time.Time `json:"finishedAt"`
}

// applyExit folds rec into s when rec ends the run that s shows as
// running or paused, and reports whether it did.
func (s *State) applyExit(rec exitRecord) bool {
	if s.Status != StatusRunning && s.Status != StatusPaused {
		return false
	}
	if rec.ShimPid == 0 || rec.ShimPid != s.ShimPid || rec.ShimStart != s.ShimStart {
		return false
	}
	s.Status = StatusExited
	s.ExitCode, s.OOMKilled, s.FinishedAt = rec.ExitCode, rec.OOMKilled, rec.FinishedAt
	s.Pid, s.PidStart, s.ShimPid, s.ShimStart = 0, 0, 0, 0
	s.Namespaces = nil
	return true
}

func marshalState(s *State) ([]byte, error) {
	s.Version = stateVersion
	return json.MarshalIndent(s, "", "  ")
}

func unmarshalState(data []byte) (*State, error) {
	var s State
	err := json.Unmarshal(data, &s)
	if err == nil && s.Version == stateVersion {
		return &s, nil
	}
	// Another version may not even decode as this one: say which it is.
	var probe struct {
		Version int `json:"version"`
	}
	if perr := json.Unmarshal(data, &probe); perr != nil {
		return nil, fmt.Errorf("decode state: %w", perr)
	}
	if probe.Version != stateVersion {
		return nil, fmt.Errorf("decode state: unsupported version %d (this berth knows %d)", probe.Version, stateVersion)
	}
	return nil, fmt.Errorf("decode state: %w", err)
}
