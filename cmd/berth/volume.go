package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
	"github.com/berth-dev/berth/volumes"
)

// The volume commands follow `docker volume`.
func init() {
	registerCommand(func(g *globalOptions) *cobra.Command {
		c := &cobra.Command{
			Use:   "volume",
			Short: "Manage volumes",
			Args:  cobra.NoArgs,
		}
		c.AddCommand(volumeLsCmd(g), volumeCreateCmd(g), volumeInspectCmd(g), volumeRmCmd(g), volumePruneCmd(g))
		return c
	})
}

// volumeRow is a volume as `ls` shows it (Docker's field names, so that
// --format templates written for Docker work).
type volumeRow struct {
	Driver     string `json:"Driver"`
	Labels     string `json:"Labels"`
	Mountpoint string `json:"Mountpoint"`
	Name       string `json:"Name"`
	Scope      string `json:"Scope"`
	labels     map[string]string
}

// Label returns one label's value, for {{.Label "key"}} in templates.
func (r volumeRow) Label(key string) string { return r.labels[key] }

var volumeTable = listTable[volumeRow]{
	Header:   "DRIVER\tVOLUME NAME",
	Cells:    func(r volumeRow) string { return r.Driver + "\t" + r.Name },
	Quiet:    func(r volumeRow) string { return r.Name },
	MinWidth: 10,
}

func rowOf(v *volumes.Volume) volumeRow {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		kv = append(kv, k+"="+v.Labels[k])
	}
	return volumeRow{Driver: v.Driver, Labels: strings.Join(kv, ","), Mountpoint: v.Mountpoint, Name: v.Name, Scope: v.Scope, labels: v.Labels}
}

