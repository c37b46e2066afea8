// Command up measures berth's project lifecycle on a 20-service busybox
// stack with images present: `up -d` from nothing, a no-op `up -d`,
// `down`, and the time from a container's crash (SIGKILL of its pid 1) to
// its restarted pid 1 running (first restart, under the detached
// supervisor; seen the same way for both, as the exec of a new container
// init in the kernel's process events); with -podman, the same stack
// under podman-compose side by side.
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
	crashes := flag.Int("crashes", 10, "containers crashed, one after the other, for the first restart; the median is printed")
	podman := flag.Bool("podman", false, "also measure podman-compose")
	flag.Parse()
	if err := run(*berth, *services, *rounds, *crashes, *podman); err != nil {
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

func run(bin string, n, rounds, crashes int, podman bool) error {
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

	// First restarts: crash containers of a restart: always stack.
	rt, err := runtime.New(runtime.Options{Root: filepath.Join(root, "containers"), RunDir: filepath.Join(work, "run")})
	if err != nil {
		return err
	}
	os.WriteFile(file, []byte(manifest(n, "always")), 0o644)
	if err := berth("up", "-d"); err != nil {
		return err
	}
	restarts, err = firstRestarts(min(crashes, n), func(i int) (int, error) {
		st, err := rt.Inspect(context.Background(), fmt.Sprintf("bench-s%02d-1", i))
		if err != nil {
			return 0, err
		}
		return st.Pid, nil
	}, func(i, pid int, crashed time.Time) error {
		// When the state shows the new run (what ps shows).
		for {
			cur, err := rt.Inspect(context.Background(), fmt.Sprintf("bench-s%02d-1", i))
			if err == nil && cur.Status == runtime.StatusRunning && cur.Pid != pid {
				recorded = append(recorded, time.Since(crashed))
				return nil
			}
			if time.Since(crashed) > 30*time.Second {
				return fmt.Errorf("container not recorded as restarted within 30s")
			}
			time.Sleep(time.Millisecond)
		}
	})
	if derr := berth("down"); err == nil {
		err = derr
	}
	if err != nil {
		return err
	}

	pid1, err := runtime.ResolveInitPath(os.Getenv("BERTH_INIT_PATH"))
	if err != nil {
		return err
	}
	if pid1 == "" {
		pid1 = "berth-init (no tini found)"
	}
	fmt.Printf("berth, %d busybox services (init: true runs %s), median of %d (restart: of %d crashes):\n", n, pid1, rounds, len(restarts))
	fmt.Printf("  up -d from nothing   %8.3fs\n", median(ups).Seconds())
	fmt.Printf("  no-op up -d          %8.3fs\n", median(noops).Seconds())
	fmt.Printf("  down                 %8.3fs\n", median(downs).Seconds())
	fmt.Printf("  crash -> restarted   %8.3fs  (its new pid 1 runs; recorded as running: %.3fs)\n", median(restarts).Seconds(), median(recorded).Seconds())

	if !podman {
		return nil
	}
	p, err := runPodman(work, tarPath, n, rounds, crashes)
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
func runPodman(work, tarPath string, n, rounds, crashes int) (*podmanTimes, error) {
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
	t.restarts, err = firstRestarts(min(crashes, n), func(i int) (int, error) {
		out, err := exec.Command("podman", "inspect", "-f", "{{.State.Pid}}", fmt.Sprintf("benchpc_s%02d_1", i)).Output()
		if err != nil {
			return 0, fmt.Errorf("podman inspect: %w", err)
		}
		var pid int
		fmt.Sscan(string(out), &pid)
		return pid, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// settle is how long the stack runs before the first crash, and the pause
// between crashes: restarts are measured on a settled machine, not in the
// tail of the up -d (or of the previous restart) before them.
const settle = time.Second

// firstRestarts crashes containers 0..k-1 of a restart: always stack one
// after the other (SIGKILL of the pid 1 that pid returns) and returns, for
// each, the time from the kill to the exec of its restarted pid 1, as the
// kernel stamped it (execEvents). Each is that container's first restart.
// after, when set, runs after each restart (berth's recorded time).
func firstRestarts(k int, pid func(i int) (int, error), after func(i, pid int, crashed time.Time) error) ([]time.Duration, error) {
	ev, err := listenExecs()
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	var out []time.Duration
	for i := 0; i < k; i++ {
		time.Sleep(settle)
		p, err := pid(i)
		if err != nil {
			return nil, err
		}
		before := containerInits()
		crashed, kill := time.Now(), monotonic()
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill: %w", err)
		}
		at, err := ev.waitInit(before, kill, 30*time.Second)
		if err != nil {
			return nil, err
		}
		out = append(out, at-kill)
		if after != nil {
			if err := after(i, p, crashed); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
