//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testenv"
)

// ptyWait bounds every wait for output or exit: generous, since a wait
// only lasts that long when something is wrong.
const ptyWait = 60 * time.Second

// ptyBerth is the berth binary running on the slave side of a pty that
// the test owns, as in a terminal: berth is a session leader with the
// slave as its controlling terminal, so it is the foreground process that
// the terminal's size changes (SIGWINCH) reach.
type ptyBerth struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait's, set before exited closes

	mu      sync.Mutex
	out     strings.Builder // everything read from the master
	changed chan struct{}   // closed and replaced on every read
}

// openPty opens a pty pair with the given window size.
func openPty(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
		if err != nil {
			master.Close()
			t.Fatalf("pty peer: %v, %v", errno, err)
		}
		if slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			master.Close()
			t.Fatalf("open pty slave: %v", err)
		}
	} else {
		slave = os.NewFile(fd, "pty-slave")
	}
	setPtySize(t, master, rows, cols)
	return master, slave
}

func setPtySize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatalf("set window size %dx%d: %v", rows, cols, err)
	}
}

// startPtyBerth runs bin --root root args... on a new pty of the given
// size. Cleanup kills it if it is still running and closes the master.
func startPtyBerth(t *testing.T, bin, root string, rows, cols uint16, args ...string) *ptyBerth {
	t.Helper()
	master, slave := openPty(t, rows, cols)
	cmd := exec.Command(bin, append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm", "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		slave.Close()
		t.Fatalf("start berth: %v", err)
	}
	slave.Close() // berth holds it now: the master reads EIO once berth is gone
	p := &ptyBerth{t: t, master: master, cmd: cmd, exited: make(chan struct{}), changed: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		master.Close()
	})
	return p
}

// output returns everything berth wrote to the terminal so far.
func (p *ptyBerth) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the terminal output contains s.
func (p *ptyBerth) waitFor(s string) {
	p.t.Helper()
	if !p.waitWithin(s, ptyWait) {
		p.t.Fatalf("no %q on the terminal after %v; terminal:\n%q", s, ptyWait, p.output())
	}
}

// waitWithin waits up to d until the terminal output contains s; it fails
// the test if berth exits without printing it.
func (p *ptyBerth) waitWithin(s string, d time.Duration) bool {
	p.t.Helper()
	deadline := time.After(d)
	for {
		p.mu.Lock()
		out, changed := p.out.String(), p.changed
		p.mu.Unlock()
		if strings.Contains(out, s) {
			return true
		}
		select {
		case <-changed:
		case <-p.exited:
			// Let the reader drain what berth wrote before it exited.
			select {
			case <-changed:
				continue
			case <-time.After(2 * time.Second):
			}
			if out := p.output(); !strings.Contains(out, s) {
				p.t.Fatalf("berth exited (%v) before printing %q; terminal:\n%q", p.err, s, out)
			}
			return true
		case <-deadline:
			return false
		}
	}
}

// write types s on the terminal.
func (p *ptyBerth) write(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("write %q to the terminal: %v", s, err)
	}
}

// wait returns berth's exit code.
func (p *ptyBerth) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(ptyWait):
		p.t.Fatalf("berth still running after %v; terminal:\n%q", ptyWait, p.output())
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		p.t.Fatalf("berth: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// expectExit waits for berth's exit and checks its code and that the
// terminal shows want.
func (p *ptyBerth) expectExit(code int, want string) {
	p.t.Helper()
	p.waitFor(want)
	if got := p.wait(); got != code {
		p.t.Fatalf("berth exit code %d, want %d; terminal:\n%q", got, code, p.output())
	}
}

// ptyChecks are the terminal behaviours of `exec -it` and `run -it`: the
// initial window size, a resize, Ctrl-C reaching the process (as a byte
// through the pty, not as a signal to berth) and the exit code. prefix
// is the command up to the shell's arguments.
func ptyChecks(t *testing.T, root string, prefix ...string) {
	bin := builtBerth(t) // once: subtests have their own names
	sh := func(script string) []string { return append(append([]string(nil), prefix...), "sh", "-c", script) }
	t.Run("size", func(t *testing.T) {
		// The process looks at once: its pty must have the size from the
		// start, not after a resize that races it. Five tries make a lost
		// race show.
		for range 5 {
			p := startPtyBerth(t, bin, root, 37, 101, sh("stty size")...)
			p.expectExit(0, "37 101")
			// Exactly the container's pty's output: berth's terminal is raw.
			if out := p.output(); out != "37 101\r\n" {
				t.Fatalf("terminal shows %q, want %q", out, "37 101\r\n")
			}
		}
	})
	t.Run("ctrl-c", func(t *testing.T) {
		p := startPtyBerth(t, bin, root, 37, 101, sh(`trap "echo GOT-INT; exit 7" INT; echo READY; while :; do sleep 1; done`)...)
		p.waitFor("READY")
		p.write("\x03")
		p.expectExit(7, "GOT-INT")
	})
	t.Run("resize", func(t *testing.T) {
		p := startPtyBerth(t, bin, root, 37, 101, sh("echo READY; while read x; do stty size; done; echo DONE")...)
		p.waitFor("READY")
		setPtySize(t, p.master, 50, 132)
		// The resize travels as SIGWINCH to berth, then as an ioctl on the
		// container's pty, while a typed newline travels as a byte: it may
		// overtake the resize, so type newlines until the new size shows.
		deadline := time.Now().Add(ptyWait)
		for {
			p.write("\n")
			if p.waitWithin("50 132", time.Second) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the new size never reached the container; terminal:\n%q", p.output())
			}
		}
		p.write("\x04") // EOF ends the loop
		p.expectExit(0, "DONE")
	})
	t.Run("exit code", func(t *testing.T) {
		p := startPtyBerth(t, bin, root, 37, 101, sh("exit 3")...)
		if got := p.wait(); got != 3 {
			t.Fatalf("berth exit code %d, want 3; terminal:\n%q", got, p.output())
		}
	})
}

// TestPtyExec: `berth container exec -it` on a real terminal.
func TestPtyExec(t *testing.T) {
	testenv.RequireRoot(t)
	root := newNetTestRoot(t, "10.236.240.0/20")
	loadBusybox(t, root, nil)
	mustBerth(t, root, "container", "run", "-d", "--name", "ptyexec", "--network", "none", "busybox", "sleep", "600")
	t.Cleanup(func() { berthCLI(t, root, nil, "container", "rm", "-f", "ptyexec") })
	ptyChecks(t, root, "container", "exec", "-it", "ptyexec")
}

// TestPtyRun: `berth container run -it --rm` on a real terminal.
func TestPtyRun(t *testing.T) {
	testenv.RequireRoot(t)
	root := newNetTestRoot(t, "10.236.240.0/20")
	loadBusybox(t, root, nil)
	ptyChecks(t, root, "container", "run", "-it", "--rm", "--network", "none", "busybox")
	if out := mustBerth(t, root, "container", "ps", "-a", "-q"); out != "" {
		t.Errorf("run --rm left containers: %q", out)
	}
}
