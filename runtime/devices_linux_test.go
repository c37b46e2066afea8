package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestDevicesMapped: a mapped host device appears at its target with the
// host node's type, numbers and mode, and the container can use it.
func TestDevicesMapped(t *testing.T) {
	r := newTestRuntime(t)
	var host unix.Stat_t
	if err := unix.Stat("/dev/null", &host); err != nil {
		t.Fatal(err)
	}
	want := "1:3 " + strconv.FormatUint(uint64(host.Mode&0o7777), 8) + " character special file\nwrote\n"
	for _, privileged := range []bool{false, true} {
		_, es, out := run(t, r, Spec{
			Privileged: privileged,
			Devices:    []Device{{Source: "/dev/null", Target: "/dev/mynull"}},
			Cmd:        []string{"sh", "-c", "stat -c '%t:%T %a %F' /dev/mynull && echo hello > /dev/mynull && echo wrote"},
		})
		if es.Code != 0 || out != want {
			t.Errorf("privileged=%t: exit %d output %q, want %q", privileged, es.Code, out, want)
		}
	}
	// A target outside /dev, in the image's tree, and the default when
	// no target is given.
	_, es, out := run(t, r, Spec{
		Devices: []Device{{Source: "/dev/zero", Target: "/opt/dev/z"}, {Source: "/dev/full"}},
		Cmd:     []string{"sh", "-c", "stat -c '%t:%T' /opt/dev/z /dev/full && head -c 3 /opt/dev/z | od -An -tx1"},
	})
	if es.Code != 0 || out != "1:5\n1:7\n 00 00 00\n" {
		t.Errorf("zero and full: exit %d output %q", es.Code, out)
	}
}

// TestDevicesCgroup: the device cgroup allows a mapped device with exactly
// its permissions and refuses a node of a device that was not mapped, even
// one the container makes itself. /dev/kmsg (1:11, not in Docker's default
// list) opened write-only is the probe: that open needs no capability and
// writes nothing to the kernel log.
func TestDevicesCgroup(t *testing.T) {
	testenv.RequireFile(t, "/dev/kmsg", "the kernel's /dev/kmsg")
	r := newTestRuntime(t)
	// Operation not permitted (EPERM) at open is the device cgroup's
	// answer; a missing node would say "No such file".
	probe := "true 2>&1 > /dev/k && echo opened"
	const refused = "sh: can't create /dev/k: Operation not permitted\n"
	for _, tc := range []struct {
		name    string
		devices []Device
		script  string
		want    string
	}{
		{"mapped with w", []Device{{Source: "/dev/kmsg", Target: "/dev/k", Permissions: "w"}}, probe, "opened\n"},
		{"mapped with rwm by default", []Device{{Source: "/dev/kmsg", Target: "/dev/k"}}, probe, "opened\n"},
		{"mapped read-only", []Device{{Source: "/dev/kmsg", Target: "/dev/k", Permissions: "r"}}, probe, refused},
		{"not mapped, made by mknod", nil, "mknod /dev/k c 1 11 2>/dev/null || { echo mknod refused; exit; }; " + probe, refused},
	} {
		_, es, out := run(t, r, Spec{Devices: tc.devices, Cmd: []string{"sh", "-c", tc.script}})
		if !deviceControlled() && tc.devices == nil {
			tc.want = "mknod refused\n"
		}
		if out != tc.want {
			t.Errorf("%s: exit %d output %q, want %q", tc.name, es.Code, out, tc.want)
		}
	}
}

