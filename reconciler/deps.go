package reconciler

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// Labels berth puts on every container of a project. They are Docker
// Compose's names, so tools that know Compose's labels understand berth's.
const (
	LabelProject    = "com.docker.compose.project"
	LabelService    = "com.docker.compose.service"
	LabelNumber     = "com.docker.compose.container-number"
	LabelConfigHash = "com.docker.compose.config-hash"
	LabelImage      = "com.docker.compose.image" // image ID (config digest) the container was created from
	LabelOneoff     = "com.docker.compose.oneoff"
	LabelWorkingDir = "com.docker.compose.project.working_dir"
	LabelConfigFile = "com.docker.compose.project.config_files"
	LabelVersion    = "com.docker.compose.version"
	LabelDependsOn  = "com.docker.compose.depends_on"
)

// Sentinel errors; check them with errors.Is. Adapters map the other
// packages' not-found errors onto ErrNotFound.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrLocked          = errors.New("project is locked by another berth command")
	ErrDependency      = errors.New("dependency failed")
	ErrNotSupported    = errors.New("not supported on this platform")
	// ErrInUse marks a volume that a container still mounts.
	ErrInUse = errors.New("in use")
)

// Container is what the reconciler needs to know of one existing container.
type Container struct {
	ID         string
	Name       string
	Labels     map[string]string
	Status     runtime.Status
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	Pid        int
	// Namespaces are /proc/<pid>/ns/<kind> paths while running (for pods).
	Namespaces map[string]string
	Image      string // the reference the container was created from
	Created    time.Time
	// Ports are the published ports (from the sandbox), for ps/port.
	Ports []PublishedPort
}

// Service returns the service label.
func (c *Container) Service() string { return c.Labels[LabelService] }

// Number returns the replica number label, 0 when missing or bad.
func (c *Container) Number() int { return atoiOr0(c.Labels[LabelNumber]) }

// Oneoff reports whether the container was made by `berth run`.
func (c *Container) Oneoff() bool { return c.Labels[LabelOneoff] == "True" }

// Running reports whether the container's process is alive (paused counts).
func (c *Container) Running() bool {
	return c.Status == runtime.StatusRunning || c.Status == runtime.StatusPaused
}

// ExitResult is how a container's process ended.
type ExitResult struct {
	Code       int
	OOMKilled  bool
	FinishedAt time.Time
}

// ExecResult is the outcome of a command run inside a container.
type ExecResult struct {
	ExitCode int
	Output   []byte // stdout and stderr, truncated by the implementation
}

// Containers is the container runtime as the reconciler uses it.
type Containers interface {
	// List returns every container labelled with project (one-off
	// containers included), in any status.
	List(ctx context.Context, project string) ([]Container, error)
	// Create creates (does not start) a container.
	Create(ctx context.Context, s runtime.Spec) (Container, error)
	Start(ctx context.Context, id string) error
	// Stop sends the stop signal and kills after timeout (negative: the
	// container's own stop timeout). Stopping a container that is not
	// running succeeds.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Kill sends signal ("" = SIGKILL).
	Kill(ctx context.Context, id, signal string) error
	// Remove removes a container; force stops it first. Removing a
	// container that does not exist succeeds.
	Remove(ctx context.Context, id string, force bool) error
	// Wait blocks until the container is not running and returns how it
	// ended; it returns at once for a container that is not running.
	Wait(ctx context.Context, id string) (ExitResult, error)
	// Exec runs args in the running container and collects its output;
	// the context bounds its run time.
	Exec(ctx context.Context, id string, args []string) (ExecResult, error)
}

// Inspector is an optional ability of Containers: one container's
// current state (cheaper than List).
type Inspector interface {
	Inspect(ctx context.Context, id string) (Container, error)
}

// Pauser is an optional ability of Containers.
type Pauser interface {
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
}

// Prestarter is an optional ability of Containers: keeping what a start
// needs ready ahead of it (the runtime's spare shim) until ctx ends or
// stop is called. The supervisor keeps one: its starts are restarts, one
// at a time, where every millisecond shows.
type Prestarter interface {
	KeepReady(ctx context.Context) (stop func())
}

// LogLine is one line of a container's output.
type LogLine struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   string
}

// LogOptions select what Logs returns.
type LogOptions struct {
	Follow bool
	Tail   int // -1 = all
	Since  time.Time
}

// Logger is an optional ability of Containers: reading a container's log.
type Logger interface {
	Logs(ctx context.Context, id string, o LogOptions, fn func(LogLine) error) error
}

// ImageInfo is what the reconciler needs of an image in the store.
type ImageInfo struct {
	ID          string // config digest; recreate when it changes
	Ref         string
	Volumes     []string // VOLUME paths
	Healthcheck *spec.Healthcheck
	StopSignal  string
	Size        int64
}

