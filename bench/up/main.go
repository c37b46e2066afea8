// Command up measures berth's project lifecycle on a 20-service busybox
// stack with images present: `up -d` from nothing, a no-op `up -d`,
// `down`, and the time from a container's crash (SIGKILL of its pid 1) to
// its restarted pid 1 running (first restart, under the detached
// supervisor; seen the same way for both, as a new init process in
// /proc); with -podman, the same stack under podman-compose side by side.
//
// It needs root and busybox-static; run it through run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/runtime"
)

func main() {
	berth := flag.String("berth", "berth", "berth binary")
	services := flag.Int("services", 20, "services in the stack")
	rounds := flag.Int("rounds", 3, "rounds; the median is printed")
	podman := flag.Bool("podman", false, "also measure podman-compose")
	flag.Parse()
	if err := run(*berth, *services, *rounds, *podman); err != nil {
		fmt.Fprintln(os.Stderr, "bench/up:", err)
		os.Exit(1)
	}
}

func manifest(n int, restart string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%02d:\n    image: busybox:latest\n    command: [\"sleep\", \"100000\"]\n    init: true\n    stop_grace_period: 2s\n", i)
		if restart != "" {
			fmt.Fprintf(&b, "    restart: %s\n", restart)
		}
	}
	return b.String()
}

