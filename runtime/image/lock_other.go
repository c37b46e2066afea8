//go:build !unix

package image

// Without flock the store cannot be shared safely; it is Linux-only anyway.

type fileLock struct{}

func lock(path string, exclusive bool) (*fileLock, error) { return nil, ErrNotSupported }

func tryLock(path string) (*fileLock, bool, error) { return nil, false, ErrNotSupported }

func (l *fileLock) unlock() {}