// volumeInspect is a volume as `inspect` shows it, in Docker's shape.
type volumeInspect struct {
	CreatedAt  string            `json:"CreatedAt"`
	Driver     string            `json:"Driver"`
	Labels     map[string]string `json:"Labels"`
	Mountpoint string            `json:"Mountpoint"`
	Name       string            `json:"Name"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

func inspectOf(v *volumes.Volume) volumeInspect {
	return volumeInspect{
		CreatedAt: v.CreatedAt.Format(time.RFC3339), Driver: v.Driver, Labels: v.Labels,
		Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: v.Scope,
	}
}

// parseKeyValues turns repeated key=value flags into a map; what names the
// flag in errors.
func parseKeyValues(what string, kvs []string, needValue bool) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" || (needValue && !ok) {
			return nil, fmt.Errorf("%s %q: want key=value", what, kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseVolumeFilters reads Docker's volume filters: label=k[=v], name=,
// driver=, dangling=true|false.
func parseVolumeFilters(fs []string) (volumes.Filter, error) {
	var f volumes.Filter
	for _, s := range fs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return f, fmt.Errorf("invalid filter %q: want key=value", s)
		}
		switch k {
		case "label":
			if f.Labels == nil {
				f.Labels = map[string]string{}
			}
			lk, lv, _ := strings.Cut(v, "=")
			f.Labels[lk] = lv
		case "name":
			f.Name = v
		case "driver":
			f.Driver = v
		case "dangling":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("invalid filter %q: dangling takes true or false", s)
			}
			f.Dangling = &b
		default:
			return f, fmt.Errorf("invalid filter %q: volume filters are label, name, driver, dangling", s)
		}
	}
	return f, nil
}

func volumeLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var format string
	var quiet bool
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseVolumeFilters(filters)
			if err != nil {
				return err
			}
			m, err := g.openVolumes()
			if err != nil {
				return err
			}
			vs, err := m.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			rows := make([]volumeRow, len(vs))
			for i, v := range vs {
				rows[i] = rowOf(v)
			}
			return writeList(cmd.OutOrStdout(), rows, format, quiet, volumeTable)
		},
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output (label=<key>[=<value>], name=, driver=, dangling=true|false)")
	c.Flags().StringVar(&format, "format", "", listFormatHelp)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	return c
}

func volumeCreateCmd(g *globalOptions) *cobra.Command {
	var driver string
	var opts, labels []string
	c := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := volumes.Spec{Driver: driver, Name: volumes.RandomName()}
			if len(args) == 1 {
				s.Name = args[0]
			}
			var err error
			if s.DriverOpts, err = parseKeyValues("--opt", opts, true); err != nil {
				return err
			}
			if s.Labels, err = parseKeyValues("--label", labels, false); err != nil {
				return err
			}
			if len(args) == 0 {
				// As Docker: a volume created without a name is anonymous.
				if s.Labels == nil {
					s.Labels = map[string]string{}
				}
				s.Labels[volumes.LabelAnonymous] = ""
			}
			m, err := g.openVolumes()
			if err != nil {
				return err
			}
			v, err := m.Ensure(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		},
	}
	c.Flags().StringVarP(&driver, "driver", "d", volumes.DriverLocal, "volume driver name")
	c.Flags().StringArrayVarP(&opts, "opt", "o", nil, "driver option, e.g. type=tmpfs, device=tmpfs, o=size=64m (repeatable)")
	c.Flags().StringArrayVar(&labels, "label", nil, "metadata label key=value (repeatable)")
	return c
}

func volumeInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.openVolumes()
			if err != nil {
				return err
			}
			return inspectAll(cmd.OutOrStdout(), args, format, func(name string) (volumeInspect, error) {
				v, err := m.Get(cmd.Context(), name)
				if err != nil {
					return volumeInspect{}, err
				}
				return inspectOf(v), nil
			})
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return c
}

func volumeRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes; a volume in use is refused",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.openVolumes()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := m.Remove(cmd.Context(), name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not fail on volumes that do not exist")
	return c
}

func volumePruneCmd(g *globalOptions) *cobra.Command {
	var all, force bool
	var filters []string
	c := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused volumes (anonymous ones unless --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseVolumeFilters(filters)
			if err != nil {
				return err
			}
			if f.Dangling != nil {
				return errors.New("invalid filter \"dangling\" for prune: prune only removes unused volumes")
			}
			if !force {
				what := "anonymous local volumes"
				if all {
					what = "all local volumes"
				}
				if !confirm(cmd, "WARNING! This will remove "+what+" not used by at least one container.") {
					return nil
				}
			}
			m, err := g.openVolumes()
			if err != nil {
				return err
			}
			rep, err := m.Prune(cmd.Context(), volumes.PruneOptions{All: all, Filter: f})
			w := cmd.OutOrStdout()
			if len(rep.Removed) > 0 {
				fmt.Fprintln(w, "Deleted Volumes:")
				for _, n := range rep.Removed {
					fmt.Fprintln(w, n)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(rep.SpaceReclaimed))
			return err
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "provide filter values (label=<key>[=<value>], name=, driver=)")
	return c
}

// reconcilerVolumes adapts the volume store to the reconciler's Volumes
// interface: spec types in, volumes types out.
type reconcilerVolumes struct{ m *volumes.Manager }

var _ reconciler.Volumes = reconcilerVolumes{}

// volumeSpec is a project's top-level volume as the volume store takes it.
func volumeSpec(project string, v spec.Volume) volumes.Spec {
	return volumes.ProjectSpec(project, v.Key, volumes.Spec{
		Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: v.Labels, External: v.External,
	})
}

func (a reconcilerVolumes) EnsureVolume(ctx context.Context, project string, v spec.Volume) error {
	_, err := a.m.Ensure(ctx, volumeSpec(project, v))
	return err
}

func (a reconcilerVolumes) ListVolumes(ctx context.Context, project string) ([]string, error) {
	vs, err := a.m.List(ctx, volumes.Filter{Labels: map[string]string{volumes.LabelProject: project}})
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out, err
}

func (a reconcilerVolumes) Mounts(ctx context.Context, r reconciler.MountRequest) ([]runtime.Mount, error) {
	o := volumes.ResolveOptions{
		ProjectDir: r.Project.WorkingDir, Project: r.Project.Name, Service: r.Service.Name, Number: r.Number,
		Volumes: map[string]volumes.Spec{}, ImageVolumes: r.ImageVolumes,
	}
	for _, v := range r.Project.Volumes {
		o.Volumes[v.Key] = volumeSpec(r.Project.Name, v)
	}
	var reqs []volumes.Request
	for _, mt := range r.Service.Mounts {
		reqs = append(reqs, volumes.Request{
			Type: mt.Type, Source: mt.Source, Target: mt.Target, ReadOnly: mt.ReadOnly, NoCopy: mt.NoCopy,
			CreateHostPath: mt.CreateHostPath, Propagation: mt.Propagation, TmpfsSize: mt.TmpfsSize, TmpfsMode: mt.TmpfsMode,
		})
	}
	for _, t := range r.Service.Tmpfs {
		req, err := volumes.ParseTmpfs(t)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", r.Service.Name, err)
		}
		reqs = append(reqs, req)
	}
	return a.m.Resolve(ctx, o, reqs)
}

func (a reconcilerVolumes) RemoveProjectVolumes(ctx context.Context, project string, keep []string) ([]string, error) {
	return a.m.RemoveProject(ctx, project, keep)
}

// ReleaseAnonymous marks each in-use part of the volume store's joined
// error with reconciler.ErrInUse, so that down can warn about those alone.
func (a reconcilerVolumes) ReleaseAnonymous(ctx context.Context, project string) ([]string, error) {
	released, err := a.m.ReleaseAnonymous(ctx, project)
	if err == nil {
		return released, nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	out := make([]error, 0, len(parts))
	for _, e := range parts {
		if errors.Is(e, volumes.ErrInUse) {
			e = fmt.Errorf("%w (%w)", e, reconciler.ErrInUse)
		}
		out = append(out, e)
	}
	return released, errors.Join(out...)
}
