// Command start measures container start: create+start+wait of a
// container running `true` (no network, image already unpacked) through
// berth's runtime, `crun run` / `runc run` on an equivalent bundle, and the
// floor: clone of the same namespaces + exec of true + wait. It also
// reports the RSS and anonymous memory of a berth shim. run.sh drives it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/runtime"
)

type images struct{ lower string }

func (i images) Resolve(ctx context.Context, ref string) (runtime.Image, error) {
	return runtime.Image{Ref: ref, ID: "sha256:bench", LowerDirs: []string{i.lower},
		Config: runtime.ImageConfig{Cmd: []string{"true"}, Env: []string{"PATH=/bin:/usr/bin"}}}, nil
}

func main() {
	mode := flag.String("mode", "all", "all | berth | cli | floor | oci | restart | rootfs | shim-rss")
	n := flag.Int("n", 50, "iterations")
	rootfs := flag.String("rootfs", "", "busybox rootfs dir")
	exe := flag.String("exe", "", "binary re-executed as shim/init (berth or berth-shim)")
	work := flag.String("work", "", "scratch dir")
	oci := flag.String("runtime", "", "crun or runc binary (mode oci)")
	bundle := flag.String("bundle", "", "OCI bundle (mode oci)")
	label := flag.String("label", "", "row label")
	berthBin := flag.String("berth", "", "berth binary (mode all: CLI row)")
	crun := flag.String("crun", "crun", "crun binary (mode all)")
	runc := flag.String("runc", "runc", "runc binary (mode all)")
	flag.Parse()
	var times []time.Duration
	var err error
	switch *mode {
	case "all":
		if err := benchAll(*n, *rootfs, *exe, *berthBin, *work, *bundle, *crun, *runc); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	case "berth":
		times, err = benchBerth(*n, *rootfs, *exe, *work)
	case "cli":
		times, err = benchCLI(*n, *exe, *work)
	case "restart":
		times, err = benchRestart(*n, *rootfs, *exe, *work)
	case "floor":
		times, err = benchFloor(*n)
	case "oci":
		times, err = benchOCI(*n, *oci, *bundle)
	case "rootfs":
		if err := os.MkdirAll(*rootfs, 0o755); err == nil {
			err = testimage.WriteRootfs(*rootfs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	case "shim-rss":
		err = shimRSS(*rootfs, *exe, *work)
		if err == nil {
			return
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med, p90 := times[len(times)/2], times[len(times)*9/10]
	fmt.Printf("| %s | %d | %.1f | %.1f | %.1f |\n", *label, len(times), ms(times[0]), ms(med), ms(p90))
}

// benchAll runs every contender once per round, round after round, so
// that load from other programs on the machine hits them all alike.
func benchAll(n int, rootfs, shimExe, berthBin, work, bundle, crun, runc string) error {
	type row struct {
		label string
		run   func(i int) (time.Duration, error)
		times []time.Duration
	}
	rShim, err := newRuntime(rootfs, shimExe, filepath.Join(work, "all-shim"))
	if err != nil {
		return err
	}
	rSelf, err := newRuntime(rootfs, berthBin, filepath.Join(work, "all-self"))
	if err != nil {
		return err
	}
	one := func(f func(int) ([]time.Duration, error)) func(int) (time.Duration, error) {
		return func(i int) (time.Duration, error) {
			d, err := f(i)
			if err != nil {
				return 0, err
			}
			return d[0], nil
		}
	}
	cv, err := newCrunView()
	if err != nil {
		return err
	}
	rows := []*row{
		{label: "floor: clone(6 ns)+exec true+wait (Go)", run: one(func(int) ([]time.Duration, error) { return benchFloorN(1, 0) })},
		{label: "berth runtime API, shim = berth-shim", run: func(int) (time.Duration, error) { return berthOnce(rShim) }},
		{label: "berth runtime API, shim = berth (self re-exec)", run: func(int) (time.Duration, error) { return berthOnce(rSelf) }},
		{label: "`berth container run --rm` CLI (berth-shim beside it)", run: one(func(int) ([]time.Duration, error) { return benchCLIN(1, 0, berthBin, filepath.Join(work, "cli")) })},
		{label: "crun run", run: one(func(int) (d []time.Duration, err error) {
			cv.do(func() { d, err = benchOCIN(1, 0, crun, bundle) })
			return d, err
		})},
		{label: "runc run", run: one(func(int) ([]time.Duration, error) { return benchOCIN(1, 0, runc, bundle) })},
	}
	for i := 0; i < n+3; i++ {
		for _, r := range rows {
			d, err := r.run(i)
			if err != nil {
				return fmt.Errorf("%s: %w", r.label, err)
			}
			if i >= 3 {
				r.times = append(r.times, d)
			}
		}
	}
	for _, r := range rows {
		printRow(r.label, r.times)
	}
	return nil
}

func printRow(label string, times []time.Duration) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med, p90 := times[len(times)/2], times[len(times)*9/10]
	fmt.Printf("| %s | %d | %.1f | %.1f | %.1f |\n", label, len(times), ms(times[0]), ms(med), ms(p90))
}

func berthOnce(r *runtime.Runtime) (time.Duration, error) {
	ctx := context.Background()
	t0 := time.Now()
	st, err := r.Create(ctx, runtime.Spec{Image: "busybox", Cmd: []string{"true"}})
	if err != nil {
		return 0, err
	}
	tc := time.Since(t0)
	if err := r.Start(ctx, st.ID); err != nil {
		return 0, err
	}
	ts := time.Since(t0)
	es, err := r.Wait(ctx, st.ID)
	if err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if os.Getenv("BERTH_TRACE_START") != "" {
		// This side's milestones, in ms since Create was called (the
		// shim's count from when Start forked it).
		fmt.Fprintf(os.Stderr, "trace (bench) created %.2fms\ntrace (bench) started %.2fms\n", ms(tc), ms(ts))
	}
	if es.Code != 0 {
		return 0, fmt.Errorf("true exited %d", es.Code)
	}
	if os.Getenv("BERTH_TRACE_START") != "" {
		// The shim's start-up milestones (see runtime.spawnShim).
		if b, err := os.ReadFile(filepath.Join(st.Dir, "shim.log")); err == nil {
			fmt.Fprintf(os.Stderr, "%s(total %.2fms)\n", b, ms(d))
		}
	}
	return d, r.Remove(ctx, st.ID, true)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newRuntime(rootfs, exe, work string) (*runtime.Runtime, error) {
	return runtime.New(runtime.Options{
		Root: filepath.Join(work, "containers"), RunDir: filepath.Join(work, "run"),
		Images: images{lower: rootfs}, Exe: exe, CgroupParent: "/berth-bench",
	})
}

func benchBerth(n int, rootfs, exe, work string) ([]time.Duration, error) {
	r, err := newRuntime(rootfs, exe, work)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := 0; i < n+3; i++ {
		d, err := berthOnce(r)
		if err != nil {
			return nil, err
		}
		if i >= 3 { // warm-up
			out = append(out, d)
		}
	}
	return out, nil
}

// benchRestart times what a restart policy does after an exit: Wait
// returns, then Start of the same container (same upper dir) until its
// process runs again. The process is `true`, so each cycle also includes
// that process's own run to its exit before the next Wait returns.
func benchRestart(n int, rootfs, exe, work string) ([]time.Duration, error) {
	r, err := newRuntime(rootfs, exe, work)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := r.Create(ctx, runtime.Spec{Image: "busybox", Cmd: []string{"true"}})
	if err != nil {
		return nil, err
	}
	defer r.Remove(ctx, st.ID, true)
	if err := r.Start(ctx, st.ID); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := 0; i < n+3; i++ {
		t0 := time.Now()
		if _, err := r.Wait(ctx, st.ID); err != nil {
			return nil, err
		}
		if err := r.Start(ctx, st.ID); err != nil {
			return nil, err
		}
		if i >= 3 {
			out = append(out, time.Since(t0))
		}
	}
	r.Wait(ctx, st.ID)
	return out, nil
}

// benchCLI times the whole `berth container run --rm --network none busybox true`.
func benchCLI(n int, berth, work string) ([]time.Duration, error) {
	return benchCLIN(n, 3, berth, work)
}

func benchCLIN(n, warm int, berth, work string) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n+warm; i++ {
		cmd := exec.Command(berth, "--root", work, "container", "run", "--rm", "--pull", "never", "--network", "none", "busybox", "true")
		cmd.Env = append(os.Environ(), "BERTH_RUN_DIR="+filepath.Join(work, "run"))
		t0 := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("berth run: %v %s", err, b)
		}
		if i >= warm {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

func benchFloor(n int) ([]time.Duration, error) { return benchFloorN(n, 3) }

func benchFloorN(n, warm int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n+warm; i++ {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP}
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		if i >= warm {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

func benchOCI(n int, bin, bundle string) ([]time.Duration, error) {
	return benchOCIN(n, 3, bin, bundle)
}

// crunView is an OS thread in a private mount namespace where
// /sys/fs/cgroup/unified is unmounted: crun 1.8 refuses this hybrid cgroup
// layout otherwise. Only crun runs there (a process started from a locked
// thread inherits its mount namespace); berth and runc see the host's
// layout, with its unified hierarchy to make and join.
type crunView struct{ fns chan func() }

func newCrunView() (*crunView, error) {
	v := &crunView{fns: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread keeps this view
		err := syscall.Unshare(syscall.CLONE_FS | syscall.CLONE_NEWNS)
		if err == nil {
			err = syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, "")
		}
		if err == nil {
			if uerr := syscall.Unmount("/sys/fs/cgroup/unified", syscall.MNT_DETACH); uerr != nil && uerr != syscall.EINVAL && uerr != syscall.ENOENT {
				err = uerr
			}
		}
		ready <- err
		if err != nil {
			return
		}
		for f := range v.fns {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("private mount namespace for crun: %w", err)
	}
	return v, nil
}

// do runs f on the view's thread and waits for it.
func (v *crunView) do(f func()) {
	done := make(chan struct{})
	v.fns <- func() { defer close(done); f() }
	<-done
}

var ociSeq int

func benchOCIN(n, warm int, bin, bundle string) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n+warm; i++ {
		ociSeq++
		id := "bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(ociSeq)
		cmd := exec.Command(bin, "run", "--bundle", bundle, id)
		t0 := time.Now()
		b, err := cmd.CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("%s run: %v %s", bin, err, b)
		}
		exec.Command(bin, "delete", "-f", id).Run()
		if i >= warm {
			out = append(out, d)
		}
	}
	return out, nil
}

// shimRSS starts five long-running containers and prints the average
// memory of their shims (PSS shares the binary's pages among them, as it
// does among many conmons for libc).
func shimRSS(rootfs, exe, work string) error {
	r, err := newRuntime(rootfs, exe, work)
	if err != nil {
		return err
	}
	ctx := context.Background()
	const n = 5
	var pids []int
	for i := 0; i < n; i++ {
		st, err := r.Create(ctx, runtime.Spec{Image: "busybox", Cmd: []string{"sleep", "30"}})
		if err != nil {
			return err
		}
		defer r.Remove(ctx, st.ID, true)
		if err := r.Start(ctx, st.ID); err != nil {
			return err
		}
		s, err := r.Inspect(ctx, st.ID)
		if err != nil {
			return err
		}
		pids = append(pids, s.ShimPid)
	}
	time.Sleep(3 * time.Second) // past the shims' memory trim (trimDelay, 2 s)
	var rss, anon, pss int
	for _, p := range pids {
		a, b := procMem(p)
		rss, anon, pss = rss+a, anon+b, pss+procPss(p)
	}
	fmt.Printf("| berth shim (%s), mean of %d | %d | %d | %d |\n", filepath.Base(exe), n, rss/n, anon/n, pss/n)
	return nil
}

func procMem(pid int) (rss, anon int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			switch f[0] {
			case "VmRSS:":
				rss, _ = strconv.Atoi(f[1])
			case "RssAnon:":
				anon, _ = strconv.Atoi(f[1])
			}
		}
	}
	return
}

func procPss(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Pss:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
