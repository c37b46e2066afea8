// Package e2e holds berth's end-to-end tests: they build the berth and
// berth-shim binaries, bring up the stacks in examples/ with the real CLI
// and check them with real clients (an HTTP client logging in to Adminer,
// Debian's mariadb client), as root.
//
// The tests own everything they create: a --root and BERTH_RUN_DIR in
// temporary directories, their own registries.yaml, and the local registry
// of examples/images when they had to start it (stopped again by its PID).
// They talk only to 127.0.0.0/8 and to the containers they started; berth
// runs with proxy variables pointing at a dead loopback port, so a pull
// that misses the local mirror can never reach the internet.
//
// The package has no non-test code; this file only documents it.
package e2e
