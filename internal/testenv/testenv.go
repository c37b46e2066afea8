// Package testenv decides what a test does when a prerequisite is missing:
// in CI (CI=true) it fails with a clear message, elsewhere it skips. Tests that
// need root and the kernel call it first, so a CI run can never pass by
// skipping them silently.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// Missing fails the test in CI and skips it elsewhere, with the reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("missing prerequisite (CI=true, so this is a failure): "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}

// RequireRoot stops the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "the test needs root (namespaces, mounts, cgroups, netlink); run it with sudo")
	}
}

// RequireCommand stops the test unless the named program is on PATH and
// returns its path. hint says how to get it, e.g. "apt-get install busybox-static".
func RequireCommand(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found on PATH (%s)", name, hint)
	}
	return p
}

// RequireFile stops the test unless path exists.
func RequireFile(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s: %v (%s)", path, err, hint)
	}
}
