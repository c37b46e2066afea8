package main

// top, port, images, pull, wait, ls: Compose's read-mostly verbs.

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
)

func init() {
	registerCommand(newTopCmd)
	registerCommand(newPortCmd)
	registerCommand(newImagesCmd)
	registerCommand(newPullCmd)
	registerCommand(newWaitCmd)
	registerCommand(newLsCmd)
}

func newTopCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
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
			out := cmd.OutOrStdout()
			for _, ct := range cs {
				if !ct.Running() {
					continue
				}
				ps, err := env.rt.Top(ctx, ct.ID)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, ct.Name)
				tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "UID\tPID\tPPID\tSTIME\tCMD")
				for _, p := range ps {
					fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\n", p.UID, p.Pid, p.PPid, p.Started.Format("15:04"), p.Cmd)
				}
				tw.Flush()
				fmt.Fprintln(out)
			}
			return nil
		},
	}
}

func newPortCmd(g *globalOptions) *cobra.Command {
	var protocol string
	var index int
	c := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			port, err := strconv.ParseUint(args[1], 10, 16)
			if err != nil {
				return fmt.Errorf("invalid port %q", args[1])
			}
			ct, err := env.serviceContainer(ctx, args[0], index)
			if err != nil {
				return err
			}
			sandbox := ct.Name
			if s, ok := env.project.Service(ct.Service()); ok && s.Pod != "" {
				sandbox = reconciler.PodSandboxID(env.project.Name, s.Pod)
			}
			ports, err := machineNetworks(env).Ports(ctx, sandbox)
			if err != nil {
				return err
			}
			for _, p := range ports {
				if p.ContainerPort == uint16(port) && (p.Protocol == protocol || p.Protocol == "" && protocol == "tcp") {
					ip := p.HostIP
					if ip == "" {
						ip = "0.0.0.0"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%d\n", ip, p.HostPort)
					return nil
				}
			}
			return fmt.Errorf("no port %d/%s published for %s", port, protocol, ct.Name)
		},
	}
	c.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	c.Flags().IntVar(&index, "index", 1, "index of the container if service has multiple replicas")
	return c
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	c := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			cs, err := env.selectServices(ctx, args, true)
			if err != nil {
				return err
			}
			type row struct {
				ContainerName string `json:"ContainerName"`
				Repository    string `json:"Repository"`
				Tag           string `json:"Tag"`
				ID            string `json:"ID"`
				Size          int64  `json:"Size"`
			}
			var rows []row
			for _, ct := range cs {
				st, err := env.rt.Inspect(ctx, ct.ID)
				if err != nil {
					continue
				}
				ref := st.Image.Ref
				if ref == "" || strings.HasPrefix(ref, "sha256:") {
					if s, ok := env.project.Service(ct.Service()); ok {
						ref = s.Image
					}
				}
				repo, tag := ref, "latest"
				if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
					repo, tag = ref[:i], ref[i+1:]
				}
				var size int64
				if img, err := env.images.Get(ctx, st.Image.ID); err == nil {
					size = img.Size
				}
				rows = append(rows, row{ct.Name, repo, tag, st.Image.ID, size})
			}
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(out, r.ID)
					}
				}
			case format == "json":
				if rows == nil {
					rows = []row{}
				}
				return json.NewEncoder(out).Encode(rows)
			default:
				tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
				for _, r := range rows {
					id := strings.TrimPrefix(r.ID, "sha256:")
					if len(id) > 12 {
						id = id[:12]
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ContainerName, r.Repository, r.Tag, id, humanSize(uint64(r.Size)))
				}
				tw.Flush()
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	c.Flags().StringVar(&format, "format", "table", "format the output: table or json")
	return c
}

