//go:build !linux

package volumes

import "fmt"

type mounter interface {
	mount(o *localOpts, target string) error
	isMountpoint(path string) (bool, error)
	unmountAll(dir string) error
	boundElsewhere(dataDir string) (bool, error)
}

// hostMounter has nothing to work with outside Linux: berth runs containers
// on Linux only. Plain directory volumes still work.
type hostMounter struct{}

func (m *Manager) lock() (func(), error) { return func() {}, nil }

func (hostMounter) mount(*localOpts, string) error {
	return fmt.Errorf("driver_opts volumes: %w on this OS", ErrNotSupported)
}
func (hostMounter) isMountpoint(string) (bool, error)   { return false, nil }
func (hostMounter) unmountAll(string) error             { return nil }
func (hostMounter) boundElsewhere(string) (bool, error) { return false, nil }
