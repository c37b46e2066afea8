//go:build !linux

package main

// lockPath is a no-op where berth cannot run containers anyway.
func lockPath(path string) (func(), error) { return func() {}, nil }
