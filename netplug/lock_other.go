//go:build !unix

package netplug

import (
	"fmt"
	"os"
)

func flock(path string) (*os.File, error) {
	return nil, fmt.Errorf("lock %s: %w", path, ErrNotSupported)
}

func flockShared(path string) (*os.File, error) { return flock(path) }

func funlock(f *os.File) error { return nil }
