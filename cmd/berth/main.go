// Command berth is a declarative multi-container orchestrator with an embedded
// container runtime. See the repository README for the scope.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime"
)

func main() {
	// berth re-executed as a container's shim, init or exec helper: run
	// that role before anything else (it never returns).
	if runtime.IsReexec() {
		runtime.Reexec()
	}
	takeUpStampKey()
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI and maps errors to exit codes. A command that wants a
// specific exit code (a container's own, or Docker's 125/126/127) returns an
// *exitError.
func run(args []string) int {
	cmd := newRootCmd()
	cmd.SetArgs(withDockerAliases(cmd, globalFileFirst(args)))
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "berth:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "berth:", err)
	return 1
}

// exitError carries an exit code out of a command. A nil err means the
// command has already told the user what happened.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }
