//go:build !linux

package leakcheck

import (
	"errors"
	"testing"
)

// Snapshot is a set of object descriptions.
type Snapshot map[string]bool

// Take is only implemented on Linux.
func Take() (Snapshot, error) { return nil, errors.New("leakcheck: not supported on this OS") }

// Leaked lists the objects in after that are not in s and match selects.
func (s Snapshot) Leaked(after Snapshot, match func(string) bool) []string { return nil }

// Check fails the test: there is nothing to check outside Linux.
func Check(t testing.TB, match func(string) bool) {
	t.Helper()
	t.Fatal("leakcheck: not supported on this OS")
}

// Contains returns a filter selecting objects whose description contains
// any of subs.
func Contains(subs ...string) func(string) bool { return func(string) bool { return false } }