// Images is the image store.
type Images interface {
	// Get returns the image ref names, ErrNotFound when it is not present.
	Get(ctx context.Context, ref string) (ImageInfo, error)
	// Pull fetches ref for platform ("" = the host's).
	Pull(ctx context.Context, ref, platform string) (ImageInfo, error)
	// Remove removes an image (down --rmi); a missing image succeeds.
	Remove(ctx context.Context, ref string) error
}

// PublishedPort is one published port as it exists.
type PublishedPort struct {
	HostIP        string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string
}

// Endpoint attaches a container to a network.
type Endpoint struct {
	Network     string // real network name
	Aliases     []string
	IPv4Address string
	MacAddress  string
	Priority    int
}

// SandboxRequest is the network identity of one container (or pod).
type SandboxRequest struct {
	Project    string
	Hostname   string
	Domainname string
	ExtraHosts []spec.HostEntry
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	Endpoints  []Endpoint
	Ports      []spec.PortMapping
}

// Sandbox is the network side of a container: a persistent netns and the
// files bind-mounted on /etc/hosts and /etc/resolv.conf.
type Sandbox struct {
	NetNSPath      string
	HostsPath      string
	ResolvConfPath string
	Ports          []PublishedPort
}

// Networks is netplug as the reconciler uses it.
type Networks interface {
	// EnsureNetwork creates the network (or finds an external one).
	EnsureNetwork(ctx context.Context, project string, n spec.Network) error
	// RemoveNetwork removes a network; a missing one succeeds.
	RemoveNetwork(ctx context.Context, name string) error
	// ListNetworks returns the names of the networks labelled with project.
	ListNetworks(ctx context.Context, project string) ([]string, error)
	// EnsureSandbox creates (or returns the existing) sandbox id: netns,
	// endpoints, published ports, hosts and resolv.conf files.
	EnsureSandbox(ctx context.Context, id string, r SandboxRequest) (Sandbox, error)
	// DeleteSandbox removes a sandbox; a missing one succeeds.
	DeleteSandbox(ctx context.Context, id string) error
	// DeleteSandboxes removes sandboxes as DeleteSandbox does each, with
	// what derives from all of them (peers' hosts files, port rules)
	// redone once: down.
	DeleteSandboxes(ctx context.Context, ids []string) error
	// ReleaseNetNS drops the handle of sandbox id's namespace once nothing
	// runs in it, so that the kernel deletes it while down goes on; the
	// sandbox itself goes later (Teardown). A missing one succeeds.
	ReleaseNetNS(ctx context.Context, id string) error
	// Teardown is DeleteSandboxes(sandboxes) and then RemoveNetwork of
	// each of networks, with the kernel's slow deletions overlapped:
	// down. It returns the error of each network that stays, and the
	// sandboxes' error.
	Teardown(ctx context.Context, sandboxes, networks []string) (map[string]error, error)
	// ReleasePorts unpublishes sandbox id's host ports: a stopped container
	// holds none, as with Docker; EnsureSandbox publishes them again. A
	// missing sandbox succeeds.
	ReleasePorts(ctx context.Context, id string) error
	// ListSandboxes returns the ids of the sandboxes made for project.
	ListSandboxes(ctx context.Context, project string) ([]string, error)
}

// MountRequest asks for the mounts of one replica of a service.
type MountRequest struct {
	Project      *spec.Project
	Service      *spec.Service
	Number       int
	ImageVolumes []string
}

// Volumes is the volume manager as the reconciler uses it.
type Volumes interface {
	// EnsureVolume creates a project volume (or checks an external one).
	EnsureVolume(ctx context.Context, project string, v spec.Volume) error
	// ListVolumes returns the names of the volumes labelled with project.
	ListVolumes(ctx context.Context, project string) ([]string, error)
	// Mounts resolves a replica's mounts (volumes, binds, tmpfs, anonymous
	// volumes for the image's VOLUMEs), creating volumes as needed.
	Mounts(ctx context.Context, r MountRequest) ([]runtime.Mount, error)
	// RemoveProjectVolumes removes the project's volumes except keep.
	RemoveProjectVolumes(ctx context.Context, project string, keep []string) ([]string, error)
	// ReleaseAnonymous detaches the project's anonymous volumes from their
	// services (`down` without -v): they stay, labelled with the project,
	// but the next `up` creates fresh ones. It returns the released
	// volumes' new names. A volume still in use is left alone; its error
	// (one per volume, joined with errors.Join) matches ErrInUse.
	ReleaseAnonymous(ctx context.Context, project string) ([]string, error)
}

// Deps bundles what Apply and the Supervisor drive.
type Deps struct {
	Containers Containers
	Images     Images
	Networks   Networks
	Volumes    Volumes
}

// Output is where a command's container output goes (foreground up, run).
type Output struct {
	Stdout io.Writer
	Stderr io.Writer
}
