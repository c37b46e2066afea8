package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
)

// Containers adapts *runtime.Runtime.
type Containers struct{ RT *runtime.Runtime }

var (
	_ reconciler.Containers = Containers{}
	_ reconciler.Pauser     = Containers{}
	_ reconciler.Logger     = Containers{}
	_ reconciler.Inspector  = Containers{}
	_ reconciler.Prestarter = Containers{}
)

func notFound(err error) error {
	if errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, reconciler.ErrNotFound) {
		return fmt.Errorf("%w (%w)", err, reconciler.ErrNotFound)
	}
	return err
}

// FromState converts a runtime state.
func FromState(st *runtime.State) reconciler.Container {
	return reconciler.Container{
		ID: st.ID, Name: st.Name, Labels: st.Spec.Labels, Status: st.Status, ExitCode: st.ExitCode,
		StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, Pid: st.Pid, Namespaces: st.Namespaces,
		Image: st.Spec.Image, Created: st.Created,
	}
}

func (a Containers) List(ctx context.Context, project string) ([]reconciler.Container, error) {
	sts, err := a.RT.List(ctx, map[string]string{reconciler.LabelProject: project})
	if err != nil {
		return nil, err
	}
	out := make([]reconciler.Container, 0, len(sts))
	for _, st := range sts {
		out = append(out, FromState(st))
	}
	return out, nil
}

// KeepReady keeps a spare shim (runtime.KeepSpareShim).
func (a Containers) KeepReady(ctx context.Context) (stop func()) {
	return a.RT.KeepSpareShim(ctx)
}

func (a Containers) Inspect(ctx context.Context, id string) (reconciler.Container, error) {
	st, err := a.RT.Inspect(ctx, id)
	if err != nil {
		return reconciler.Container{}, notFound(err)
	}
	return FromState(st), nil
}

func (a Containers) Create(ctx context.Context, s runtime.Spec) (reconciler.Container, error) {
	st, err := a.RT.Create(ctx, s)
	if err != nil {
		return reconciler.Container{}, notFound(err)
	}
	return FromState(st), nil
}

func (a Containers) Start(ctx context.Context, id string) error { return notFound(a.RT.Start(ctx, id)) }

func (a Containers) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if timeout < 0 {
		return notFound(a.RT.Stop(ctx, id, nil))
	}
	return notFound(a.RT.Stop(ctx, id, &timeout))
}

func (a Containers) Kill(ctx context.Context, id, signal string) error {
	sig := syscall.SIGKILL
	if signal != "" {
		s, err := runtime.ParseSignal(signal)
		if err != nil {
			return err
		}
		sig = s
	}
	return notFound(a.RT.Kill(ctx, id, sig))
}

func (a Containers) Remove(ctx context.Context, id string, force bool) error {
	err := a.RT.Remove(ctx, id, force)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	return err
}

func (a Containers) Wait(ctx context.Context, id string) (reconciler.ExitResult, error) {
	es, err := a.RT.Wait(ctx, id)
	if err != nil {
		return reconciler.ExitResult{}, notFound(err)
	}
	return reconciler.ExitResult{Code: es.Code, OOMKilled: es.OOMKilled, FinishedAt: es.FinishedAt}, nil
}

// execOutputMax bounds what a healthcheck's output keeps (Docker: 4 KiB).
const execOutputMax = 4096

// capped keeps the first execOutputMax bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := execOutputMax - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

func (a Containers) Exec(ctx context.Context, id string, args []string) (reconciler.ExecResult, error) {
	var out capped
	code, err := a.RT.Exec(ctx, id, runtime.ExecSpec{Args: args, Stdout: &out, Stderr: &out})
	var se *runtime.StartError
	if errors.As(err, &se) {
		// Command not found or not executable: a failed probe, not a
		// container that cannot be probed.
		return reconciler.ExecResult{ExitCode: se.ExitCode, Output: []byte(se.Msg)}, nil
	}
	if err != nil {
		return reconciler.ExecResult{}, notFound(err)
	}
	return reconciler.ExecResult{ExitCode: code, Output: out.buf.Bytes()}, nil
}

func (a Containers) Pause(ctx context.Context, id string) error { return notFound(a.RT.Pause(ctx, id)) }
func (a Containers) Unpause(ctx context.Context, id string) error {
	return notFound(a.RT.Unpause(ctx, id))
}

func (a Containers) Logs(ctx context.Context, id string, o reconciler.LogOptions, fn func(reconciler.LogLine) error) error {
	return notFound(a.RT.Logs(ctx, id, runtime.LogOptions{Follow: o.Follow, Tail: o.Tail, Since: o.Since}, func(e runtime.LogEntry) error {
		return fn(reconciler.LogLine{Stream: e.Stream, Time: e.Time, Line: e.Log})
	}))
}
