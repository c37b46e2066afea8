package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const lockName = "lock"

// Lock is a project's cross-process lock: flock(LOCK_EX) on
// <root>/projects/<name>/lock, with the holder's pid written into the file
// for humans (`cat lock`) and error messages.
//
// A dead holder needs no breaking: flock locks belong to the open file
// description, and the kernel drops them when the last descriptor is
// closed — which happens when the holding process exits, however it dies
// (kill -9 included). The pid in the file is therefore informational only;
// it is never used to decide whether the lock is held.
//
// `down` removes the state dir, lock file included, while holding the
// lock. A command that was waiting then holds a lock on an unlinked file;
// tryLock checks that the path still names the file it locked and retries
// otherwise, so that it never runs beside a third command that created a
// fresh lock file.
type Lock struct {
	f    *os.File
	path string
}

// AcquireLock takes the project's lock, waiting until ctx is done. The
// error for a timeout names the holder's pid.
func AcquireLock(ctx context.Context, s *Store) (*Lock, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("project lock: %w", err)
	}
	path := filepath.Join(s.dir, lockName)
	delay := 5 * time.Millisecond
	for {
		l, ok, err := tryLock(path)
		if err != nil {
			return nil, err
		}
		if ok {
			return l, nil
		}
		select {
		case <-ctx.Done():
			holder, _ := os.ReadFile(path)
			return nil, fmt.Errorf("%w (pid %s): %w", ErrLocked, string(holder), ctx.Err())
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// TryAcquireLock takes the lock if it is free; ok is false when it is held.
func TryAcquireLock(s *Store) (*Lock, bool, error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("project lock: %w", err)
	}
	return tryLock(filepath.Join(s.dir, lockName))
}

func tryLock(path string) (*Lock, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("project lock: %w", err)
	}
	ok, err := flockTry(f)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	// The file may have been replaced between open and flock.
	if !sameFile(f, path) {
		f.Close()
		return tryLock(path)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return &Lock{f: f, path: path}, true, nil
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// Release drops the lock. Releasing twice is fine.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing drops the flock
	l.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("release project lock: %w", err)
	}
	return nil
}
