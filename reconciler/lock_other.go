//go:build !linux

package reconciler

import (
	"fmt"
	"os"
)

var errNotSupported = fmt.Errorf("project lock: %w", ErrNotSupported)

func flockTry(f *os.File) (bool, error) { return false, errNotSupported }
