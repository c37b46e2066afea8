package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/netplug"
)

// stack is one berth installation of a test: binaries, --root, run dir,
// environment, and what the test saw of its kernel objects (for the leak
// check at the end).
type stack struct {
	t    *testing.T
	repo string // repository root
	bin  string // the built berth (berth-shim beside it)
	root string // --root
	run  string // BERTH_RUN_DIR
	env  []string

	mu    sync.Mutex
	links map[string]bool   // bridges and veths of the test's networks
	cgrps map[string]string // container ID -> cgroup path
}

// newStack checks the prerequisites, starts the leak check, builds berth
// and berth-shim, and builds and serves the look-alike images through the
// local registry (examples/images), configured as docker.io's mirror in
// this stack's own registries.yaml. Everything is removed at cleanup.
func newStack(t *testing.T) *stack {
	t.Helper()
	testenv.RequireRoot(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
		testenv.RequireFile(t, goBin, "install Go (the test builds berth)")
	}
	testenv.RequireCommand(t, "mmdebstrap", "apt-get install mmdebstrap")
	testenv.RequireCommand(t, "docker-registry", "apt-get install docker-registry")
	testenv.RequireCommand(t, "curl", "apt-get install curl")
	testenv.RequireCommand(t, "mariadb", "apt-get install mariadb-client")

	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, repo: repo, links: map[string]bool{}, cgrps: map[string]string{}}
	base := t.TempDir()
	s.root = filepath.Join(base, "root")
	s.run = filepath.Join(base, "run")
	table := netplug.DefaultTable(filepath.Join(s.root, "networks"))
	// Only this test's objects: other tests may run on the machine.
	leakcheck.Check(t, func(obj string) bool {
		if strings.Contains(obj, s.root) || strings.Contains(obj, s.run) || strings.HasSuffix(obj, " "+table) {
			return true
		}
		f := strings.Fields(obj)
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case len(f) >= 2 && (f[0] == "link" || f[0] == "addr"):
			return s.links[f[1]]
		case len(f) >= 2 && f[0] == "route":
			return s.links[f[len(f)-1]] // "route DST dev NAME"
		}
		return false
	})
	t.Cleanup(s.checkCgroupsGone)

	binDir := filepath.Join(base, "bin")
	s.bin = filepath.Join(binDir, "berth")
	start := time.Now()
	for _, b := range []struct{ out, pkg string }{{s.bin, "./cmd/berth"}, {filepath.Join(binDir, "berth-shim"), "./runtime/cmd/berth-shim"}} {
		c := exec.Command(goBin, "build", "-o", b.out, b.pkg)
		c.Dir = repo
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	t.Logf("built berth and berth-shim in %s", time.Since(start).Round(time.Millisecond))

	if err := os.MkdirAll(s.root, 0o700); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(),
		"BERTH_RUN_DIR="+s.run,
		// Nothing may leave the machine: a pull that misses the mirror
		// goes to a dead loopback port (loopback itself is never proxied).
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "no_proxy=",
		"DOCKER_CONFIG="+filepath.Join(base, "docker-config"),
	)
	s.buildImages(goBin)
	return s
}

// buildImages runs examples/images/build.sh (cached per machine; a fresh
// machine builds both images with mmdebstrap) with this stack's
// registries.yaml, and stops the registry at cleanup when it started it.
func (s *stack) buildImages(goBin string) {
	t := s.t
	t.Helper()
	images := filepath.Join(s.repo, "examples", "images")
	wasRunning := exec.Command(filepath.Join(images, "registry.sh"), "status").Run() == nil
	if !wasRunning {
		t.Cleanup(func() {
			// registry.sh stops the registry by the PID it recorded.
			if out, err := exec.Command(filepath.Join(images, "registry.sh"), "down").CombinedOutput(); err != nil {
				t.Errorf("stop the local registry: %v\n%s", err, out)
			}
		})
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < 15*time.Minute {
		// A fresh machine builds both images with mmdebstrap: minutes.
		t.Logf("note: %s left before the test binary's -timeout; building the images on a fresh machine takes 5-10 minutes (run with -timeout 30m, or examples/images/build.sh --no-registry beforehand)", time.Until(dl).Round(time.Second))
	}
	start := time.Now()
	c := exec.Command(filepath.Join(images, "build.sh"))
	c.Env = append(os.Environ(), "BERTH_REGISTRIES_YAML="+filepath.Join(s.root, "registries.yaml"), "GO="+goBin)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/images/build.sh: %v\n%s", err, out)
	}
	t.Logf("examples/images/build.sh (images + local mirror) in %s", time.Since(start).Round(time.Millisecond))
}

