package runtime

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"
)

// waitEnded blocks until the run recorded in st (running or paused, its
// shim behind shimFd) has ended: the shim recorded the exit (exitFile),
// or the shim is gone, or ctx ended. It returns the state that shows the
// end, or nil when the shim went without a record or the container was
// removed. The shim records before
// it exits, and the exit of a Go process (its threads and address space
// torn down) takes a few milliseconds here, so waking on the record is
// what lets Wait and Stop return as soon as the state says exited.
func (r *Runtime) waitEnded(ctx context.Context, st *State, shimFd int) (*State, error) {
	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, pidfdWait(ctx, shimFd)
	}
	defer unix.Close(ino)
	// The record is written by a rename; removal (--rm) moves the whole
	// directory away.
	if _, err := unix.InotifyAddWatch(ino, st.Dir, unix.IN_MOVED_TO|unix.IN_MOVE_SELF|unix.IN_DELETE_SELF); err != nil {
		return nil, pidfdWait(ctx, shimFd)
	}
	buf := make([]byte, 4096)
	for {
		// Checked with the watch in place: a record made since the
		// caller's load is not missed.
		if cur, ended := r.runEnded(st); ended {
			return cur, nil
		}
		i, err := pollWait(ctx, shimFd, ino)
		if err != nil || i == 0 {
			return nil, err
		}
		for {
			if _, err := unix.Read(ino, buf); err != nil {
				break // EAGAIN: drained
			}
		}
	}
}

// runEnded reports whether the state on disk no longer shows the run of
// st (exited, removed, or started again under another shim), and returns
// that state (nil if removed).
func (r *Runtime) runEnded(st *State) (*State, bool) {
	cur, err := r.load(st.ID)
	if err != nil {
		return nil, errors.Is(err, ErrNotFound)
	}
	return cur, (cur.Status != StatusRunning && cur.Status != StatusPaused) || cur.ShimPid != st.ShimPid
}
