package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
)

// Docker's top-level shortcuts (run, ps, exec, logs) are not registered:
// at the top level those names are the compose project commands
// (compose_*.go), as in `docker compose ps`. Single containers are always
// `berth container ...`, where ps is an alias of ls.
func init() {
	registerCommand(newContainerCmd)
}

func newContainerCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "container",
		Short: "Manage single containers (like docker container)",
	}
	c.AddCommand(
		containerRunCmd(g, "run"), containerRunCmd(g, "create"),
		containerStartCmd(g), containerStopCmd(g, "stop"), containerStopCmd(g, "restart"),
		containerKillCmd(g), containerRmCmd(g), containerLsCmd(g, "ls"), containerLogsCmd(g),
		containerExecCmd(g), containerInspectCmd(g), containerPauseCmd(g, "pause"),
		containerPauseCmd(g, "unpause"), containerCpCmd(g), containerTopCmd(g), containerWaitCmd(g),
		containerPortCmd(g),
	)
	return c
}

// berthErr gives Docker's exit code 125 to an error of berth itself, and
// the process's own code to a failed start (126, 127).
func berthErr(err error) error {
	if err == nil {
		return nil
	}
	var se *runtime.StartError
	if errors.As(err, &se) {
		return &exitError{code: se.ExitCode, err: err}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 125, err: err}
}

// runOptions are the flags of run and create.
type runOptions struct {
	detach, rm, interactive, tty, init, readOnly, privileged        bool
	name, workdir, user, entrypoint, hostname, domainname           string
	env, envFiles, tmpfs, capAdd, capDrop, volumes, labels, ulimits []string
	sysctls, securityOpt, logOpts, groupAdd                         []string
	memory, memorySwap, shmSize, cpus, cpusetCpus, stopSignal, pull string
	restart                                                         string
	cpuShares                                                       uint64
	pidsLimit                                                       int64
	stopTimeout                                                     int
	net                                                             netOptions
	modes                                                           modeOptions
}

func containerRunCmd(g *globalOptions, verb string) *cobra.Command {
	o := &runOptions{}
	short := "Create and run a container from an image"
	if verb == "create" {
		short = "Create a container from an image without starting it"
	}
	c := &cobra.Command{
		Use:   verb + " [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd, g, o, verb, args)
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	if verb == "run" {
		f.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the container ID")
	}
	f.BoolVar(&o.rm, "rm", false, "remove the container when it exits")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "keep stdin open and attach it")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringVar(&o.name, "name", "", "container name")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to take it from here)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "user (name|uid[:group|gid])")
	f.StringArrayVar(&o.groupAdd, "group-add", nil, "additional groups")
	f.StringVar(&o.entrypoint, "entrypoint", "", "override the image's entrypoint")
	f.BoolVar(&o.init, "init", false, "run an init inside the container that forwards signals and reaps processes")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit (e.g. 64m, 1g)")
	f.StringVar(&o.memorySwap, "memory-swap", "", "memory+swap limit; -1 = unlimited")
	f.StringVar(&o.cpus, "cpus", "", "number of CPUs (e.g. 0.5)")
	f.Uint64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "maximum number of processes (-1 = unlimited)")
	f.BoolVar(&o.readOnly, "read-only", false, "mount the container's root filesystem read-only")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "mount a tmpfs (PATH[:size=N,mode=M,noexec...])")
	f.StringArrayVar(&o.capAdd, "cap-add", nil, "add a Linux capability (or ALL)")
	f.StringArrayVar(&o.capDrop, "cap-drop", nil, "drop a Linux capability (or ALL)")
	f.BoolVar(&o.privileged, "privileged", false, "give all capabilities and devices, no masked paths")
	addModeFlags(f, &o.modes)
	// -h is Docker's --hostname, so help is --help only.
	f.Bool("help", false, "help for "+verb)
	f.StringVarP(&o.hostname, "hostname", "h", "", "container host name")
	f.StringVar(&o.domainname, "domainname", "", "container NIS domain name")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "bind mount HOST:CONTAINER[:ro|rw,...]")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "set a label KEY=VALUE")
	f.StringArrayVar(&o.ulimits, "ulimit", nil, "ulimit NAME=SOFT[:HARD]")
	f.StringArrayVar(&o.sysctls, "sysctl", nil, "namespaced sysctl KEY=VALUE")
	f.StringArrayVar(&o.securityOpt, "security-opt", nil, "security option (no-new-privileges[:true|false])")
	f.StringArrayVar(&o.logOpts, "log-opt", nil, "log option (max-size=10m, max-file=3)")
	f.StringVar(&o.shmSize, "shm-size", "", "size of /dev/shm (default 64m)")
	f.StringVar(&o.stopSignal, "stop-signal", "", "signal to stop the container (default: the image's, else SIGTERM)")
	f.IntVar(&o.stopTimeout, "stop-timeout", -1, "seconds to wait before killing the container on stop")
	f.StringVar(&o.pull, "pull", "missing", "pull the image before creating: always, missing, never")
	f.StringVar(&o.restart, "restart", "no", "restart policy: only no (a single container has no supervisor; use restart: in a compose file)")
	addNetFlags(c, &o.net)
	return c
}

