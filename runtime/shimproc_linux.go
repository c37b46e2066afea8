package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// shimProc is a started shim that waits on its fd 4 for its assignment
// (shimAssignment), then for the cgroup (cgroupReady), and reports the
// start on its fd 3.
type shimProc struct {
	cmd     *exec.Cmd
	result  *os.File // read end of the shim's fd 3
	starter *os.File // write end of the shim's fd 4
	exited  chan struct{}
}

// startShim starts a shim. label ends its command line: the container's
// dir, or the root for a spare (either names this runtime's root, which is
// how a test tells its shims from others).
func (r *Runtime) startShim(label string) (*shimProc, error) {
	rp, wp, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	sr, sw, err := os.Pipe()
	if err != nil {
		rp.Close()
		wp.Close()
		return nil, err
	}
	cmd := exec.Command(r.exe, "berth-shim", label)
	cmd.Env = []string{reexecEnv + "=shim", "PATH=" + defaultPath, "GOMAXPROCS=1", "GOGC=50"}
	cmd.ExtraFiles = []*os.File{wp, sr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	wp.Close()
	sr.Close()
	if err != nil {
		rp.Close()
		sw.Close()
		return nil, fmt.Errorf("start shim: %w", err)
	}
	p := &shimProc{cmd: cmd, result: rp, starter: sw, exited: make(chan struct{})}
	// Reap the shim when it exits, in case this process lives on (the
	// supervisor); if we exit first, the shim is re-parented.
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// assign tells the shim which container it runs.
func (p *shimProc) assign(a shimAssignment) error {
	return json.NewEncoder(p.starter).Encode(a)
}

// retire ends a shim that was never assigned: it reads end-of-file and
// exits (one that does not, stopped or stuck, is killed after a while).
func (p *shimProc) retire() {
	p.starter.Close()
	p.result.Close()
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// spares keeps one shim started ahead of need (KeepSpareShim).
type spares struct {
	mu   sync.Mutex
	ctx  context.Context // nil: none kept
	next *shimProc
	// filling is true while a spare is being started (by a goroutine of
	// wg).
	filling bool
	wg      sync.WaitGroup
}

// KeepSpareShim keeps one shim started ahead of need until ctx ends, and
// hands it to the next Start: that start then skips the shim's Go
// start-up (fork, exec and the runtime's init: ≈ 15 ms here, the largest
// part of a restart). Meant for a long-lived process whose starts come
// one at a time, the supervisor's restarts; the CLI's parallel starts gain
// nothing from one spare. The spare is replaced after each use, in the
// background, once that start is done. stop ends the spare and waits for
// it (so does the end of ctx); an unassigned spare also exits when this
// process dies (its fd 4 reads end-of-file).
func (r *Runtime) KeepSpareShim(ctx context.Context) (stop func()) {
	s := &r.spares
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	r.refillSpare()
	stop = sync.OnceFunc(func() {
		s.mu.Lock()
		s.ctx = nil
		p := s.next
		s.next = nil
		s.mu.Unlock()
		if p != nil {
			p.retire()
		}
		s.wg.Wait()
	})
	context.AfterFunc(ctx, stop)
	return stop
}

// takeSpare returns the spare shim, if one is kept and ready.
func (r *Runtime) takeSpare() *shimProc {
	s := &r.spares
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.next
	s.next = nil
	return p
}

// refillSpare starts a spare in the background when spares are kept and
// there is none.
func (r *Runtime) refillSpare() {
	s := &r.spares
	s.mu.Lock()
	if s.ctx == nil || s.ctx.Err() != nil || s.next != nil || s.filling {
		s.mu.Unlock()
		return
	}
	s.filling = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		p, err := r.startShim(r.root)
		s.mu.Lock()
		s.filling = false
		keep := err == nil && s.ctx != nil && s.ctx.Err() == nil && s.next == nil
		if keep {
			s.next = p
		}
		s.mu.Unlock()
		if err != nil {
			r.log.Info("spare shim", "err", err)
		} else if !keep {
			p.retire()
		}
	}()
}
