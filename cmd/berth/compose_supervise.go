package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
)

func init() { registerCommand(newSuperviseCmd) }

// newSuperviseCmd is the hidden command `berth up -d` re-executes as the
// project's detached supervisor. It supervises the project as last applied
// (project.json in the state dir) until SIGTERM, which ends supervision
// and leaves the containers running (the shutdown path).
func newSuperviseCmd(g *globalOptions) *cobra.Command {
	var watch bool
	var goFD int
	c := &cobra.Command{
		Use:    reconciler.SupervisorMarker,
		Short:  "Supervise a project (started by up -d)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.ProjectName == "" {
				return fmt.Errorf("supervise needs -p")
			}
			st, err := reconciler.OpenStore(g.Root, g.ProjectName)
			if err != nil {
				return err
			}
			if goFD > 0 {
				// Started by up ahead of need: wait until up has saved
				// the project. End-of-file means up ended first.
				f := os.NewFile(uintptr(goFD), "go")
				n, _ := f.Read(make([]byte, 1))
				f.Close()
				if n != 1 {
					fmt.Fprintln(os.Stderr, "berth supervise: up ended before the project was saved; not supervising")
					return nil
				}
			}
			if pid := st.SupervisorPid(); pid != 0 && pid != os.Getpid() {
				return fmt.Errorf("project %s is already supervised by pid %d", g.ProjectName, pid)
			}
			p, err := st.LoadProject()
			if err != nil {
				return err
			}
			env, err := openComposeFor(g, p)
			if err != nil {
				return err
			}
			env.exec.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if err := st.WritePidFile(); err != nil {
				return err
			}
			defer st.RemovePidFile()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			defer stop()
			env.exec.Log.Info("supervisor started", "project", p.Name, "pid", os.Getpid())
			sup := &reconciler.Supervisor{Exec: env.exec, Project: p}
			if watch {
				changes, err := watchFiles(ctx, p.ConfigFiles)
				if err != nil {
					return err
				}
				sup.Changes = changes
				sup.Reload = func(ctx context.Context) (*spec.Project, error) { return g.loadProject(ctx, nil) }
				env.exec.Log.Info("watching the manifest", "files", p.ConfigFiles)
			}
			err = sup.Run(ctx)
			env.exec.Log.Info("supervisor stopped", "project", p.Name)
			return err
		},
	}
	c.Flags().BoolVar(&watch, "watch", false, "re-apply the manifest (the global -f files) when it changes")
	c.Flags().IntVar(&goFD, "go-fd", 0, "wait for a byte on this descriptor before starting (up -d starts the supervisor ahead of need)")
	return c
}
