package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/volumes"
)

// `berth inspect` is `docker inspect`: any object by name or ID, looked up
// as a container, then an image, a volume, a network (Docker's order),
// each printed in the shape its own inspect command prints.
func init() { registerCommand(newInspectCmd) }

func newInspectCmd(g *globalOptions) *cobra.Command {
	var format, kind string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID...",
		Short: "Show containers, images, volumes or networks in Docker's inspect format",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch kind {
			case "", "container", "image", "volume", "network":
			default:
				return berthErr(fmt.Errorf("--type %q: want container, image, volume or network", kind))
			}
			ctx := cmd.Context()
			return inspectAll(cmd.OutOrStdout(), args, format, func(name string) (any, error) {
				return inspectAny(ctx, g, kind, name)
			})
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	c.Flags().StringVar(&kind, "type", "", "only this kind of object: container, image, volume or network")
	return c
}

// inspectAny finds name as the first kind (of kind, or all) that has it.
func inspectAny(ctx context.Context, g *globalOptions, kind, name string) (any, error) {
	want := func(k string) bool { return kind == "" || kind == k }
	var nets *netplug.Manager
	openNets := func() (*netplug.Manager, error) {
		if nets != nil {
			return nets, nil
		}
		var err error
		nets, err = g.openNetworks()
		return nets, err
	}
	if want("container") {
		rt, _, err := g.openRuntime()
		if err != nil {
			return nil, err
		}
		st, err := rt.Inspect(ctx, name)
		if err == nil {
			n, err := openNets()
			if err != nil {
				return nil, err
			}
			return inspectContainer(ctx, g, n, st), nil
		}
		if kind != "" || !errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, runtime.ErrInvalidArgument) {
			return nil, err
		}
	}
	if want("image") {
		s, err := g.openImages()
		if err != nil {
			return nil, err
		}
		img, err := s.Get(ctx, name)
		if err == nil {
			return img, nil
		}
		if kind != "" || !errors.Is(err, image.ErrNotFound) && !notAReference(err) {
			return nil, err
		}
	}
	if want("volume") {
		m, err := g.openVolumes()
		if err != nil {
			return nil, err
		}
		v, err := m.Get(ctx, name)
		if err == nil {
			return inspectOf(v), nil
		}
		if kind != "" || !errors.Is(err, volumes.ErrNotFound) && !errors.Is(err, volumes.ErrInvalidArgument) {
			return nil, err
		}
	}
	if want("network") {
		n, err := openNets()
		if err != nil {
			return nil, err
		}
		nw, err := n.InspectNetwork(ctx, name)
		if err == nil {
			return networkInspectOf(nw), nil
		}
		if kind != "" || !errors.Is(err, netplug.ErrNotFound) {
			return nil, err
		}
	}
	if kind != "" {
		return nil, fmt.Errorf("no such %s: %s", kind, name)
	}
	return nil, fmt.Errorf("no such object: %s", name)
}

// notAReference says err is the image store refusing name as a reference
// (a volume or network name may not be one).
func notAReference(err error) bool {
	return errors.Is(err, image.ErrInvalidReference)
}
