//go:build !linux

package runtime

import (
	"context"
	"syscall"
	"time"
)

// Runtime is Linux-only; elsewhere New fails with ErrNotSupported so that
// packages using the runtime's types still build and test.
type Runtime struct{}

// Process is one process of a container, as Top lists it.
type Process struct {
	Pid, PPid, UID int
	Started        time.Time
	Cmd            string
}

// ExecSpec is a process to run in a running container.
type ExecSpec struct {
	Args           []string
	Env            []string
	User           string
	WorkingDir     string
	Privileged     bool
	Tty            bool
	ConsoleSize    [2]uint16
	Stdin          interface{ Read([]byte) (int, error) }
	Stdout, Stderr interface{ Write([]byte) (int, error) }
	Resize         <-chan [2]uint16
}

// Stdin is a container's stdin obtained by AttachStdin.
type Stdin struct{}

func (s *Stdin) Write(p []byte) (int, error)    { return 0, ErrNotSupported }
func (s *Stdin) Close() error                   { return nil }
func (s *Stdin) Resize(rows, cols uint16) error { return ErrNotSupported }

func New(opts Options) (*Runtime, error) { return nil, ErrNotSupported }

func (r *Runtime) Create(ctx context.Context, spec Spec) (*State, error) { return nil, ErrNotSupported }
func (r *Runtime) Start(ctx context.Context, ref string) error           { return ErrNotSupported }
func (r *Runtime) Wait(ctx context.Context, ref string) (ExitStatus, error) {
	return ExitStatus{}, ErrNotSupported
}
func (r *Runtime) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	return ErrNotSupported
}
func (r *Runtime) Stop(ctx context.Context, ref string, timeout *time.Duration) error {
	return ErrNotSupported
}
func (r *Runtime) Pause(ctx context.Context, ref string) error              { return ErrNotSupported }
func (r *Runtime) Unpause(ctx context.Context, ref string) error            { return ErrNotSupported }
func (r *Runtime) Remove(ctx context.Context, ref string, force bool) error { return ErrNotSupported }
func (r *Runtime) Inspect(ctx context.Context, ref string) (*State, error) {
	return nil, ErrNotSupported
}
func (r *Runtime) List(ctx context.Context, l map[string]string) ([]*State, error) {
	return nil, ErrNotSupported
}
func (r *Runtime) Logs(ctx context.Context, ref string, o LogOptions, fn func(LogEntry) error) error {
	return ErrNotSupported
}
func (r *Runtime) Exec(ctx context.Context, ref string, es ExecSpec) (int, error) {
	return 125, ErrNotSupported
}
func (r *Runtime) AttachStdin(ctx context.Context, ref string) (*Stdin, error) {
	return nil, ErrNotSupported
}
func (r *Runtime) CopyTo(ctx context.Context, ref, src, dst string) error   { return ErrNotSupported }
func (r *Runtime) CopyFrom(ctx context.Context, ref, src, dst string) error { return ErrNotSupported }
func (r *Runtime) Top(ctx context.Context, ref string) ([]Process, error) {
	return nil, ErrNotSupported
}

// ParseSignal is Linux-only.
func ParseSignal(s string) (syscall.Signal, error) { return 0, ErrNotSupported }

func checkUlimits(us []Ulimit) error { return nil }

func reexecMain(role string) {}
