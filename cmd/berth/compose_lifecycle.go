package main

// start, stop, restart, kill, pause, unpause, rm: Compose's verbs acting
// on the existing containers of services.

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
	"github.com/berth-dev/berth/volumes"
)

func init() {
	registerCommand(newStartCmd)
	registerCommand(newStopCmd)
	registerCommand(newRestartCmd)
	registerCommand(newKillCmd)
	registerCommand(func(g *globalOptions) *cobra.Command { return newPauseCmd(g, true) })
	registerCommand(func(g *globalOptions) *cobra.Command { return newPauseCmd(g, false) })
	registerCommand(newRmCmd)
}

// lifecycle opens the project, takes its lock and selects the containers
// of the services in args, then runs fn.
func lifecycle(cmd *cobra.Command, g *globalOptions, args []string, title string, fn func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error) error {
	ctx := cmd.Context()
	env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
	if err != nil {
		return err
	}
	lock, err := env.lock(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer lock.Release()
	cs, err := env.selectServices(ctx, args, false)
	if err != nil {
		return err
	}
	prog := newProgress(cmd.ErrOrStderr(), title, false)
	env.exec.Progress = prog.event
	err = fn(ctx, env, cs)
	prog.finish()
	return composeErr(err)
}

func newStartCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return lifecycle(cmd, g, args, "Running", func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				if len(cs) == 0 {
					return errors.New("no containers to start")
				}
				return env.exec.StartContainers(ctx, env.project, cs)
			})
		},
	}
}

func newStopCmd(g *globalOptions) *cobra.Command {
	var timeout int
	c := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, args []string) error {
			return lifecycle(cmd, g, args, "Stopping", func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				return env.exec.StopContainers(ctx, env.project, cs, durationFlag(timeout))
			})
		},
	}
	c.Flags().IntVarP(&timeout, "timeout", "t", -1, "specify a shutdown timeout in seconds")
	return c
}

func newRestartCmd(g *globalOptions) *cobra.Command {
	var timeout int
	var noDeps bool
	c := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !noDeps {
				// Compose's depends_on.restart: true restarts the dependents
				// of a service restarted explicitly.
				if p, err := g.loadProject(cmd.Context(), cmd.InOrStdin()); err == nil {
					args = withRestartDependents(p, args)
				}
			}
			return lifecycle(cmd, g, args, "Restarting", func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				if err := env.exec.StopContainers(ctx, env.project, cs, durationFlag(timeout)); err != nil {
					return err
				}
				fresh, err := env.selectServices(ctx, args, false)
				if err != nil {
					return err
				}
				return env.exec.StartContainers(ctx, env.project, fresh)
			})
		},
	}
	c.Flags().IntVarP(&timeout, "timeout", "t", -1, "specify a shutdown timeout in seconds")
	c.Flags().BoolVar(&noDeps, "no-deps", false, "don't restart dependent services")
	return c
}

// withRestartDependents adds, transitively, the services whose
// depends_on entry for one of names says restart: true.
func withRestartDependents(p *spec.Project, names []string) []string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	for changed := true; changed; {
		changed = false
		for _, s := range p.Services {
			if in[s.Name] {
				continue
			}
			for dep, d := range s.DependsOn {
				if d.Restart && in[dep] {
					in[s.Name] = true
					names = append(names, s.Name)
					changed = true
					break
				}
			}
		}
	}
	return names
}

func newKillCmd(g *globalOptions) *cobra.Command {
	var signal string
	var removeOrphans bool
	c := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Force stop service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return lifecycle(cmd, g, args, "Killing", func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				return env.exec.KillContainers(ctx, cs, signal)
			})
		},
	}
	c.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
	c.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "remove containers for services not defined in the Compose file")
	return c
}

func newPauseCmd(g *globalOptions, pause bool) *cobra.Command {
	verb, short, working, status := "unpause", "Unpause services", "Unpausing", "Unpaused"
	if pause {
		verb, short, working, status = "pause", "Pause services", "Pausing", "Paused"
	}
	return &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lifecycle(cmd, g, args, status, func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				p, ok := env.deps.Containers.(reconciler.Pauser)
				if !ok {
					return errors.New("pause is not supported")
				}
				var errs []error
				for _, ct := range cs {
					if (pause && ct.Status != "running") || (!pause && ct.Status != "paused") {
						continue
					}
					done := env.exec.Progress
					done(reconciler.Event{Kind: "Container", Name: ct.Name, Status: working})
					var err error
					if pause {
						err = p.Pause(ctx, ct.ID)
					} else {
						err = p.Unpause(ctx, ct.ID)
					}
					done(reconciler.Event{Kind: "Container", Name: ct.Name, Status: status, Done: true, Err: err})
					if err != nil {
						errs = append(errs, fmt.Errorf("%s container %s: %w", verb, ct.Name, err))
					}
				}
				return errors.Join(errs...)
			})
		},
	}
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force, stop, volumes bool
	c := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Removes stopped service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return lifecycle(cmd, g, args, "Removing", func(ctx context.Context, env *composeEnv, cs []reconciler.Container) error {
				if stop {
					if err := env.exec.StopContainers(ctx, env.project, cs, nil); err != nil {
						return err
					}
					var err error
					if cs, err = env.selectServices(ctx, args, false); err != nil {
						return err
					}
				}
				var gone []reconciler.Container
				for _, ct := range cs {
					if !ct.Running() {
						gone = append(gone, ct)
					}
				}
				if len(gone) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No stopped containers")
					return nil
				}
				_ = force // berth rm never prompts; -f is accepted for Compose compatibility
				if err := env.exec.RemoveContainers(ctx, env.project, gone, false); err != nil {
					return err
				}
				if !volumes {
					return env.exec.ReleaseAnonymous(ctx, env.project.Name)
				}
				return removeAnonymous(ctx, g, env.project.Name, gone)
			})
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "don't ask to confirm removal")
	c.Flags().BoolVarP(&stop, "stop", "s", false, "stop the containers, if required, before removing")
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove any anonymous volumes attached to containers")
	return c
}

// removeAnonymous is `rm -v`: the anonymous volumes of the removed
// containers go with them (without -v, the executor releases them).
func removeAnonymous(ctx context.Context, g *globalOptions, project string, gone []reconciler.Container) error {
	m, err := g.openVolumes()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range gone {
		vs, err := m.List(ctx, volumes.Filter{Labels: map[string]string{
			volumes.LabelProject: project, volumes.LabelAnonymous: "",
			volumes.LabelService: c.Service(), volumes.LabelNumber: strconv.Itoa(c.Number()),
		}})
		if err != nil {
			return err
		}
		for _, v := range vs {
			if err := m.Remove(ctx, v.Name, false); err != nil && !errors.Is(err, volumes.ErrInUse) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
