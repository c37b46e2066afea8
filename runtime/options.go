package runtime

import (
	"context"
	"log/slog"
)

// Images resolves an image reference to what the runtime needs (unpacked
// layer dirs and config). The image store implements it; tests use a fake.
type Images interface {
	Resolve(ctx context.Context, ref string) (Image, error)
}

// Options configure a Runtime.
type Options struct {
	Root   string // container state dirs, e.g. <root>/containers
	RunDir string // runtime files on tmpfs ($BERTH_RUN_DIR or /run/berth): reboot marker
	Images Images
	Logger *slog.Logger
	// CgroupParent is the cgroup path under which each container gets
	// <parent>/<id> in every hierarchy. Default "/berth".
	CgroupParent string
	// Exe is the binary re-executed as shim, init and exec helper; it must
	// call Reexec at the top of main. Default /proc/self/exe.
	Exe string
	// InitPath is the pid 1 of a container with Spec.Init: a statically
	// linked tini (Docker's docker-init), run with `-s --` before the
	// process. Empty: the first of DefaultInitPaths found; BuiltinInit, or
	// none found: berth-init (Exe's own: a Go process, which costs far
	// more CPU to start and to end; see runtime/doc.go).
	InitPath string
}
