package runtime

import (
	"debug/elf"
	"fmt"
	"os"
)

// BuiltinInit as Options.InitPath always runs berth-init for Spec.Init.
const BuiltinInit = "builtin"

// DefaultInitPaths are where Options.InitPath looks when empty: tini,
// statically linked, as Debian's tini package installs it, and Docker's
// docker-init (tini too).
var DefaultInitPaths = []string{"/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init"}

// ResolveInitPath turns an Options.InitPath into the host binary that
// Spec.Init runs as the container's pid 1, or "" for berth-init. The
// binary runs inside the container's root, so it must be statically
// linked: a dynamic one would not find its loader there.
func ResolveInitPath(opt string) (string, error) {
	switch opt {
	case BuiltinInit:
		return "", nil
	case "":
		for _, p := range DefaultInitPaths {
			if staticELF(p) == nil {
				return p, nil
			}
		}
		return "", nil
	}
	if err := staticELF(opt); err != nil {
		return "", fmt.Errorf("%w: init %s: %v", ErrInvalidArgument, opt, err)
	}
	return opt, nil
}

// staticELF checks that path is an executable ELF file without an
// interpreter (statically linked).
func staticELF(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF executable: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked: it needs a statically linked binary (tini-static)")
		}
	}
	return nil
}