// TestDevicesCreateRejected: a device path that does not exist or is not a
// device fails the create with its path in the message, and leaves
// nothing behind.
func TestDevicesCreateRejected(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		dev  Device
		want string
	}{
		{Device{Source: "/dev/berth-test-no-such-device"}, "device /dev/berth-test-no-such-device: stat /dev/berth-test-no-such-device: no such file or directory"},
		{Device{Source: "/etc/passwd"}, "device /etc/passwd: not a device node but a regular file"},
		{Device{Source: dir}, "device " + dir + ": not a device node but a directory"},
		{Device{Source: "dev/null"}, `device "dev/null": the host path must be absolute`},
		{Device{Source: "/dev/null", Target: "mynull"}, `device /dev/null: target "mynull" is not absolute`},
		{Device{Source: "/dev/null", Permissions: "rwx"}, `device /dev/null: permissions "rwx": want a combination of r, w and m`},
	} {
		_, err := r.Create(ctx, Spec{Image: "busybox", Devices: []Device{tc.dev}, Cmd: []string{"true"}})
		if err == nil || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want ErrInvalidArgument with %q", tc.dev, err, tc.want)
		}
	}
	if list, _ := r.List(ctx, nil); len(list) != 0 {
		t.Errorf("%d containers left after failed creates", len(list))
	}
	ents, _ := os.ReadDir(r.root)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left in the containers dir: %s", e.Name())
		}
	}
}

// TestModesHostNamespaces: pid "host" sees a host process the test
// started; ipc "host" is the host's IPC namespace and /dev/shm.
func TestModesHostNamespaces(t *testing.T) {
	r := newTestRuntime(t)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pid := strconv.Itoa(sleep.Process.Pid)
	hostPid, _ := os.Readlink("/proc/self/ns/pid")
	hostIpc, _ := os.Readlink("/proc/self/ns/ipc")
	shm, err := os.CreateTemp("/dev/shm", "berth-test-")
	if err != nil {
		t.Fatal(err)
	}
	shm.Close()
	t.Cleanup(func() { os.Remove(shm.Name()) })

	_, es, out := run(t, r, Spec{
		Namespaces: Namespaces{PID: "host", IPC: "host"},
		Cmd: []string{"sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; tr '\\0' ' ' < /proc/" + pid + "/cmdline; echo; " +
			"ls /dev/shm/" + filepath.Base(shm.Name())},
	})
	want := hostPid + "\n" + hostIpc + "\nsleep 60 \n" + shm.Name() + "\n"
	if es.Code != 0 || out != want {
		t.Errorf("host pid and ipc: exit %d output %q, want %q", es.Code, out, want)
	}
	// berth's --init is not pid 1 there, and still runs the process.
	_, es, out = run(t, r, Spec{Init: true, Namespaces: Namespaces{PID: "host"}, Cmd: []string{"sh", "-c", "test $$ -ne 1 && echo ok"}})
	if es.Code != 0 || out != "ok\n" {
		t.Errorf("host pid with init: exit %d output %q", es.Code, out)
	}
	// The default is private: the host's process is not there.
	_, es, out = run(t, r, Spec{Cmd: []string{"sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; test -e /proc/" + pid + " && echo visible; ls /dev/shm | wc -l"}})
	if es.Code != 0 || strings.Contains(out, hostPid) || strings.Contains(out, hostIpc) || strings.Contains(out, "visible") || !strings.HasSuffix(out, "\n0\n") {
		t.Errorf("private pid and ipc: exit %d output %q", es.Code, out)
	}
}

// TestDeviceValidation is validateSpec's device table; it needs no root.
func TestDeviceValidation(t *testing.T) {
	for _, tc := range []struct {
		devs []Device
		want string // "" = valid
	}{
		{[]Device{{Source: "/dev/null"}}, ""},
		{[]Device{{Source: "/dev/null", Target: "/dev/a", Permissions: "rw"}, {Source: "/dev/zero", Target: "/dev/b", Permissions: "m"}}, ""},
		{[]Device{{Source: "/dev/null", Target: "/dev/a"}, {Source: "/dev/zero", Target: "/dev/a/"}}, "device /dev/zero: target /dev/a/ is also the target of /dev/null"},
		{[]Device{{Source: "/dev/null", Target: "/dev"}}, `device /dev/null: target "/dev" is not a file path`},
		{[]Device{{Source: "/dev/null", Permissions: "rr"}}, `device /dev/null: permissions "rr": want a combination of r, w and m`},
		{[]Device{{Source: "/proc/self/status"}}, "device /proc/self/status: not a device node but a regular file"},
		{[]Device{{Source: "/dev/berth-test-missing"}}, "no such file or directory"},
	} {
		err := validateSpec(&Spec{Image: "busybox", Devices: tc.devs})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.devs, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.devs, err, tc.want)
		}
	}
}
