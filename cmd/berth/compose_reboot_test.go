package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/reconciler"
)

// After a reboot /run is empty and the kernel has no namespace, veth,
// bridge, nft table, cgroup or process of berth's, while the state under
// the root says what existed. `up -d` must bring the project back (same
// volume data, names, published ports) and `container start` a single
// container with its ports; down then leaves nothing.
func TestComposeAfterReboot(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	before, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}
	port, single := freeLoopbackPort(t), freeLoopbackPort(t)
	cp := newComposeProject(t, "rbt", fmt.Sprintf(`services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    ports: ["127.0.0.1:%d:80"]
    restart: always
    volumes: [data:/data]
  db:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    restart: unless-stopped
volumes:
  data:
`, port))
	t.Cleanup(func() { berthCLI(t, cp.root, nil, "container", "rm", "-f", "solo") })
	cp.must("up", "-d")
	cp.must("exec", "-T", "web", "sh", "-c", "echo kept > /data/index.html")
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "kept\n" {
		t.Fatalf("before the reboot: %q", got)
	}
	mustBerth(t, cp.root, "container", "run", "-d", "--name", "solo", "-p", fmt.Sprintf("127.0.0.1:%d:80", single), "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", single)); got != "solo\n" {
		t.Fatalf("single container before the reboot: %q", got)
	}

	simulateReboot(t, cp.root, before)

	cp.must("up", "-d")
	rows := cp.rows()
	for _, n := range []string{"rbt-web-1", "rbt-db-1"} {
		if rows[n].State != "running" {
			t.Errorf("%s after up: %s", n, rows[n].State)
		}
	}
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "kept\n" {
		t.Errorf("after the reboot and up: %q", got)
	}
	if out, _, code := cp.berth("exec", "-T", "db", "grep", "-w", "web", "/etc/hosts"); code != 0 || !strings.Contains(out, "rbt-web-1") {
		t.Errorf("db does not resolve web after the reboot: %q", out)
	}
	mustBerth(t, cp.root, "container", "start", "solo")
	if got := hostGetRetry(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", single)); got != "solo\n" {
		t.Errorf("single container after the reboot: %q", got)
	}
	mustBerth(t, cp.root, "container", "rm", "-f", "solo")
	cp.must("down", "-v", "-t", "0")
	mustBerth(t, cp.root, "network", "rm", "bridge")
}

// simulateReboot does to root what a reboot does: every process of its
// containers and supervisors dies (SIGKILL, by the pids the state holds:
// all started by this test), cgroups, mounts under the run dir, the links
// made since before and the nft table disappear, and the run dir (tmpfs
// in real life) is emptied.
func simulateReboot(t *testing.T, root string, before leakcheck.Snapshot) {
	t.Helper()
	runDir := os.Getenv("BERTH_RUN_DIR")
	var cgroups []string
	var pids []int
	for _, id := range strings.Fields(mustBerth(t, root, "container", "ls", "-a", "-q", "--no-trunc")) {
		out := mustBerth(t, root, "container", "inspect", "-f", "{{.Berth.ShimPid}} {{.State.Pid}} {{.Berth.CgroupPath}}", id)
		f := strings.Fields(out)
		for _, s := range f[:2] {
			if n, _ := strconv.Atoi(s); n > 0 {
				pids = append(pids, n)
			}
		}
		if len(f) > 2 {
			cgroups = append(cgroups, f[2])
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "projects"))
	for _, e := range entries {
		if st, err := reconciler.OpenStore(root, e.Name()); err == nil {
			if pid := st.SupervisorPid(); pid > 0 {
				pids = append([]int{pid}, pids...) // first: it would restart the rest
			}
		}
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "the killed processes gone", 10*time.Second, func() bool {
		return !slices.ContainsFunc(pids, func(p int) bool { return syscall.Kill(p, 0) == nil })
	})
	for _, cg := range cgroups {
		hs, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range append(hs, "/sys/fs/cgroup") {
			os.Remove(filepath.Join(h, cg))
		}
	}
	var mounts []string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], runDir+"/") {
			mounts = append(mounts, fs[4])
		}
	}
	f.Close()
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("umount %s: %v", m, err)
		}
	}
	after, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range before.Leaked(after, leakcheck.Contains("bth")) {
		if f := strings.Fields(k); len(f) == 3 && f[0] == "link" {
			if l, err := netlink.LinkByName(f[1]); err == nil {
				netlink.LinkDel(l)
			}
		}
	}
	if c, err := nftables.New(); err == nil {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: netplug.DefaultTable(filepath.Join(root, "networks"))})
		c.Flush()
	}
	if err := os.RemoveAll(runDir); err != nil {
		t.Fatal(err)
	}
}