// parseSize reads Docker-style sizes: 512, 64k, 64m, 1g (binary units).
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	ls := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	mult := int64(1)
	switch {
	case strings.HasSuffix(ls, "k"):
		mult, ls = 1<<10, strings.TrimSuffix(ls, "k")
	case strings.HasSuffix(ls, "m"):
		mult, ls = 1<<20, strings.TrimSuffix(ls, "m")
	case strings.HasSuffix(ls, "g"):
		mult, ls = 1<<30, strings.TrimSuffix(ls, "g")
	}
	v, err := strconv.ParseFloat(ls, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(v * float64(mult)), nil
}

// specFromRunOptions turns run/create flags into a runtime.Spec.
func specFromRunOptions(o *runOptions, args []string, lookupEnv func(string) (string, bool)) (runtime.Spec, error) {
	if o.restart != "" && o.restart != "no" {
		// Docker's daemon restarts such a container; berth has none, and
		// only a project's supervisor (berth up) restarts containers.
		return runtime.Spec{}, fmt.Errorf("--restart %s: a single container has no supervisor to restart it (berth has no daemon); "+
			"give the service restart: %s in a compose file and run berth up", o.restart, o.restart)
	}
	s := runtime.Spec{
		Name: o.name, Image: args[0], WorkingDir: o.workdir, User: o.user, GroupAdd: o.groupAdd,
		Tty: o.tty, OpenStdin: o.interactive, Init: o.init, Hostname: o.hostname, Domainname: o.domainname,
		ReadOnly: o.readOnly, Privileged: o.privileged, CapAdd: o.capAdd, CapDrop: o.capDrop,
		StopSignal: o.stopSignal, Labels: map[string]string{},
	}
	if len(args) > 1 {
		s.Cmd = args[1:]
	}
	if o.entrypoint != "" {
		s.Entrypoint = []string{o.entrypoint}
	}
	for _, file := range o.envFiles {
		vars, err := readEnvFile(file, lookupEnv)
		if err != nil {
			return s, err
		}
		s.Env = append(s.Env, vars...)
	}
	for _, e := range o.env {
		if !strings.Contains(e, "=") {
			if v, ok := lookupEnv(e); ok {
				s.Env = append(s.Env, e+"="+v)
			}
			continue
		}
		s.Env = append(s.Env, e)
	}
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		s.Labels[k] = v
	}
	var err error
	if s.Resources.Memory, err = parseSize(o.memory); err != nil {
		return s, fmt.Errorf("--memory: %w", err)
	}
	if o.memorySwap == "-1" {
		s.Resources.MemorySwap = -1
	} else if s.Resources.MemorySwap, err = parseSize(o.memorySwap); err != nil {
		return s, fmt.Errorf("--memory-swap: %w", err)
	}
	if o.cpus != "" {
		v, err := strconv.ParseFloat(o.cpus, 64)
		if err != nil || v <= 0 {
			return s, fmt.Errorf("--cpus: invalid value %q", o.cpus)
		}
		s.Resources.NanoCPUs = int64(v * 1e9)
	}
	s.Resources.CPUShares = o.cpuShares
	s.Resources.CPUSetCPUs = o.cpusetCpus
	s.Resources.PidsLimit = o.pidsLimit
	if s.ShmSize, err = parseSize(o.shmSize); err != nil {
		return s, fmt.Errorf("--shm-size: %w", err)
	}
	if o.stopTimeout >= 0 {
		d := time.Duration(o.stopTimeout) * time.Second
		s.StopTimeout = &d
	}
	for _, t := range o.tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return s, err
		}
		s.Mounts = append(s.Mounts, m)
	}
	for _, v := range o.volumes {
		m, err := parseVolume(v)
		if err != nil {
			return s, err
		}
		s.Mounts = append(s.Mounts, m)
	}
	for _, u := range o.ulimits {
		ul, err := parseUlimit(u)
		if err != nil {
			return s, err
		}
		s.Ulimits = append(s.Ulimits, ul)
	}
	for _, kv := range o.sysctls {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return s, fmt.Errorf("--sysctl %q: want KEY=VALUE", kv)
		}
		if s.Sysctls == nil {
			s.Sysctls = map[string]string{}
		}
		s.Sysctls[k] = v
	}
	if err := o.modes.apply(&s); err != nil {
		return s, err
	}
	for _, so := range o.securityOpt {
		switch so {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
			t := true
			s.NoNewPrivileges = &t
		case "no-new-privileges:false", "no-new-privileges=false":
			f := false
			s.NoNewPrivileges = &f
		default:
			return s, fmt.Errorf("--security-opt %q: not supported (no-new-privileges[:true|false])", so)
		}
	}
	for _, lo := range o.logOpts {
		k, v, _ := strings.Cut(lo, "=")
		switch k {
		case "max-size":
			if s.Log.MaxSize, err = parseSize(v); err != nil {
				return s, fmt.Errorf("--log-opt max-size: %w", err)
			}
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return s, fmt.Errorf("--log-opt max-file=%q: want a number ≥ 1", v)
			}
			s.Log.MaxFiles = n
		default:
			return s, fmt.Errorf("--log-opt %q: only max-size and max-file", lo)
		}
	}
	return s, nil
}

