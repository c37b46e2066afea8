// Command berth-shim is the container runtime's re-exec target without the
// rest of berth: the shim, container init and exec helper roles of
// runtime.Reexec in a binary whose package init is a few hundred
// microseconds instead of berth's tens of milliseconds. berth uses it when
// it is installed next to the berth binary (see runtime.Options.Exe);
// otherwise berth re-executes itself.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime"
)

func main() {
	if runtime.IsReexec() {
		runtime.Reexec()
	}
	fmt.Fprintln(os.Stderr, "berth-shim: internal helper of berth; not meant to be run by hand")
	os.Exit(125)
}
