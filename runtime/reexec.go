package runtime

import "os"

// reexecEnv names the role of a re-executed berth binary: "shim", "init"
// or "exec". It is set only in the environment berth builds for its own
// children, never in a container's.
const reexecEnv = "_BERTH_REEXEC"

// IsReexec reports whether this process is berth re-executed as a shim,
// a container init or an exec helper. main calls it first thing:
//
//	if runtime.IsReexec() { runtime.Reexec() }
func IsReexec() bool { return os.Getenv(reexecEnv) != "" }

// Reexec runs the role named in the environment and never returns.
func Reexec() {
	role := os.Getenv(reexecEnv)
	os.Unsetenv(reexecEnv)
	reexecMain(role)
	os.Exit(125)
}