func readEnvFile(path string, lookupEnv func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			if v, ok := lookupEnv(line); ok {
				out = append(out, line+"="+v)
			}
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

func parseTmpfs(s string) (runtime.Mount, error) {
	target, opts, _ := strings.Cut(s, ":")
	m := runtime.Mount{Type: "tmpfs", Target: target}
	if opts == "" {
		return m, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "size":
			n, err := parseSize(v)
			if err != nil {
				return m, fmt.Errorf("--tmpfs %s: %w", s, err)
			}
			m.TmpfsSize = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, fmt.Errorf("--tmpfs %s: mode %q: %w", s, v, err)
			}
			m.TmpfsMode = uint32(n)
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			m.Options = append(m.Options, o)
		}
	}
	return m, nil
}

// parseVolume reads -v HOST:CONTAINER[:opts]; named volumes come with
// compose projects (`berth volume`), so HOST must be absolute here.
func parseVolume(s string) (runtime.Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return runtime.Mount{}, fmt.Errorf("-v %q: want HOST-PATH:CONTAINER-PATH[:OPTIONS]", s)
	}
	src, err := filepath.Abs(parts[0])
	if err != nil || !strings.HasPrefix(parts[0], "/") && !strings.HasPrefix(parts[0], ".") {
		return runtime.Mount{}, fmt.Errorf("-v %q: the host path must be absolute or start with . (named volumes: use a compose file)", s)
	}
	m := runtime.Mount{Type: "bind", Source: src, Target: parts[1]}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.ReadOnly = true
			case "rw", "z", "Z":
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				m.Propagation = o
			default:
				return m, fmt.Errorf("-v %q: unknown option %q", s, o)
			}
		}
	}
	return m, nil
}

