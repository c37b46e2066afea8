package runtime

import goruntime "runtime"

// The runtime runs goroutines that lock their OS thread, join a
// container's namespaces and end without unlocking, so that Go discards
// the thread. Go cannot discard the main thread: it would park it, still
// inside the container's namespaces (holding, e.g., its network namespace
// alive). Locking the main goroutine to the main thread at init keeps
// every other goroutine off it.
func init() { goruntime.LockOSThread() }
