//go:build !linux

package reconciler

import "time"

// SupervisorMarker is an argument every supervisor process carries.
const SupervisorMarker = "supervise"

func (s *Store) WritePidFile() error                        { return ErrNotSupported }
func (s *Store) RemovePidFile()                             {}
func (s *Store) SupervisorPid() int                         { return 0 }
func (s *Store) StopSupervisor(timeout time.Duration) error { return nil }
