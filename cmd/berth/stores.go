package main

// Opening berth's stores (images, containers, networks, volumes) from the
// global options, in one place: where each lives under --root, the run
// dir, the CLI's logger, and the "in use" questions the image and volume
// stores ask about containers.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/volumes"
)

// defaultRunDir holds runtime files that must die with a reboot (a tmpfs).
const defaultRunDir = "/run/berth"

// cliLogger is the logger of CLI commands: warnings and errors on stderr,
// where the user sees them beside the command's own error. Long-running
// verbs that want more (the supervisor) make their own.
var cliLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// logger is the logger the stores opened from g report to.
func (g *globalOptions) logger() *slog.Logger { return cliLogger }

// runDir is where runtime files live: $BERTH_RUN_DIR, else /run/berth.
func (g *globalOptions) runDir() string {
	if d := os.Getenv("BERTH_RUN_DIR"); d != "" {
		return d
	}
	return defaultRunDir
}

// stateDir is the directory of one store under --root.
func (g *globalOptions) stateDir(store string) string { return filepath.Join(g.Root, store) }

// openImages opens the image store (<root>/images) with the
// registries.yaml of the root dir or /etc/berth. Remove and Prune refuse
// an image a container uses (see containerStates).
func (g *globalOptions) openImages() (*image.Store, error) {
	containers := g.containerStates()
	return image.Open(g.stateDir("images"), image.Options{
		RegistryConfigFiles: image.DefaultRegistryConfigFiles(g.Root),
		Logger:              g.logger(),
		InUse: func(imageID string) (bool, error) {
			states, err := containers()
			if err != nil {
				return false, err
			}
			for _, st := range states {
				if st.Image.ID == imageID {
					return true, nil
				}
			}
			return false, nil
		},
	})
}

// openRuntime opens the container runtime (<root>/containers) with the
// image store as its image source, and returns both.
// openRuntimeNets opens the runtime and netplug, for the container
// commands that also see a container's network.
func (g *globalOptions) openRuntimeNets() (*runtime.Runtime, *netplug.Manager, error) {
	rt, _, err := g.openRuntime()
	if err != nil {
		return nil, nil, err
	}
	nets, err := g.openNetworks()
	if err != nil {
		return nil, nil, err
	}
	return rt, nets, nil
}

func (g *globalOptions) openRuntime() (*runtime.Runtime, *image.Store, error) {
	store, err := g.openImages()
	if err != nil {
		return nil, nil, err
	}
	initPath, err := initPathOption()
	if err != nil {
		return nil, nil, err
	}
	rt, err := runtime.New(runtime.Options{
		Root:     g.stateDir("containers"),
		RunDir:   g.runDir(),
		Images:   runtimeImages{store: store},
		Logger:   g.logger(),
		InitPath: initPath,
	})
	if err != nil {
		return nil, nil, err
	}
	return rt, store, nil
}

// initPathOption is $BERTH_INIT_PATH, checked: "builtin", or a
// statically linked tini; empty for the default (tini-static when
// installed, runtime.DefaultInitPaths).
func initPathOption() (string, error) {
	p := os.Getenv("BERTH_INIT_PATH")
	if p == "" {
		return "", nil
	}
	if _, err := runtime.ResolveInitPath(p); err != nil {
		return "", fmt.Errorf("BERTH_INIT_PATH: %w", err)
	}
	return p, nil
}

// openNetworks opens the network state (<root>/networks).
// $BERTH_NETWORK_POOL (comma-separated IPv4 prefixes) replaces netplug's
// default subnet pool, for every command that makes networks.
func (g *globalOptions) openNetworks() (*netplug.Manager, error) {
	opts := netplug.Options{
		Root:   g.stateDir("networks"),
		RunDir: g.runDir(),
		Logger: g.logger(),
	}
	if v := os.Getenv("BERTH_NETWORK_POOL"); v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("BERTH_NETWORK_POOL: %q is not a prefix: %w", s, err)
			}
			opts.Pool = append(opts.Pool, p)
		}
	}
	return netplug.New(opts)
}

// openVolumes opens the volume store (<root>/volumes). A volume is in use
// when a container the runtime knows (running or not, as in Docker)
// mounts it.
func (g *globalOptions) openVolumes() (*volumes.Manager, error) {
	containers := g.containerStates()
	var m *volumes.Manager
	inUse := func(name string) (bool, error) {
		states, err := containers()
		if err != nil {
			return false, err
		}
		for _, st := range states {
			if m.UsedBy(name, st.Spec.Mounts) {
				return true, nil
			}
		}
		return false, nil
	}
	m, err := volumes.New(volumes.Options{Root: g.stateDir("volumes"), Logger: g.logger(), InUse: inUse})
	return m, err
}

// containerStates returns a func listing every container under --root, for
// the stores' in-use checks. The runtime is opened on the first call only
// (a command that never asks does not touch <root>/containers or the run
// dir), and every call lists afresh: a container removed meanwhile, by
// this process or another, no longer holds its image or volumes.
func (g *globalOptions) containerStates() func() ([]*runtime.State, error) {
	var mu sync.Mutex
	var rt *runtime.Runtime
	return func() ([]*runtime.State, error) {
		mu.Lock()
		defer mu.Unlock()
		if rt == nil {
			dir := g.stateDir("containers")
			if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
				return nil, nil // no container was ever created here (asked again next time)
			}
			r, err := runtime.New(runtime.Options{Root: dir, RunDir: g.runDir(), Logger: g.logger()})
			if err != nil {
				return nil, fmt.Errorf("list containers: %w", err)
			}
			rt = r
		}
		states, err := rt.List(context.Background(), nil)
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		return states, nil
	}
}