func parseUlimit(s string) (runtime.Ulimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return runtime.Ulimit{}, fmt.Errorf("--ulimit %q: want NAME=SOFT[:HARD]", s)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	soft, err := strconv.ParseInt(softS, 10, 64)
	if err != nil {
		return runtime.Ulimit{}, fmt.Errorf("--ulimit %q: %w", s, err)
	}
	hard := soft
	if hasHard {
		if hard, err = strconv.ParseInt(hardS, 10, 64); err != nil {
			return runtime.Ulimit{}, fmt.Errorf("--ulimit %q: %w", s, err)
		}
	}
	return runtime.Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// ensureImage pulls ref when policy asks for it.
func ensureImage(ctx context.Context, cmd *cobra.Command, store *image.Store, ref, policy string) error {
	switch policy {
	case "never":
		return nil
	case "missing", "":
		if _, err := store.Get(ctx, ref); err == nil {
			return nil
		} else if !errors.Is(err, image.ErrNotFound) {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Unable to find image '%s' locally\n", ref)
	case "always":
	default:
		return fmt.Errorf("--pull %q: want always, missing or never", policy)
	}
	_, err := store.Pull(ctx, ref, image.PullOptions{})
	return err
}

func runContainer(cmd *cobra.Command, g *globalOptions, o *runOptions, verb string, args []string) error {
	ctx := cmd.Context()
	spec, err := specFromRunOptions(o, args, os.LookupEnv)
	if err != nil {
		return berthErr(err)
	}
	np, err := parseNetOptions(&o.net)
	if err != nil {
		return berthErr(err)
	}
	rt, store, err := g.openRuntime()
	if err != nil {
		return berthErr(err)
	}
	nets, err := g.openNetworks()
	if err != nil {
		return berthErr(err)
	}
	if err := ensureImage(ctx, cmd, store, spec.Image, o.pull); err != nil {
		return berthErr(err)
	}
	if err := o.modes.joinPidIpc(ctx, rt, &spec); err != nil {
		return berthErr(err)
	}
	var img *image.Image
	if np.all {
		if img, err = store.Get(ctx, spec.Image); err != nil {
			return berthErr(err)
		}
	}
	foreground := verb == "run" && !o.detach
	if o.tty && foreground && term.IsTerminal(int(os.Stdin.Fd())) {
		// The pty starts with our size, as Docker's ConsoleSize: a resize
		// after the start would race the process's first look at it.
		if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
			spec.ConsoleSize = [2]uint16{uint16(h), uint16(w)}
		}
	}
	// A detached --rm container is removed by its shim; in the foreground
	// we remove it ourselves after reading its exit code.
	spec.AutoRemove = o.rm && !foreground
	st, err := createWithNetwork(ctx, g, cmd.ErrOrStderr(), rt, nets, img, np, spec)
	if err != nil {
		return berthErr(err)
	}
	if verb == "create" {
		fmt.Fprintln(cmd.OutOrStdout(), st.ID)
		return nil
	}
	cleanup := func() {
		if o.rm {
			if err := removeContainer(context.WithoutCancel(ctx), rt, nets, st.ID, true); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				fmt.Fprintln(cmd.ErrOrStderr(), "berth:", err)
			}
		}
	}
	if err := rt.Start(ctx, st.ID); err != nil {
		// Without --rm the container stays (as with Docker), and so does
		// its sandbox: `start` may run it again.
		cleanup()
		return berthErr(err)
	}
	if !foreground {
		fmt.Fprintln(cmd.OutOrStdout(), st.ID)
		return nil
	}
	code, err := attach(ctx, cmd, rt, st.ID, o.interactive, o.tty)
	cleanup()
	if err != nil {
		return berthErr(err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// createWithNetwork makes the container's network (sandbox, networks,
// published ports) and then the container, under the container-network
// lock. A port conflict or any other failure leaves nothing behind.
func createWithNetwork(ctx context.Context, g *globalOptions, warn io.Writer, rt *runtime.Runtime, nets *netplug.Manager, img *image.Image, np netPlan, spec runtime.Spec) (*runtime.State, error) {
	unlock, err := netLock(g)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := collectSandboxes(ctx, rt, nets); err != nil {
		fmt.Fprintln(warn, "berth: collect network sandboxes:", err)
	}
	if spec.Name != "" {
		// Refuse a taken name before making a sandbox for it.
		if other, err := rt.Inspect(ctx, spec.Name); err == nil && other.Name == spec.Name {
			return nil, fmt.Errorf("create container: name %q: %w (container %s)", spec.Name, runtime.ErrAlreadyExists, other.ID[:12])
		}
	}
	sandbox, err := setupNetwork(ctx, warn, nets, rt, img, np, &spec)
	if err != nil {
		return nil, err
	}
	st, err := rt.Create(ctx, spec)
	if err != nil {
		if sandbox != "" {
			if derr := nets.DeleteSandbox(context.WithoutCancel(ctx), sandbox); derr != nil {
				err = errors.Join(err, fmt.Errorf("clean up network sandbox %s: %w", sandbox, derr))
			}
		}
		return nil, err
	}
	return st, nil
}

// attach streams a running container's output (and stdin with -i) to this
// terminal until it exits, and returns its exit code. SIGINT/SIGTERM are
// forwarded to the container unless it has a tty (then ^C travels as a
// byte through the pty).
func attach(ctx context.Context, cmd *cobra.Command, rt *runtime.Runtime, id string, stdin, tty bool) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var in *runtime.Stdin
	if stdin {
		if tty && term.IsTerminal(int(os.Stdin.Fd())) {
			// Raw before the first output: the container's pty has
			// already translated it (a process that exits before we
			// attach still prints through here).
			if old, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
				defer term.Restore(int(os.Stdin.Fd()), old)
			}
		}
		var err error
		in, err = rt.AttachStdin(ctx, id)
		if errors.Is(err, runtime.ErrInvalidState) {
			// The process was quicker than us (`run -it busybox true`):
			// its output and exit code are still collected below.
			stdin = false
		} else if err != nil {
			return 125, err
		}
	}
	if stdin {
		defer in.Close()
		if tty && term.IsTerminal(int(os.Stdin.Fd())) {
			resize := func() {
				if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
					in.Resize(uint16(h), uint16(w))
				}
			}
			resize()
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for range winch {
					resize()
				}
			}()
		}
		go func() {
			io.Copy(in, cmd.InOrStdin())
			if !tty {
				in.Close()
			}
		}()
	}
	if !tty {
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				rt.Kill(context.Background(), id, s.(syscall.Signal))
			}
		}()
	}
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	logErr := make(chan error, 1)
	go func() {
		logErr <- rt.Logs(ctx, id, runtime.LogOptions{Follow: true, Tail: -1}, func(e runtime.LogEntry) error {
			w := out
			if e.Stream == "stderr" {
				w = errw
			}
			_, err := io.WriteString(w, e.Log)
			return err
		})
	}()
	es, err := rt.Wait(ctx, id)
	if err != nil {
		return 125, err
	}
	<-logErr
	return es.Code, nil
}

