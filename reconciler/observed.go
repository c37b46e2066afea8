package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Observed is a snapshot of what a project has on the machine, taken once
// before planning. The planner reads only this struct, never a client.
type Observed struct {
	// Containers labelled with the project, one-off containers included.
	Containers []Container
	// Networks and Volumes are the names of those labelled with the project.
	Networks map[string]bool
	Volumes  map[string]bool
	// Images maps each image reference the project uses to the image in the
	// store; a reference that is absent is not present in the store.
	Images map[string]ImageInfo
	// Configs maps a config hash to the normalized service JSON a container
	// with that hash was created from (see Store.SaveConfig), so that the
	// planner can name the key that changed. Missing entries are fine.
	Configs map[string][]byte
	// StoppedByUser names the containers the user stopped (berth stop).
	StoppedByUser map[string]bool
}

// ObserveOptions say what to observe beyond containers.
type ObserveOptions struct {
	// Images are the references to look up in the image store.
	Images []string
	// Store, when set, supplies previous configs and user-stop markers.
	Store *Store
}

// Observe snapshots the project's state through deps.
func Observe(ctx context.Context, deps Deps, project string, o ObserveOptions) (*Observed, error) {
	obs := &Observed{
		Networks: map[string]bool{},
		Volumes:  map[string]bool{},
		Images:   map[string]ImageInfo{},
		Configs:  map[string][]byte{},
	}
	cs, err := deps.Containers.List(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("observe project %q: list containers: %w", project, err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	obs.Containers = cs
	if deps.Networks != nil {
		ns, err := deps.Networks.ListNetworks(ctx, project)
		if err != nil {
			return nil, fmt.Errorf("observe project %q: list networks: %w", project, err)
		}
		for _, n := range ns {
			obs.Networks[n] = true
		}
	}
	if deps.Volumes != nil {
		vs, err := deps.Volumes.ListVolumes(ctx, project)
		if err != nil {
			return nil, fmt.Errorf("observe project %q: list volumes: %w", project, err)
		}
		for _, v := range vs {
			obs.Volumes[v] = true
		}
	}
	if deps.Images != nil {
		for _, ref := range o.Images {
			if _, done := obs.Images[ref]; done || ref == "" {
				continue
			}
			img, err := deps.Images.Get(ctx, ref)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("observe project %q: image %s: %w", project, ref, err)
			}
			obs.Images[ref] = img
		}
	}
	if o.Store != nil {
		for _, c := range cs {
			h := c.Labels[LabelConfigHash]
			if h == "" || obs.Configs[h] != nil {
				continue
			}
			if b, err := o.Store.Config(h); err == nil {
				obs.Configs[h] = b
			}
		}
		stopped, err := o.Store.StoppedByUser()
		if err != nil {
			return nil, fmt.Errorf("observe project %q: %w", project, err)
		}
		obs.StoppedByUser = stopped
	}
	return obs, nil
}

func atoiOr0(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
