// Command up measures berth's project lifecycle on a 20-service busybox
// stack with images present: `up -d` from nothing, a no-op `up -d`,
// `down`, and the time from a container's crash to its restarted process
// running (first restart, under the detached supervisor); with
// -podman, the same stack under podman-compose side by side.
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

	var ups, noops, downs, restarts []time.Duration
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
		if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		crashed := time.Now()
		for {
			cur, err := rt.Inspect(context.Background(), "bench-s00-1")
			if err == nil && cur.Status == runtime.StatusRunning && cur.Pid != st.Pid {
				restarts = append(restarts, time.Since(crashed))
				break
			}
			if time.Since(crashed) > 30*time.Second {
				return fmt.Errorf("container not restarted within 30s")
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
	fmt.Printf("  crash -> restarted   %8.3fs\n", median(restarts).Seconds())

	if !podman {
		return nil
	}
	if _, err := exec.LookPath("podman-compose"); err != nil {
		return fmt.Errorf("podman-compose not installed (run.sh installs it with PODMAN=1)")
	}
	if err := sh("podman", "load", "-q", "-i", tarPath); err != nil {
		return err
	}
	pfile := filepath.Join(dir, "podman-compose.yaml")
	os.WriteFile(pfile, []byte(strings.ReplaceAll(manifest(n, ""), "busybox:latest", "docker.io/library/busybox:latest")), 0o644)
	pc := func(args ...string) error {
		return sh("podman-compose", append([]string{"-f", pfile, "-p", "benchpc"}, args...)...)
	}
	var pups, pnoops, pdowns []time.Duration
	for r := 0; r < rounds; r++ {
		d, err := timeIt(func() error { return pc("up", "-d") })
		if err != nil {
			return err
		}
		pups = append(pups, d)
		d, err = timeIt(func() error { return pc("up", "-d") })
		if err != nil {
			return err
		}
		pnoops = append(pnoops, d)
		d, err = timeIt(func() error { return pc("down") })
		if err != nil {
			return err
		}
		pdowns = append(pdowns, d)
	}
	fmt.Printf("podman-compose, same stack:\n")
	fmt.Printf("  up -d from nothing   %8.3fs  (berth %.0fx faster)\n", median(pups).Seconds(), median(pups).Seconds()/median(ups).Seconds())
	fmt.Printf("  no-op up -d          %8.3fs  (berth %.0fx faster)\n", median(pnoops).Seconds(), median(pnoops).Seconds()/median(noops).Seconds())
	fmt.Printf("  down                 %8.3fs  (berth %.0fx faster)\n", median(pdowns).Seconds(), median(pdowns).Seconds()/median(downs).Seconds())
	return nil
}