// berth runs the built binary with --root and the stack's environment.
func (s *stack) berth(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, s.bin, append([]string{"--root", s.root}, args...)...)
	c.Env = s.env
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("run berth %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// must runs berth and fails the test unless it exits 0.
func (s *stack) must(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.berth(args...)
	if code != 0 {
		s.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// psRow is the part of `berth ps --format json` the tests read.
type psRow struct {
	ID, Name, Service, State, Status, Health string
	ExitCode                                 int
}

func (s *stack) ps(fileArgs []string) []psRow {
	s.t.Helper()
	out := s.must(append(fileArgs, "ps", "-a", "--format", "json")...)
	var rows []psRow
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r psRow
		if err := dec.Decode(&r); err != nil {
			s.t.Fatalf("ps --format json: %v\n%s", err, out)
		}
		rows = append(rows, r)
	}
	return rows
}

// containerState is the part of `berth container inspect` the tests read.
type containerState struct {
	ID           string
	Status       string
	Pid          int
	RestartCount int
	CgroupPath   string
}

func (s *stack) inspect(id string) containerState {
	s.t.Helper()
	out := s.must("container", "inspect", id)
	// Docker's inspect shape, plus berth's own section.
	var st []struct {
		ID    string `json:"Id"`
		State struct {
			Status string
			Pid    int
		}
		RestartCount int
		Berth        struct{ CgroupPath string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		s.t.Fatalf("container inspect %s: %v\n%s", id, err, out)
	}
	return containerState{ID: st[0].ID, Status: st[0].State.Status, Pid: st[0].State.Pid, RestartCount: st[0].RestartCount, CgroupPath: st[0].Berth.CgroupPath}
}

// record notes the test's bridges, veths and cgroups while the stack is
// up, for the leak checks at the end.
func (s *stack) record(network string, ids ...string) {
	s.t.Helper()
	out := s.must("network", "inspect", network)
	var nets []struct {
		Options map[string]string `json:"Options"`
	}
	if err := json.Unmarshal([]byte(out), &nets); err != nil || len(nets) != 1 {
		s.t.Fatalf("network inspect %s: %v\n%s", network, err, out)
	}
	bridge := nets[0].Options["com.docker.network.bridge.name"]
	if bridge == "" {
		s.t.Fatalf("network %s: no bridge name in %s", network, out)
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		s.t.Fatalf("bridge %s of network %s: %v", bridge, network, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links[bridge] = true
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			s.links[l.Attrs().Name] = true
		}
	}
	for _, id := range ids {
		st := s.inspect(id)
		if st.CgroupPath == "" {
			s.t.Fatalf("container %s: no cgroup path", id)
		}
		if len(s.cgroupDirs(st.CgroupPath)) == 0 {
			s.t.Errorf("container %s runs but has no cgroup directory for %s under /sys/fs/cgroup", id, st.CgroupPath)
		}
		s.cgrps[id] = st.CgroupPath
	}
}

// cgroupDirs lists the cgroup directories of path in every hierarchy.
func (s *stack) cgroupDirs(path string) []string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", path))
	if d := filepath.Join("/sys/fs/cgroup", path); isDir(d) {
		dirs = append(dirs, d) // cgroup v2 only machines
	}
	return dirs
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// checkCgroupsGone reports every cgroup of the test's containers that
// still exists.
func (s *stack) checkCgroupsGone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.cgrps {
		for _, d := range s.cgroupDirs(p) {
			s.t.Errorf("leaked: cgroup %s of container %s", d, id)
		}
	}
}

// processes lists the processes whose command line names the stack's
// root (supervisors, shims); a container's own processes live in its
// cgroup (checkCgroupsGone).
func (s *stack) processes() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(s.root)) {
			continue
		}
		out = append(out, e.Name()+": "+strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))))
	}
	return out
}

// leftovers lists what is under --root (but the image store and
// registries.yaml) and the run dir besides directories, lock files (*.lock,
// and netplug's striped locks in .locks/, a bounded set shared by all
// projects) and the boot marker.
func (s *stack) leftovers() []string {
	var out []string
	for _, dir := range []string{s.root, s.run} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p == filepath.Join(s.root, "images") {
				return filepath.SkipDir
			}
			if d.IsDir() || strings.HasSuffix(d.Name(), ".lock") || filepath.Base(filepath.Dir(p)) == ".locks" || p == filepath.Join(s.root, "registries.yaml") || p == filepath.Join(s.run, "boot-id") {
				return nil
			}
			out = append(out, p)
			return nil
		})
	}
	return out
}

// waitFor polls fn until it succeeds or timeout passes, and returns how
// long it took or the last error.
func waitFor(timeout time.Duration, fn func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := fn()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that nothing listens on.
func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
