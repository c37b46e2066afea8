//go:build unix

package netplug

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flock takes an exclusive lock on path (created if missing). Each call opens
// the file anew, so goroutines of one process exclude each other as well as
// other processes do.
func flock(path string) (*os.File, error) { return flockMode(path, unix.LOCK_EX) }

// flockShared takes a shared lock on path: holders of shared locks run
// together and exclude an exclusive holder.
func flockShared(path string) (*os.File, error) { return flockMode(path, unix.LOCK_SH) }

func flockMode(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// funlock releases a lock taken by flock.
func funlock(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close() // closing the last descriptor drops the flock
}