func timeIt(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func run(bin string, n, rounds int, podman bool) error {
	work, err := os.MkdirTemp("/var/tmp", "berth-bench-up.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	os.Setenv("BERTH_RUN_DIR", filepath.Join(work, "run"))
	img, err := testimage.Busybox(nil)
	if err != nil {
		return fmt.Errorf("busybox image (apt-get install busybox-static): %w", err)
	}
	tag, _ := name.NewTag("busybox:latest")
	tarPath := filepath.Join(work, "busybox.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		return err
	}
	if err := sh(bin, "--root", root, "image", "load", "-q", "-i", tarPath); err != nil {
		return err
	}
	dir := filepath.Join(work, "proj")
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, "compose.yaml")
	berth := func(args ...string) error {
		return sh(bin, append([]string{"--root", root, "-f", file, "-p", "bench"}, args...)...)
	}

	var ups, noops, downs, restarts, recorded []time.Duration
	for r := 0; r < rounds; r++ {
		os.WriteFile(file, []byte(manifest(n, "")), 0o644)
		d, err := timeIt(func() error { return berth("up", "-d") })
		if err != nil {
			return err
		}
		ups = append(ups, d)
		d, err = timeIt(func() error { return berth("up", "-d") })
		if err != nil {
			return err
		}
		noops = append(noops, d)
		d, err = timeIt(func() error { return berth("down") })
		if err != nil {
			return err
		}
		downs = append(downs, d)
	}

	// First restart: crash one container of a restart: always stack.
	rt, err := runtime.New(runtime.Options{Root: filepath.Join(root, "containers"), RunDir: filepath.Join(work, "run")})
	if err != nil {
		return err
	}
	os.WriteFile(file, []byte(manifest(n, "always")), 0o644)
	if err := berth("up", "-d"); err != nil {
		return err
	}
	for r := 0; r < rounds; r++ {
		st, err := rt.Inspect(context.Background(), "bench-s00-1")
		if err != nil {
			return err
		}
		before := containerInits()
		if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		crashed := time.Now()
		d, err := newInit(before, crashed)
		if err != nil {
			return err
		}
		restarts = append(restarts, d)
		for {
			cur, err := rt.Inspect(context.Background(), "bench-s00-1")
			if err == nil && cur.Status == runtime.StatusRunning && cur.Pid != st.Pid {
				recorded = append(recorded, time.Since(crashed))
				break
			}
			if time.Since(crashed) > 30*time.Second {
				return fmt.Errorf("container not recorded as restarted within 30s")
			}
			time.Sleep(time.Millisecond)
		}
		// Let the backoff reset before the next crash.
		time.Sleep(11 * time.Second)
	}
	if err := berth("down"); err != nil {
		return err
	}

	pid1, err := runtime.ResolveInitPath(os.Getenv("BERTH_INIT_PATH"))
	if err != nil {
		return err
	}
	if pid1 == "" {
		pid1 = "berth-init (no tini found)"
	}
	fmt.Printf("berth, %d busybox services (init: true runs %s), median of %d:\n", n, pid1, rounds)
	fmt.Printf("  up -d from nothing   %8.3fs\n", median(ups).Seconds())
	fmt.Printf("  no-op up -d          %8.3fs\n", median(noops).Seconds())
	fmt.Printf("  down                 %8.3fs\n", median(downs).Seconds())
	fmt.Printf("  crash -> restarted   %8.3fs  (its new pid 1 runs; recorded as running: %.3fs)\n", median(restarts).Seconds(), median(recorded).Seconds())

	if !podman {
		return nil
	}
	p, err := runPodman(work, tarPath, n, rounds)
	if err != nil {
		return err
	}
	fmt.Printf("podman-compose, same stack:\n")
	ratio := func(theirs []time.Duration, ours []time.Duration) float64 {
		return median(theirs).Seconds() / median(ours).Seconds()
	}
	fmt.Printf("  up -d from nothing   %8.3fs  (berth %.0fx faster)\n", median(p.ups).Seconds(), ratio(p.ups, ups))
	fmt.Printf("  no-op up -d          %8.3fs  (berth %.0fx faster)\n", median(p.noops).Seconds(), ratio(p.noops, noops))
	fmt.Printf("  down                 %8.3fs  (berth %.1fx faster)\n", median(p.downs).Seconds(), ratio(p.downs, downs))
	fmt.Printf("  crash -> restarted   %8.3fs  (berth %.1fx faster)\n", median(p.restarts).Seconds(), ratio(p.restarts, restarts))
	return nil
}

type podmanTimes struct{ ups, noops, downs, restarts []time.Duration }

// podmanConf is the containers.conf the podman runs use. On this VM
// podman's defaults do not start a container: crun refuses the host's
// hybrid cgroup layout, and podman raises RLIMIT_NOFILE and RLIMIT_NPROC
// to values a root without CAP_SYS_RESOURCE (as in this sandbox) may not
// set (EPERM). runc and limits at the session's own hard limits (capped at
// 20000, the highest RLIMIT_NPROC runc could set here) work.
func podmanConf(dir string) (string, error) {
	var nofile, nproc unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return "", err
	}
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return "", err
	}
	nofile.Max, nproc.Max = min(nofile.Max, 20000), min(nproc.Max, 20000)
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=%d:%d\"]\n\n[engine]\nruntime = \"runc\"\n",
		nofile.Max, nofile.Max, nproc.Max, nproc.Max)
	path := filepath.Join(dir, "containers.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// runPodman measures the same stack under podman-compose: up -d, a no-op
// up -d and down per round, then the first restart of a crashed container
// (restart: always; podman's cleanup process restarts it). podman-compose
// exits 0 even when `podman run` fails, so every up is checked to have
// left n containers running.
func runPodman(work, tarPath string, n, rounds int) (*podmanTimes, error) {
	if _, err := exec.LookPath("podman-compose"); err != nil {
		return nil, fmt.Errorf("podman-compose not installed (run.sh installs it with PODMAN=1)")
	}
	conf, err := podmanConf(work)
	if err != nil {
		return nil, err
	}
	os.Setenv("CONTAINERS_CONF", conf)
	if err := sh("podman", "load", "-q", "-i", tarPath); err != nil {
		return nil, err
	}
	if err := sh("podman", "run", "--rm", "--init", "localhost/busybox:latest", "true"); err != nil {
		return nil, fmt.Errorf("podman cannot run a container here: %w", err)
	}
	dir := filepath.Join(work, "podman")
	os.MkdirAll(dir, 0o755)
	pfile := filepath.Join(dir, "compose.yaml")
	pc := func(args ...string) error {
		return sh("podman-compose", append([]string{"-f", pfile, "-p", "benchpc"}, args...)...)
	}
	defer func() {
		pc("down")
		exec.Command("podman", "network", "rm", "-f", "benchpc_default").Run()
	}()
	running := func() error {
		out, err := exec.Command("podman", "ps", "-q", "--filter", "label=io.podman.compose.project=benchpc", "--filter", "status=running").Output()
		if err != nil {
			return err
		}
		if got := len(strings.Fields(string(out))); got != n {
			return fmt.Errorf("podman-compose up -d left %d of %d containers running", got, n)
		}
		return nil
	}
	image := func(m string) string { return strings.ReplaceAll(m, "busybox:latest", "localhost/busybox:latest") }
	t := &podmanTimes{}
	for r := 0; r < rounds; r++ {
		os.WriteFile(pfile, []byte(image(manifest(n, ""))), 0o644)
		d, err := timeIt(func() error { return pc("up", "-d") })
		if err != nil {
			return nil, err
		}
		if err := running(); err != nil {
			return nil, err
		}
		t.ups = append(t.ups, d)
		d, err = timeIt(func() error { return pc("up", "-d") })
		if err != nil {
			return nil, err
		}
		t.noops = append(t.noops, d)
		d, err = timeIt(func() error { return pc("down") })
		if err != nil {
			return nil, err
		}
		t.downs = append(t.downs, d)
	}
	os.WriteFile(pfile, []byte(image(manifest(n, "always"))), 0o644)
	if err := pc("up", "-d"); err != nil {
		return nil, err
	}
	if err := running(); err != nil {
		return nil, err
	}
	for r := 0; r < rounds; r++ {
		out, err := exec.Command("podman", "inspect", "-f", "{{.State.Pid}}", "benchpc_s00_1").Output()
		if err != nil {
			return nil, fmt.Errorf("podman inspect: %w", err)
		}
		var pid int
		fmt.Sscan(string(out), &pid)
		before := containerInits()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill: %w", err)
		}
		d, err := newInit(before, time.Now())
		if err != nil {
			return nil, err
		}
		t.restarts = append(t.restarts, d)
		time.Sleep(3 * time.Second)
	}
	return t, nil
}

// initArgs ends the command line of every container's pid 1 in this
// stack, whichever init runs it: tini -s --, berth-init --, podman's
// /run/podman-init --, each followed by the process's own arguments.
const initArgs = "\x00--\x00sleep\x00100000\x00"

// containerInits returns the pids of the stack's container inits.
func containerInits() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if isInit(e.Name()) {
			out[e.Name()] = true
		}
	}
	return out
}

func isInit(pid string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	return err == nil && strings.Contains(string(b), initArgs)
}

// newInit waits until a container init that is not in before runs (has
// exec'd), the same test for berth and podman: the crashed container's
// restarted pid 1. /proc is listed every millisecond; only processes not
// seen before are read.
func newInit(before map[string]bool, crashed time.Time) (time.Duration, error) {
	seen := map[string]bool{}
	for pid := range before {
		seen[pid] = true
	}
	for {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid := e.Name()
			if seen[pid] || pid[0] < '0' || pid[0] > '9' {
				continue
			}
			if isInit(pid) {
				return time.Since(crashed), nil
			}
			// Not (yet) an init: a process that has not exec'd shows its
			// parent's command line, so it is read again next time.
		}
		if time.Since(crashed) > 30*time.Second {
			return 0, fmt.Errorf("no restarted container process within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
