package main

// Shared plumbing of the Compose verbs (compose_*.go): opening the
// machine behind the reconciler's interfaces, finding the project, the
// project lock, and selecting containers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/reconciler/machine"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/spec"
)

// composeEnv is everything a Compose verb drives.
type composeEnv struct {
	g       *globalOptions
	project *spec.Project
	rt      *runtime.Runtime
	images  *image.Store
	nets    *netplug.Manager
	deps    reconciler.Deps
	store   *reconciler.Store
	exec    *reconciler.Executor
	log     *slog.Logger
}

// composeOpts say how a verb needs its project.
type composeOpts struct {
	// manifestOptional lets the verb work from the state of the last up
	// (or from labels alone) when no manifest is found and -p names the
	// project: down, ps, logs, stop... must work after the file is gone.
	manifestOptional bool
}

// openCompose loads the project and opens runtime, image store, networks
// and volumes under --root.
func openCompose(cmd *cobra.Command, g *globalOptions, o composeOpts) (*composeEnv, error) {
	ctx := cmd.Context()
	p, err := g.loadProject(ctx, cmd.InOrStdin())
	if err != nil {
		if !o.manifestOptional || g.ProjectName == "" || !noManifest(err) {
			return nil, err
		}
		st, serr := reconciler.OpenStore(g.Root, g.ProjectName)
		if serr != nil {
			return nil, serr
		}
		if p, serr = st.LoadProject(); serr != nil {
			p = &spec.Project{Name: g.ProjectName}
		}
	}
	return openComposeFor(g, p)
}

// noManifest reports whether err says that no manifest was found (as
// opposed to a broken one). spec has no sentinel for it yet.
func noManifest(err error) bool {
	var se *spec.Error
	return errors.As(err, &se) && se.File == "" && strings.HasPrefix(se.Message, "no configuration file provided")
}

func openComposeFor(g *globalOptions, p *spec.Project) (*composeEnv, error) {
	log := g.logger()
	rt, store, err := g.openRuntime()
	if err != nil {
		return nil, err
	}
	nets, err := g.openNetworks()
	if err != nil {
		return nil, err
	}
	vols, err := g.openVolumes()
	if err != nil {
		return nil, err
	}
	st, err := reconciler.OpenStore(g.Root, p.Name)
	if err != nil {
		return nil, err
	}
	deps := reconciler.Deps{
		Containers: machine.Containers{RT: rt},
		Images:     machine.Images{Store: store},
		Networks:   machine.Networks{M: nets},
		Volumes:    reconcilerVolumes{m: vols},
	}
	e := &reconciler.Executor{Deps: deps, Store: st, Log: log}
	return &composeEnv{g: g, project: p, rt: rt, images: store, nets: nets, deps: deps, store: st, exec: e, log: log}, nil
}

// lock takes the project lock for the whole command. Another berth
// command on the project makes this one wait; the wait is announced.
// Holding it, the command first drops the project's up stamps.
func (c *composeEnv) lock(ctx context.Context, errw io.Writer) (*projectLock, error) {
	l, ok, err := reconciler.TryAcquireLock(c.store)
	if err == nil && !ok {
		holder, _ := os.ReadFile(filepath.Join(c.store.Dir(), "lock"))
		fmt.Fprintf(errw, "waiting for another berth command on project %s (pid %s)...\n", c.project.Name, strings.TrimSpace(string(holder)))
		l, err = reconciler.AcquireLock(ctx, c.store)
	}
	if err != nil {
		return nil, err
	}
	c.dropUpStamps()
	return &projectLock{Lock: l, store: c.store}, nil
}

// projectLock is the project lock a command holds. Releasing it nudges the
// project's supervisor, which then sees what the command changed: a
// container that berth start or restart started is a run the supervisor
// did not start, and would neither restart nor healthcheck otherwise.
type projectLock struct {
	*reconciler.Lock
	store *reconciler.Store
	once  sync.Once
}

// Release releases the lock (again: a no-op) and nudges the supervisor
// once.
func (l *projectLock) Release() error {
	err := l.Lock.Release()
	l.once.Do(l.store.NudgeSupervisor)
	return err
}

// containers lists the project's containers, sorted by name.
func (c *composeEnv) containers(ctx context.Context) ([]reconciler.Container, error) {
	cs, err := c.deps.Containers.List(ctx, c.project.Name)
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs, nil
}

// selectServices checks that every name is a service of the project (or,
// without a manifest, of some container) and returns the matching
// containers, one-offs only when oneoff.
func (c *composeEnv) selectServices(ctx context.Context, names []string, oneoff bool) ([]reconciler.Container, error) {
	cs, err := c.containers(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := c.project.Service(n); ok {
			continue
		}
		found := false
		for _, ct := range cs {
			found = found || ct.Service() == n
		}
		if !found {
			return nil, fmt.Errorf("no such service: %s", n)
		}
	}
	return reconciler.Select(cs, names, oneoff), nil
}

// serviceContainer finds replica index of service (exec, port).
func (c *composeEnv) serviceContainer(ctx context.Context, service string, index int) (reconciler.Container, error) {
	cs, err := c.selectServices(ctx, []string{service}, false)
	if err != nil {
		return reconciler.Container{}, err
	}
	for _, ct := range cs {
		if ct.Number() == index {
			return ct, nil
		}
	}
	return reconciler.Container{}, fmt.Errorf("service %q is not running container #%d", service, index)
}

// health returns the recorded health of a running container, "" if none.
func (c *composeEnv) health(ct reconciler.Container) string {
	if !ct.Running() {
		return ""
	}
	h, err := c.store.Health(ct.Name)
	if err != nil || !h.ContainerStarted.Equal(ct.StartedAt) {
		return "" // none, or left from an earlier run
	}
	return h.Status
}

// composeStatus is Compose's STATUS column: "Up 5 seconds (healthy)".
func composeStatus(ct reconciler.Container, health string, now time.Time) string {
	var s string
	switch ct.Status {
	case runtime.StatusRunning:
		s = "Up " + humanDuration(now.Sub(ct.StartedAt))
	case runtime.StatusPaused:
		s = "Up " + humanDuration(now.Sub(ct.StartedAt)) + " (Paused)"
	case runtime.StatusExited:
		s = fmt.Sprintf("Exited (%d) %s ago", ct.ExitCode, humanDuration(now.Sub(ct.FinishedAt)))
	case runtime.StatusCreated:
		s = "Created"
	default:
		s = string(ct.Status)
	}
	if health != "" && ct.Status == runtime.StatusRunning {
		if health == reconciler.HealthStarting {
			health = "health: starting"
		}
		s += " (" + health + ")"
	}
	return s
}

// composeErr maps an error to an exit code: a failed start gets the
// process's (126, 127), everything else 1 as Compose does.
func composeErr(err error) error {
	if err == nil {
		return nil
	}
	var se *runtime.StartError
	if errors.As(err, &se) {
		return &exitError{code: se.ExitCode, err: err}
	}
	return err
}

// durationFlag parses a -t/--timeout in seconds; negative means unset.
func durationFlag(seconds int) *time.Duration {
	if seconds < 0 {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

var errInvalidRmi = errors.New(`--rmi: want "local" or "all"`)

// machineNetworks is the netplug adapter, for ports.
func machineNetworks(env *composeEnv) machine.Networks { return machine.Networks{M: env.nets} }
