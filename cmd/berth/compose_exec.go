package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

func init() {
	registerCommand(newComposeExecCmd)
	registerCommand(newComposeRunCmd)
}

// envList resolves -e flags: KEY=VALUE as is, KEY from this environment.
func envList(in []string) []string {
	var out []string
	for _, e := range in {
		if strings.Contains(e, "=") {
			out = append(out, e)
		} else if v, ok := os.LookupEnv(e); ok {
			out = append(out, e+"="+v)
		}
	}
	return out
}

// execIn runs es in container id with this terminal and returns the exit
// code as the command's.
func execIn(ctx context.Context, rt *runtime.Runtime, id string, es runtime.ExecSpec, interactive bool) error {
	if es.Tty {
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			if w, h, err := term.GetSize(fd); err == nil {
				es.ConsoleSize = [2]uint16{uint16(h), uint16(w)}
			}
			if interactive {
				if old, err := term.MakeRaw(fd); err == nil {
					defer term.Restore(fd, old)
				}
			}
			resize := make(chan [2]uint16, 1)
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for range winch {
					if w, h, err := term.GetSize(fd); err == nil {
						select {
						case resize <- [2]uint16{uint16(h), uint16(w)}:
						default:
						}
					}
				}
			}()
			es.Resize = resize
		}
	}
	code, err := rt.Exec(ctx, id, es)
	if err != nil {
		var se *runtime.StartError
		if errors.As(err, &se) {
			return &exitError{code: se.ExitCode, err: err}
		}
		return &exitError{code: 126, err: err}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func newComposeExecCmd(g *globalOptions) *cobra.Command {
	var noTty, detach, privileged, interactive bool
	var env []string
	var user, workdir string
	var index int
	c := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cenv, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			ct, err := cenv.serviceContainer(ctx, args[0], index)
			if err != nil {
				return err
			}
			if !ct.Running() {
				return fmt.Errorf("container %s is not running", ct.Name)
			}
			tty := !noTty && term.IsTerminal(int(os.Stdin.Fd()))
			es := runtime.ExecSpec{Args: args[1:], Env: envList(env), User: user, WorkingDir: workdir, Privileged: privileged, Tty: tty,
				Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			if interactive {
				es.Stdin = cmd.InOrStdin()
			}
			if detach {
				es.Stdin, es.Stdout, es.Stderr, es.Tty = nil, nil, nil, false
				go cenv.rt.Exec(context.WithoutCancel(ctx), ct.ID, es)
				time.Sleep(200 * time.Millisecond)
				return nil
			}
			return execIn(ctx, cenv.rt, ct.ID, es, interactive)
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&noTty, "no-TTY", "T", false, "disable pseudo-TTY allocation (default: auto-detected)")
	f.BoolVarP(&detach, "detach", "d", false, "detached mode: run command in the background")
	f.BoolVarP(&interactive, "interactive", "i", true, "keep STDIN open even if not attached")
	f.BoolVar(&privileged, "privileged", false, "give extended privileges to the process")
	f.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	f.StringVarP(&user, "user", "u", "", "run the command as this user")
	f.StringVarP(&workdir, "workdir", "w", "", "path to workdir directory for this command")
	f.IntVar(&index, "index", 1, "index of the container if service has multiple replicas")
	return c
}

func newComposeRunCmd(g *globalOptions) *cobra.Command {
	var rm, noDeps, servicePorts, detach, noTty, interactive bool
	var env, publish []string
	var name, user, workdir, entrypoint string
	c := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cenv, err := openCompose(cmd, g, composeOpts{})
			if err != nil {
				return err
			}
			p := cenv.project
			s0, ok := p.Service(args[0])
			if !ok {
				return fmt.Errorf("no such service: %s", args[0])
			}
			s := *s0
			if !servicePorts {
				s.Ports = nil
			}
			for _, spec1 := range publish {
				ms, err := spec.ParsePortSpec(spec1)
				if err != nil {
					return fmt.Errorf("--publish: %w", err)
				}
				s.Ports = append(s.Ports, ms...)
			}
			lock, err := cenv.lock(ctx, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer lock.Release()
			// Dependencies first, as up would start them.
			deps := reconciler.Dependencies(p, s0)
			if !noDeps && len(deps) > 0 {
				var names []string
				for _, d := range deps {
					names = append(names, d.Before)
				}
				obs, err := reconciler.Observe(ctx, cenv.deps, p.Name, reconciler.ObserveOptions{Images: imageRefs(p), Store: cenv.store})
				if err != nil {
					return err
				}
				plan, err := reconciler.PlanUp(p, obs, reconciler.PlanOptions{Services: names})
				if err != nil {
					return err
				}
				prog := newProgress(cmd.ErrOrStderr(), "Running", false)
				cenv.exec.Progress = prog.event
				cenv.exec.Monitor = reconciler.NewMonitor(cenv.deps.Containers, cenv.store, nil, cenv.log)
				err = cenv.exec.Apply(ctx, p, plan, reconciler.ApplyOptions{})
				cenv.exec.Monitor.Close()
				prog.finish()
				cenv.exec.Progress = nil
				if err != nil {
					return composeErr(err)
				}
			}
			if err := cenv.exec.EnsureNetworks(ctx, p, &s); err != nil {
				return composeErr(err)
			}
			// The image, when missing, is pulled like up would.
			if _, err := cenv.deps.Images.Get(ctx, s.Image); err != nil {
				if _, err := cenv.deps.Images.Pull(ctx, s.Image, s.Platform); err != nil {
					return err
				}
			}
			tty := !noTty && term.IsTerminal(int(os.Stdin.Fd())) && !detach
			// Compose's -i defaults to true; berth attaches stdin when it
			// is a terminal or -i was given, since attaching to a command
			// that is already gone fails.
			interactive = interactive && (cmd.Flags().Changed("interactive") || term.IsTerminal(int(os.Stdin.Fd())))
			ct, err := cenv.exec.CreateOneoff(ctx, p, &s, reconciler.OneoffOptions{Name: name, Adjust: func(rs *runtime.Spec) {
				if len(args) > 1 {
					rs.Cmd = args[1:]
				}
				if entrypoint != "" {
					rs.Entrypoint = strings.Fields(entrypoint)
				}
				rs.Env = append(rs.Env, envList(env)...)
				if user != "" {
					rs.User = user
				}
				if workdir != "" {
					rs.WorkingDir = workdir
				}
				rs.Tty = tty
				if tty {
					// The pty starts with our size (see container run).
					if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
						rs.ConsoleSize = [2]uint16{uint16(h), uint16(w)}
					}
				}
				rs.OpenStdin = interactive && !detach
			}})
			if err != nil {
				return composeErr(err)
			}
			lock.Release()
			if err := cenv.exec.StartOneoff(ctx, ct); err != nil {
				if rm {
					cenv.exec.RemoveOneoff(context.WithoutCancel(ctx), ct)
				}
				return composeErr(err)
			}
			if detach {
				fmt.Fprintln(cmd.OutOrStdout(), ct.Name)
				return nil
			}
			code, err := attach(ctx, cmd, cenv.rt, ct.ID, interactive, tty)
			if rm {
				if rerr := cenv.exec.RemoveOneoff(context.WithoutCancel(ctx), ct); rerr != nil && err == nil {
					err = rerr
				}
			}
			if err != nil {
				return &exitError{code: code, err: err}
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&rm, "rm", false, "automatically remove the container when it exits")
	f.BoolVar(&noDeps, "no-deps", false, "don't start linked services")
	f.BoolVarP(&servicePorts, "service-ports", "P", false, "run command with all service's ports enabled and mapped to the host")
	f.BoolVarP(&detach, "detach", "d", false, "run container in background and print container ID")
	f.BoolVarP(&noTty, "no-TTY", "T", false, "disable pseudo-TTY allocation (default: auto-detected)")
	f.BoolVarP(&interactive, "interactive", "i", true, "keep STDIN open even if not attached")
	f.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	f.StringArrayVarP(&publish, "publish", "p", nil, "publish a container's port(s) to the host ([host_ip:][host_port:]container_port[/proto])")
	f.StringVar(&name, "name", "", "assign a name to the container")
	f.StringVarP(&user, "user", "u", "", "run as specified username or uid")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&entrypoint, "entrypoint", "", "override the entrypoint of the image")
	return c
}
