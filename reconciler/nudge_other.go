//go:build !linux

package reconciler

// NudgeSupervisor does nothing where supervisors are not supported.
func (s *Store) NudgeSupervisor() {}

func (s *Store) listenNudges(fn func()) (stop func(), err error) { return nil, ErrNotSupported }
