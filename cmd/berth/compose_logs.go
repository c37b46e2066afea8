package main

import (
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
)

func init() { registerCommand(newLogsCmd) }

func newLogsCmd(g *globalOptions) *cobra.Command {
	var follow, timestamps, noColor, noPrefix bool
	var tail, since string
	var index int
	c := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			cs, err := env.selectServices(ctx, args, false)
			if err != nil {
				return err
			}
			n := -1
			if tail != "all" && tail != "" {
				if n, err = strconv.Atoi(tail); err != nil {
					return err
				}
			}
			t, err := parseSince(since)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			lp := &logPrinter{w: out, color: !noColor && isTerminal(out), noPrefix: noPrefix, timestamps: timestamps}
			for _, ct := range cs {
				if w := len(ct.Service()) + 1 + len(strconv.Itoa(ct.Number())); w > lp.width {
					lp.width = w
				}
			}
			logger := env.deps.Containers.(reconciler.Logger)
			var wg sync.WaitGroup
			errs := make([]error, len(cs))
			for i, ct := range cs {
				if index > 0 && ct.Number() != index {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if follow {
						// As Compose's: across its restarts, until it has
						// stopped for good.
						followContainer(ctx, env, lp, ct, reconciler.LogOptions{Tail: n, Since: t}, env.stoppedForGood)
						return
					}
					errs[i] = logger.Logs(ctx, ct.ID, reconciler.LogOptions{Tail: n, Since: t}, func(l reconciler.LogLine) error {
						lp.line(ct, l)
						return nil
					})
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil && ctx.Err() == nil {
					return err
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "follow log output")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	f.BoolVar(&noColor, "no-color", false, "produce monochrome output")
	f.BoolVar(&noPrefix, "no-log-prefix", false, "don't print prefix in logs")
	f.StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs for each container")
	f.StringVar(&since, "since", "", "show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.IntVar(&index, "index", 0, "index of the container if service has multiple replicas")
	return c
}

// stoppedForGood reports whether a stopped container c will stay stopped:
// no supervisor runs for the project, the user stopped it, or its restart
// policy does not restart it.
func (c *composeEnv) stoppedForGood(ct reconciler.Container) bool {
	if c.store.SupervisorPid() == 0 {
		return true
	}
	if stopped, err := c.store.StoppedByUser(); err != nil || stopped[ct.Name] {
		return true
	}
	return !willRestart(c.project, ct)
}
