package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors; check them with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotSupported    = errors.New("not supported on this platform")
	// ErrInvalidState is what every *TransitionError matches.
	ErrInvalidState = errors.New("invalid container state")
)

// TransitionError says that an operation is not allowed in the container's
// current status (e.g. Start of a running container).
type TransitionError struct {
	ID     string
	Op     string
	Status Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("container %s: cannot %s a container that is %s", shortID(e.ID), e.Op, e.Status)
}

// Is makes errors.Is(err, ErrInvalidState) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidState }

// StartError is returned when the container's process could not be started
// (command not found, not executable, bad mount...). ExitCode follows
// Docker: 127 not found, 126 not executable, 125 any other start failure.
type StartError struct {
	ID       string
	ExitCode int
	Msg      string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("start container %s: %s", shortID(e.ID), e.Msg)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
