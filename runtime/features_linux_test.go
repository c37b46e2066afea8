package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

func TestProcessOptions(t *testing.T) {
	r := newTestRuntime(t)
	f := false
	for _, tc := range []struct {
		name string
		spec Spec
		cmd  string
		want string
	}{
		{"user by name with groups", Spec{User: "app", GroupAdd: []string{"extra"}}, "id -u; id -g; id -G; echo $HOME", "1000\n1000\n1000 1001\n/home/app\n"},
		{"uid:gid", Spec{User: "1234:55"}, "id -u; id -g", "1234\n55\n"},
		{"workdir created", Spec{WorkingDir: "/new/dir"}, "pwd", "/new/dir\n"},
		{"env merge and path", Spec{Env: []string{"FOO=bar"}}, "echo $FOO $PATH", "bar " + defaultPath + "\n"},
		{"read-only rootfs", Spec{ReadOnly: true, Mounts: []Mount{{Type: "tmpfs", Target: "/scratch"}}},
			"touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs-rw", "ro\ntmpfs-rw\n"},
		{"cap drop all + add one", Spec{CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_KILL"}}, "grep CapEff /proc/self/status", "CapEff:\t0000000000000020\n"},
		{"privileged", Spec{Privileged: true}, "grep CapEff /proc/self/status | cut -f2; cat /proc/timer_list | head -c 5 | wc -c",
			hostCapEff(t) + "\n5\n"},
		{"no_new_privs default", Spec{}, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1\n"},
		{"no_new_privs off", Spec{NoNewPrivileges: &f}, "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t0\n"},
		{"ulimit", Spec{Ulimits: []Ulimit{{Name: "nofile", Soft: 100, Hard: 200}}}, "ulimit -n; ulimit -Hn", "100\n200\n"},
		{"sysctl", Spec{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shmmni": "1000"}},
			"cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni", "80\n1000\n"},
		{"domainname", Spec{Hostname: "h", Domainname: "example.test"}, "hostname; domainname 2>/dev/null || cat /proc/sys/kernel/domainname", "h\nexample.test\n"},
		{"shm size", Spec{ShmSize: 1 << 20}, "df -k /dev/shm | tail -1 | awk '{print $2}'", "1024\n"},
		{"tty", Spec{Tty: true}, "tty; [ -c /dev/console ] && echo console", "/dev/pts/0\r\nconsole\r\n"},
		{"device cgroup", Spec{}, "mknod /tmp/sda b 8 0 && (head -c1 /tmp/sda >/dev/null 2>&1 || echo denied); echo x > /dev/null && echo null-ok", "denied\nnull-ok\n"},
		{"entrypoint replaces cmd", Spec{Entrypoint: []string{"echo"}}, "", "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			if tc.cmd != "" {
				spec.Cmd = []string{"sh", "-c", tc.cmd}
			}
			_, es, out := run(t, r, spec)
			if es.Code != 0 || out != tc.want {
				t.Errorf("exit %d, output %q, want %q", es.Code, out, tc.want)
			}
		})
	}
}

func TestSpecRejected(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	for _, s := range []Spec{
		{Sysctls: map[string]string{"kernel.panic": "1"}},
		{Ulimits: []Ulimit{{Name: "nofile", Soft: 1 << 40, Hard: 1 << 40}}},
		{CapAdd: []string{"NOT_A_CAP"}},
		{Mounts: []Mount{{Type: "bind", Source: "relative", Target: "/x"}}},
		{Name: "bad name!"},
	} {
		s.Image = "busybox"
		if _, err := r.Create(ctx, s); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: err %v, want ErrInvalidArgument", s, err)
		}
	}
	if _, err := r.Create(ctx, Spec{Image: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing image: %v", err)
	}
	if _, err := r.Create(ctx, Spec{Image: "busybox", Name: "dup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, Spec{Image: "busybox", Name: "dup"}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestMounts(t *testing.T) {
	r := newTestRuntime(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "f"), []byte("from-host"), 0o644)
	outside := t.TempDir()
	// An image whose /evil is a symlink to a host dir: the mount must land
	// inside the rootfs, never on the host dir.
	layer := t.TempDir()
	os.Symlink(outside, filepath.Join(layer, "evil"))
	os.MkdirAll(filepath.Join(layer, "seed/sub"), 0o755)
	os.WriteFile(filepath.Join(layer, "seed/sub/file"), []byte("seeded"), 0o640)
	os.Lchown(filepath.Join(layer, "seed/sub/file"), 1000, 1001)
	os.Symlink("sub/file", filepath.Join(layer, "seed/link"))
	os.Chmod(filepath.Join(layer, "seed"), 0o750)
	r.images = &fakeImages{lower: layer + ":" + busyboxLower, cfg: ImageConfig{Env: []string{"PATH=" + defaultPath}}}
	r.images = multiLower{layer, busyboxLower}
	vol := t.TempDir()
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("10.0.0.9 db\n"), 0o644)
	_, es, out := run(t, r, Spec{
		HostsPath: hosts,
		Mounts: []Mount{
			{Type: "bind", Source: host, Target: "/mnt/host", ReadOnly: true},
			{Type: "bind", Source: host, Target: "/evil/escaped"},
			{Type: "bind", Source: vol, Target: "/seed", CopyUp: true},
			{Type: "tmpfs", Target: "/t", TmpfsSize: 1 << 20, TmpfsMode: 0o700},
		},
		Cmd: []string{"sh", "-c", "cat /mnt/host/f; echo; touch /mnt/host/g 2>/dev/null || echo ro; cat /etc/hosts; stat -c %a /t; cat /seed/sub/file; echo; ls /evil/escaped"},
	})
	if es.Code != 0 {
		t.Fatalf("exit %d: %s", es.Code, out)
	}
	for _, want := range []string{"from-host\n", "ro\n", "10.0.0.9 db\n", "700\n", "seeded\n", "f\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("symlink in the image redirected a mount to the host: %v", ents)
	}
	// First-use copy kept owners, modes and symlinks.
	fi, err := os.Lstat(filepath.Join(vol, "sub/file"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1000 || st.Gid != 1001 || fi.Mode().Perm() != 0o640 {
		t.Errorf("copied file: uid %d gid %d mode %v", st.Uid, st.Gid, fi.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(vol, "link")); l != "sub/file" {
		t.Errorf("copied symlink -> %q", l)
	}
	if vi, _ := os.Stat(vol); vi.Mode().Perm() != 0o750 {
		t.Errorf("volume root mode %v, want the image dir's 0750", vi.Mode())
	}
	// A non-empty volume is not overwritten.
	os.WriteFile(filepath.Join(vol, "sub/file"), []byte("changed"), 0o640)
	_, _, out = run(t, r, Spec{Mounts: []Mount{{Type: "bind", Source: vol, Target: "/seed", CopyUp: true}}, Cmd: []string{"cat", "/seed/sub/file"}})
	if out != "changed" {
		t.Errorf("second use: %q", out)
	}
}

// hostCapEff is this process's CapEff: a privileged container gets all
// the capabilities berth itself has (root here lacks CAP_SYS_RESOURCE).
func hostCapEff(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			return v
		}
	}
	return ""
}

type multiLower []string

func (m multiLower) Resolve(ctx context.Context, ref string) (Image, error) {
	return Image{Ref: ref, ID: "sha256:multi", LowerDirs: m, Config: ImageConfig{Env: []string{"PATH=" + defaultPath}}}, nil
}

func TestJoinNamespaces(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	a, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	sa, _ := r.Inspect(ctx, a.ID)
	netIno, _ := os.Readlink(sa.Namespaces["net"])
	_, es, out := run(t, r, Spec{Namespaces: Namespaces{Network: sa.Namespaces["net"], IPC: sa.Namespaces["ipc"], PID: sa.Namespaces["pid"]},
		Cmd: []string{"sh", "-c", "readlink /proc/self/ns/net; ps -o comm | grep -c sleep"}})
	if es.Code != 0 || out != netIno+"\n1\n" {
		t.Errorf("joined container: exit %d output %q, want %q", es.Code, out, netIno+"\n1\n")
	}
	_, _, out = run(t, r, Spec{Namespaces: Namespaces{Network: "host"}, Cmd: []string{"readlink", "/proc/self/ns/net"}})
	self, _ := os.Readlink("/proc/self/ns/net")
	if out != self+"\n" {
		t.Errorf("host network: %q, want %q", out, self)
	}
}

func TestCopyAndTop(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d/e"), 0o755)
	os.WriteFile(filepath.Join(src, "d/e/f"), []byte("deep"), 0o600)
	// Stopped container: goes through a private overlay mount.
	if err := r.CopyTo(ctx, st.ID, filepath.Join(src, "d"), "/tmp"); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code, err := r.Exec(ctx, st.ID, ExecSpec{Args: []string{"cat", "/tmp/d/e/f"}, Stdout: &out}); err != nil || code != 0 || out.String() != "deep" {
		t.Errorf("after cp to stopped container: %d %v %q", code, err, out.String())
	}
	// Running container: through its mount namespace.
	dst := filepath.Join(t.TempDir(), "copy")
	if err := r.CopyFrom(ctx, st.ID, "/tmp/d", dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "e/f")); string(b) != "deep" {
		t.Errorf("cp from running container: %q", b)
	}
	procs, err := r.Top(ctx, st.ID)
	if err != nil || len(procs) != 1 || procs[0].Cmd != "sleep 60" {
		t.Errorf("top: %+v %v", procs, err)
	}
	if err := r.Pause(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Inspect(ctx, st.ID); s.Status != StatusPaused {
		t.Errorf("after pause: %s", s.Status)
	}
	if err := r.Pause(ctx, st.ID); !errors.Is(err, ErrInvalidState) {
		t.Errorf("double pause: %v", err)
	}
	if err := r.Unpause(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, st.ID, true); err != nil {
		t.Fatal(err)
	}
}

// The limits land in the container's cgroup files (v1 layout here).
func TestCgroupLimits(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	st, err := r.Create(ctx, Spec{Image: "busybox", Cmd: []string{"sleep", "60"}, Resources: Resources{
		Memory: 64 << 20, NanoCPUs: 5e8, CPUShares: 512, CPUSetCPUs: "0", PidsLimit: 33}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	m, err := newCgroupManager(st.CgroupPath, st.Spec.Resources, false)
	if err != nil {
		t.Fatal(err)
	}
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join(m.Path(ctrl), file))
		if err != nil {
			t.Errorf("%s/%s: %v", ctrl, file, err)
		}
		return strings.TrimSpace(string(b))
	}
	if m.Path("memory") == "" || !strings.HasPrefix(m.Path("memory"), "/sys/fs/cgroup/memory") {
		testenv.Missing(t, "cgroup v1 memory controller (this test checks v1 files)")
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "67108864"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "512"},
		{"cpuset", "cpuset.cpus", "0"},
		{"pids", "pids.max", "33"},
	} {
		if got := read(c.ctrl, c.file); got != c.want {
			t.Errorf("%s: %q, want %q", c.file, got, c.want)
		}
	}
	if got := read("devices", "devices.list"); strings.Contains(got, "a *:* rwm") {
		t.Errorf("devices cgroup allows everything: %q", got)
	}
	pids := read("pids", "cgroup.procs")
	if !strings.Contains(pids, strconv.Itoa(func() int { s, _ := r.Inspect(ctx, st.ID); return s.Pid }())) {
		t.Errorf("init not in the cgroup: %q", pids)
	}
}

// The container sees its own cgroup at /sys/fs/cgroup, as with Docker:
// its limits are readable there, it is the root, and it is read-only
// (read-write when privileged).
func TestCgroupFS(t *testing.T) {
	r := newTestRuntime(t)
	script := `cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; ` +
		`grep -c ':/$' /proc/self/cgroup; touch /sys/fs/cgroup/x 2>/dev/null || echo ro`
	for _, init := range []bool{false, true} {
		_, es, out := run(t, r, Spec{Init: init, Cmd: []string{"sh", "-c", script}, Resources: Resources{Memory: 48 << 20}})
		lines := strings.Fields(out)
		if es.Code != 0 || len(lines) != 3 || lines[0] != strconv.Itoa(48<<20) || lines[1] == "0" || lines[2] != "ro" {
			t.Errorf("init %v: exit %d, want the limit, the cgroup as root, read-only: %q", init, es.Code, out)
		}
	}
	_, es, out := run(t, r, Spec{Privileged: true, Cmd: []string{"sh", "-c",
		`d=$(ls -d /sys/fs/cgroup/pids /sys/fs/cgroup 2>/dev/null | head -1); mkdir $d/sub && rmdir $d/sub && echo rw`}})
	if es.Code != 0 || strings.TrimSpace(out) != "rw" {
		t.Errorf("privileged: exit %d %q, want a writable /sys/fs/cgroup", es.Code, out)
	}
}
