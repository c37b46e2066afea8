package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
)

func init() { registerCommand(newDownCmd) }

func newDownCmd(g *globalOptions) *cobra.Command {
	var volumes, removeOrphans bool
	var rmi string
	var timeout int
	c := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if rmi != "" && rmi != "all" && rmi != "local" {
				return &exitError{code: 1, err: errInvalidRmi}
			}
			var env *composeEnv
			var err error
			if p, ok := g.appliedProject(); ok {
				env, err = openComposeFor(g, p)
			} else {
				env, err = openCompose(cmd, g, composeOpts{manifestOptional: true})
			}
			if err != nil {
				return err
			}
			lock, err := env.lock(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer lock.Release()
			if err := env.store.StopSupervisor(10 * time.Second); err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), "Running", false)
			env.exec.Progress = prog.event
			err = env.exec.Down(ctx, env.project.Name, env.project, reconciler.DownOptions{
				RemoveVolumes: volumes, RemoveImages: rmi, StopTimeout: durationFlag(timeout), RemoveOrphans: removeOrphans,
			})
			prog.finish()
			if err == nil {
				env.forgetApplied()
			}
			return composeErr(err)
		},
	}
	f := c.Flags()
	f.BoolVarP(&volumes, "volumes", "v", false, "remove named volumes declared in the volumes section of the Compose file and anonymous volumes attached to containers")
	f.BoolVar(&removeOrphans, "remove-orphans", false, "remove containers for services not defined in the Compose file")
	f.StringVar(&rmi, "rmi", "", `remove images used by services ("local" | "all")`)
	f.IntVarP(&timeout, "timeout", "t", -1, "specify a shutdown timeout in seconds")
	return c
}
