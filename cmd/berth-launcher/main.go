// Command berth-launcher is berth as installed under the name berth, with
// the full CLI beside it as berth-core.
//
// It answers a repeated `berth up -d` that has nothing to do from the
// stamp the full CLI left (internal/upstamp): when every fact the stamp
// records still holds, the command is done, in a few milliseconds instead
// of the full CLI's start-up and manifest load. Anything else, and any
// doubt, runs berth-core with the same arguments.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/internal/upstamp"
)

// coreName is the full CLI's file name, next to the launcher.
const coreName = "berth-core"

// defaultRoot is berth's state dir when neither --root nor BERTH_ROOT says
// otherwise (as in cmd/berth).
const defaultRoot = "/var/lib/berth"

// debugEnv makes the launcher say on stderr whether a stamp held, and if
// not, which fact changed. It is not part of the stamps' keys.
const debugEnv = upstamp.EnvKey + "_DEBUG"

func main() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth: locate the berth binary:", err)
		os.Exit(125)
	}
	core := filepath.Join(filepath.Dir(exe), coreName)
	args := os.Args[1:]
	// Only the key computed here may reach berth-core.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, upstamp.EnvKey+"=") })
	if mentionsUp(args) {
		if key, ok := answer(core, args, env); ok {
			os.Exit(0)
		} else if key != "" {
			env = append(env, upstamp.EnvKey+"="+key)
		}
	}
	err = syscall.Exec(core, append([]string{os.Args[0]}, args...), env)
	fmt.Fprintf(os.Stderr, "berth: run %s: %v (berth-core is installed next to berth: see the README)\n", core, err)
	os.Exit(125)
}

// answer looks for the invocation's stamp and reports whether it holds;
// key is the invocation's key, for the full CLI to stamp under.
func answer(core string, args, env []string) (key string, ok bool) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	key, err = upstamp.Key(cwd, args, env, core)
	if err != nil {
		return "", false
	}
	st, err := upstamp.Find(filepath.Join(stateRoot(args), upstamp.DirName), key)
	if err != nil {
		return key, false
	}
	// The lock keeps commands from starting changes while we check; a
	// command already holding it does not make the check wrong (see
	// TryHold), so we do not wait for it.
	release, _ := st.TryHold()
	defer release()
	f := st.Changed()
	if os.Getenv(debugEnv) != "" {
		if f != nil {
			fmt.Fprintf(os.Stderr, "berth: up stamp: %s %s changed\n", f.Kind, f.Path)
		} else {
			fmt.Fprintln(os.Stderr, "berth: up stamp holds")
		}
	}
	return key, f == nil
}

// mentionsUp is a cheap filter: only an `up` can have a stamp, so other
// commands skip the key's hashing.
func mentionsUp(args []string) bool {
	for _, a := range args {
		if a == "up" {
			return true
		}
	}
	return false
}

// stateRoot finds berth's root as the full CLI will: --root, else
// BERTH_ROOT, else the default. A wrong guess only misses a stamp: the
// stamp's key names the exact arguments, so a stamp found is the right one.
func stateRoot(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--root="); ok {
			return v
		}
		if a == "--root" && i+1 < len(args) {
			return args[i+1]
		}
	}
	if v := os.Getenv("BERTH_ROOT"); v != "" {
		return v
	}
	return defaultRoot
}
