package netplug

import "errors"

// Sentinel errors; check them with errors.Is. Every error returned by this
// package that fits one of these kinds wraps it, with context naming the
// network, sandbox or port.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrInUse           = errors.New("in use")
	// ErrPortInUse: a host port is already taken, by another process or by
	// another berth mapping. It also matches ErrInUse.
	ErrPortInUse    = portInUseError{}
	ErrNotSupported = errors.New("not supported")
)

type portInUseError struct{}

func (portInUseError) Error() string        { return "port already in use" }
func (portInUseError) Is(target error) bool { return target == ErrInUse }