func newPullCmd(g *globalOptions) *cobra.Command {
	var quiet, ignoreFailures, includeDeps bool
	c := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{})
			if err != nil {
				return err
			}
			scope, err := reconciler.Scope(env.project, args, !includeDeps)
			if err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr(), "Pulling", quiet)
			var mu sync.Mutex
			var errs []string
			var wg sync.WaitGroup
			seen := map[string]bool{}
			for _, s := range env.project.Services {
				if !scope[s.Name] || seen[s.Image] || s.PullPolicy == "never" || s.PullPolicy == "build" {
					continue
				}
				seen[s.Image] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					prog.event(reconciler.Event{Kind: "Image", Name: s.Image, Status: "Pulling"})
					_, err := env.deps.Images.Pull(ctx, s.Image, s.Platform)
					prog.event(reconciler.Event{Kind: "Image", Name: s.Image, Status: "Pulled", Done: true, Err: err})
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("service %s: %v", s.Name, err))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			prog.finish()
			if len(errs) > 0 && !ignoreFailures {
				sort.Strings(errs)
				return fmt.Errorf("%s", strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "pull without printing progress information")
	c.Flags().BoolVar(&ignoreFailures, "ignore-pull-failures", false, "pull what it can and ignores images with pull failures")
	c.Flags().BoolVar(&includeDeps, "include-deps", false, "also pull services declared as dependencies")
	return c
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	var downProject bool
	c := &cobra.Command{
		Use:   "wait SERVICE [SERVICE...] [OPTIONS]",
		Short: "Block until containers of all (or specified) services stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
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
			code := 0
			for _, ct := range cs {
				res, err := env.deps.Containers.Wait(ctx, ct.ID)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), res.Code)
				if code == 0 {
					code = res.Code
				}
			}
			if downProject {
				lock, err := env.lock(ctx, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				defer lock.Release()
				env.store.StopSupervisor(10 * time.Second)
				if err := env.exec.Down(ctx, env.project.Name, env.project, reconciler.DownOptions{}); err != nil {
					return err
				}
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&downProject, "down-project", false, "drops project when the first container stops")
	return c
}

func newLsCmd(g *globalOptions) *cobra.Command {
	var all, quiet bool
	var format string
	c := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rt, _, err := g.openRuntime()
			if err != nil {
				return err
			}
			sts, err := rt.List(ctx, nil)
			if err != nil {
				return err
			}
			type project struct {
				Name        string `json:"Name"`
				Status      string `json:"Status"`
				ConfigFiles string `json:"ConfigFiles"`
				counts      map[runtime.Status]int
			}
			byName := map[string]*project{}
			for _, st := range sts {
				name := st.Spec.Labels[reconciler.LabelProject]
				if name == "" {
					continue
				}
				p := byName[name]
				if p == nil {
					p = &project{Name: name, ConfigFiles: st.Spec.Labels[reconciler.LabelConfigFile], counts: map[runtime.Status]int{}}
					byName[name] = p
				}
				p.counts[st.Status]++
			}
			// Projects with state but no containers left (up --no-start
			// of nothing, or an interrupted down) are listed with -a.
			if ents, err := os.ReadDir(reconciler.ProjectsDir(g.Root)); err == nil && all {
				for _, e := range ents {
					if _, ok := byName[e.Name()]; !ok && e.IsDir() {
						if st, err := reconciler.OpenStore(g.Root, e.Name()); err == nil {
							if p, err := st.LoadProject(); err == nil {
								byName[e.Name()] = &project{Name: e.Name(), ConfigFiles: strings.Join(p.ConfigFiles, ","), counts: map[runtime.Status]int{}}
							}
						}
					}
				}
			}
			var rows []*project
			for _, p := range byName {
				var parts []string
				for _, s := range []runtime.Status{runtime.StatusRunning, runtime.StatusPaused, runtime.StatusExited, runtime.StatusCreated, runtime.StatusDead} {
					if n := p.counts[s]; n > 0 {
						parts = append(parts, fmt.Sprintf("%s(%d)", s, n))
					}
				}
				p.Status = strings.Join(parts, ", ")
				if p.Status == "" {
					p.Status = "empty"
				}
				if !all && p.counts[runtime.StatusRunning] == 0 {
					continue
				}
				rows = append(rows, p)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				for _, p := range rows {
					fmt.Fprintln(out, p.Name)
				}
			case format == "json":
				if rows == nil {
					rows = []*project{}
				}
				return json.NewEncoder(out).Encode(rows)
			default:
				tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
				for _, p := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Status, p.ConfigFiles)
				}
				tw.Flush()
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show all stopped Compose projects")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display project names")
	c.Flags().StringVar(&format, "format", "table", "format the output: table or json")
	return c
}