func containerStartCmd(g *globalOptions) *cobra.Command {
	var attachOut, interactive bool
	c := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER...",
		Short: "Start one or more created or stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			for _, ref := range args {
				if err := startContainer(cmd.Context(), g, rt, ref); err != nil {
					return berthErr(err)
				}
				if attachOut || interactive {
					st, err := rt.Inspect(cmd.Context(), ref)
					if err != nil {
						return berthErr(err)
					}
					code, err := attach(cmd.Context(), cmd, rt, st.ID, interactive && st.Spec.OpenStdin, st.Spec.Tty)
					if err != nil {
						return berthErr(err)
					}
					if code != 0 {
						return &exitError{code: code}
					}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&attachOut, "attach", "a", false, "attach to the container's output")
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach the container's stdin")
	return c
}

func containerStopCmd(g *globalOptions, verb string) *cobra.Command {
	var timeout int
	var signal string
	c := &cobra.Command{
		Use:   verb + " [OPTIONS] CONTAINER...",
		Short: map[string]string{"stop": "Stop running containers (stop signal, then SIGKILL after the timeout)", "restart": "Restart containers"}[verb],
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			var to *time.Duration
			if cmd.Flags().Changed("time") {
				d := time.Duration(timeout) * time.Second
				to = &d
			}
			for _, ref := range args {
				if signal != "" {
					if err := rt.Kill(cmd.Context(), ref, mustSignal(signal)); err != nil && !errors.Is(err, runtime.ErrInvalidState) {
						return berthErr(err)
					}
				}
				if err := rt.Stop(cmd.Context(), ref, to); err != nil {
					return berthErr(err)
				}
				if verb == "restart" {
					if err := startContainer(cmd.Context(), g, rt, ref); err != nil {
						return berthErr(err)
					}
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return nil
		},
	}
	c.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	c.Flags().StringVarP(&signal, "signal", "s", "", "signal to send first (default: the container's stop signal)")
	return c
}

func mustSignal(s string) syscall.Signal {
	sig, err := runtime.ParseSignal(s)
	if err != nil {
		return syscall.SIGTERM
	}
	return sig
}

func containerKillCmd(g *globalOptions) *cobra.Command {
	var sig string
	c := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER...",
		Short: "Send a signal (default SIGKILL) to running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := runtime.ParseSignal(sig)
			if err != nil {
				return berthErr(err)
			}
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			for _, ref := range args {
				if err := rt.Kill(cmd.Context(), ref, s); err != nil {
					return berthErr(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send")
	return c
}

func containerRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER...",
		Aliases: []string{"remove"},
		Short:   "Remove containers (-f/--force: also running ones)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, nets, err := g.openRuntimeNets()
			if err != nil {
				return berthErr(err)
			}
			var firstErr error
			for _, ref := range args {
				if err := removeContainer(cmd.Context(), rt, nets, ref, force); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "berth:", err)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			// Sandboxes of detached --rm containers that have exited since.
			if unlock, err := netLock(g); err == nil {
				if err := collectSandboxes(cmd.Context(), rt, nets); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "berth: collect network sandboxes:", err)
				}
				unlock()
			}
			if firstErr != nil {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "kill and remove running containers")
	return c
}

// containerRow is a container as ls shows it; JSON field names follow Docker's.
type containerRow struct {
	ID      string            `json:"ID"`
	Image   string            `json:"Image"`
	Command string            `json:"Command"`
	Created string            `json:"CreatedAt"`
	Status  string            `json:"Status"`
	State   string            `json:"State"`
	Names   string            `json:"Names"`
	Labels  map[string]string `json:"Labels,omitempty"`
}

func statusText(st *runtime.State, now time.Time) string {
	switch st.Status {
	case runtime.StatusRunning:
		return "Up " + humanDuration(now.Sub(st.StartedAt))
	case runtime.StatusPaused:
		return "Up " + humanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case runtime.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, humanDuration(now.Sub(st.FinishedAt)))
	case runtime.StatusCreated:
		return "Created"
	}
	return string(st.Status)
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func commandOf(st *runtime.State) string {
	var args []string
	if st.Spec.Entrypoint != nil {
		args = append(args, st.Spec.Entrypoint...)
	} else {
		args = append(args, st.Image.Config.Entrypoint...)
	}
	if st.Spec.Cmd != nil {
		args = append(args, st.Spec.Cmd...)
	} else if st.Spec.Entrypoint == nil {
		args = append(args, st.Image.Config.Cmd...)
	}
	return strings.Join(args, " ")
}

func containerLsCmd(g *globalOptions, verb string) *cobra.Command {
	var all, quiet, noTrunc bool
	var filters []string
	var format string
	c := &cobra.Command{
		Use:     verb + " [OPTIONS]",
		Aliases: []string{"list", "ps"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			labels := map[string]string{}
			var names, statuses []string
			for _, f := range filters {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "label":
					lk, lv, _ := strings.Cut(v, "=")
					labels[lk] = lv
				case "name":
					names = append(names, v)
				case "status":
					statuses = append(statuses, v)
				default:
					return berthErr(fmt.Errorf("--filter %q: want label=KEY[=VALUE], name=NAME or status=STATUS", f))
				}
			}
			if len(statuses) > 0 {
				all = true // docker ps --filter status=exited lists exited ones
			}
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			list, err := rt.List(cmd.Context(), labels)
			if err != nil {
				return berthErr(err)
			}
			now := time.Now()
			var rows []containerRow
			for _, st := range list {
				if !all && st.Status != runtime.StatusRunning && st.Status != runtime.StatusPaused {
					continue
				}
				if len(statuses) > 0 && !slices.Contains(statuses, string(st.Status)) {
					continue
				}
				if len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(st.Name, n) }) {
					continue
				}
				id := st.ID
				cmdline := commandOf(st)
				if !noTrunc {
					id = id[:12]
					if len(cmdline) > 20 {
						cmdline = cmdline[:19] + "…"
					}
				}
				rows = append(rows, containerRow{ID: id, Image: st.Spec.Image, Command: strconv.Quote(cmdline),
					Created: humanDuration(now.Sub(st.Created)) + " ago", Status: statusText(st, now),
					State: string(st.Status), Names: st.Name, Labels: st.Spec.Labels})
			}
			return writeList(cmd.OutOrStdout(), rows, format, quiet, listTable[containerRow]{
				Header: "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES",
				Cells: func(r containerRow) string {
					return strings.Join([]string{r.ID, r.Image, r.Command, r.Created, r.Status, r.Names}, "\t")
				},
				Quiet: func(r containerRow) string { return r.ID },
			})
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default: running only)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	c.Flags().StringArrayVar(&filters, "filter", nil, "filter: label=KEY[=VALUE], name=NAME, status=STATUS (repeatable)")
	c.Flags().StringVar(&format, "format", "", listFormatHelp)
	return c
}

func containerLogsCmd(g *globalOptions) *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	c := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := runtime.LogOptions{Follow: follow, Tail: -1, Timestamps: timestamps}
			if tail != "" && tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return berthErr(fmt.Errorf("--tail %q: %w", tail, err))
				}
				opts.Tail = n
			}
			var err error
			if opts.Since, err = parseSince(since); err != nil {
				return berthErr(err)
			}
			if opts.Until, err = parseSince(until); err != nil {
				return berthErr(err)
			}
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = rt.Logs(cmd.Context(), args[0], opts, func(e runtime.LogEntry) error {
				w := out
				if e.Stream == "stderr" {
					w = errw
				}
				if timestamps {
					fmt.Fprint(w, e.Time.Format(time.RFC3339Nano), " ")
				}
				_, err := io.WriteString(w, e.Log)
				return err
			})
			return berthErr(err)
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "follow log output")
	c.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	c.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end")
	c.Flags().StringVar(&since, "since", "", "show logs since a timestamp (RFC 3339) or a duration (10m)")
	c.Flags().StringVar(&until, "until", "", "show logs before a timestamp or duration ago")
	return c
}

func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339, a Unix time or a duration", s)
}

func containerExecCmd(g *globalOptions) *cobra.Command {
	var interactive, tty, detach, privileged bool
	var env, envFiles []string
	var user, workdir string
	c := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			es := runtime.ExecSpec{Args: args[1:], User: user, WorkingDir: workdir, Tty: tty, Privileged: privileged,
				Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			for _, f := range envFiles {
				vars, err := readEnvFile(f, os.LookupEnv)
				if err != nil {
					return berthErr(err)
				}
				es.Env = append(es.Env, vars...)
			}
			for _, e := range env {
				if !strings.Contains(e, "=") {
					if v, ok := os.LookupEnv(e); ok {
						es.Env = append(es.Env, e+"="+v)
					}
					continue
				}
				es.Env = append(es.Env, e)
			}
			if interactive {
				es.Stdin = cmd.InOrStdin()
			}
			if tty {
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
			if detach {
				es.Stdin, es.Stdout, es.Stderr = nil, nil, nil
				go rt.Exec(context.WithoutCancel(cmd.Context()), args[0], es)
				time.Sleep(200 * time.Millisecond)
				return nil
			}
			code, err := rt.Exec(cmd.Context(), args[0], es)
			if err != nil {
				var se *runtime.StartError
				if errors.As(err, &se) {
					return &exitError{code: code, err: err}
				}
				return berthErr(err)
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVarP(&detach, "detach", "d", false, "start the command and return")
	f.BoolVar(&privileged, "privileged", false, "give the command all capabilities")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable")
	f.StringArrayVar(&envFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&user, "user", "u", "", "user (name|uid[:group|gid])")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	return c
}

func containerPauseCmd(g *globalOptions, verb string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " CONTAINER...",
		Short: map[string]string{"pause": "Freeze all processes of containers", "unpause": "Thaw paused containers"}[verb],
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			for _, ref := range args {
				if verb == "pause" {
					err = rt.Pause(cmd.Context(), ref)
				} else {
					err = rt.Unpause(cmd.Context(), ref)
				}
				if err != nil {
					return berthErr(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return nil
		},
	}
}

func containerCpCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH",
		Short: "Copy files between a container and the host",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			srcC, srcP, srcIn := splitCpArg(args[0])
			dstC, dstP, dstIn := splitCpArg(args[1])
			switch {
			case srcIn && !dstIn:
				return berthErr(rt.CopyFrom(cmd.Context(), srcC, srcP, dstP))
			case dstIn && !srcIn:
				return berthErr(rt.CopyTo(cmd.Context(), dstC, srcP, dstP))
			}
			return berthErr(errors.New("cp: exactly one of the paths must be CONTAINER:PATH"))
		},
	}
}

// splitCpArg splits CONTAINER:PATH; a path starting with / or . is local.
func splitCpArg(s string) (string, string, bool) {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return "", s, false
	}
	c, p, ok := strings.Cut(s, ":")
	if !ok {
		return "", s, false
	}
	return c, p, true
}

func containerTopCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "Display the running processes of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			procs, err := rt.Top(cmd.Context(), args[0])
			if err != nil {
				return berthErr(err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "UID\tPID\tPPID\tSTIME\tCMD")
			for _, p := range procs {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\n", p.UID, p.Pid, p.PPid, p.Started.Format("15:04"), p.Cmd)
			}
			return tw.Flush()
		},
	}
}

func containerWaitCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "Block until containers stop, then print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, _, err := g.openRuntime()
			if err != nil {
				return berthErr(err)
			}
			for _, ref := range args {
				es, err := rt.Wait(cmd.Context(), ref)
				if err != nil {
					return berthErr(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), es.Code)
			}
			return nil
		},
	}
}
