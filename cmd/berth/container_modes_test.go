package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/runtime"
)

func TestModeOptions(t *testing.T) {
	for _, tc := range []struct {
		o       modeOptions
		devices []runtime.Device
		pid     string
		ipc     string
		err     string
	}{
		{o: modeOptions{devices: []string{"/dev/fuse"}}, devices: []runtime.Device{{Source: "/dev/fuse"}}},
		{o: modeOptions{devices: []string{"/dev/sda:rw"}}, devices: []runtime.Device{{Source: "/dev/sda", Permissions: "rw"}}},
		{o: modeOptions{devices: []string{"/dev/null:/dev/n"}}, devices: []runtime.Device{{Source: "/dev/null", Target: "/dev/n"}}},
		{o: modeOptions{devices: []string{"/dev/null:/dev/n:r"}}, devices: []runtime.Device{{Source: "/dev/null", Target: "/dev/n", Permissions: "r"}}},
		{o: modeOptions{devices: []string{"a:b:c:d"}}, err: "--device"},
		{o: modeOptions{pid: "host", ipc: "host"}, pid: "host", ipc: "host"},
		{o: modeOptions{pid: "container:x", ipc: "shareable"}},
		{o: modeOptions{pid: "private"}, err: "--pid"},
		{o: modeOptions{ipc: "container:"}, err: "--ipc"},
	} {
		var s runtime.Spec
		err := tc.o.apply(&s)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.o, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(s.Devices, tc.devices) || s.Namespaces.PID != tc.pid || s.Namespaces.IPC != tc.ipc {
			t.Errorf("%+v: %v devices %+v pid %q ipc %q", tc.o, err, s.Devices, s.Namespaces.PID, s.Namespaces.IPC)
		}
	}
}

// docker run's --device, --pid and --ipc on single containers.
func TestContainerRunModes(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	loadBusybox(t, root, nil)
	run := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(mustBerth(t, root, append([]string{"container", "run", "--rm", "--network", "none"}, args...)...))
	}
	if got := run("--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c", "stat -c %t:%T /dev/mynull && echo x > /dev/mynull && echo ok"); got != "1:3\nok" {
		t.Errorf("--device: %q", got)
	}
	hostPid, _ := os.Readlink("/proc/self/ns/pid")
	if got := run("--pid", "host", "busybox", "readlink", "/proc/self/ns/pid"); got != hostPid {
		t.Errorf("--pid host: %q, want %q", got, hostPid)
	}
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	if got := run("--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"); got != hostIPC {
		t.Errorf("--ipc host: %q, want %q", got, hostIPC)
	}
	mustBerth(t, root, "container", "run", "-d", "--name", "donor", "--network", "none", "--ipc", "shareable", "busybox", "sleep", "1000")
	t.Cleanup(func() { berthCLI(t, root, nil, "container", "rm", "-f", "donor") })
	donor := strings.TrimSpace(mustBerth(t, root, "container", "exec", "donor", "readlink", "/proc/self/ns/ipc"))
	if got := run("--ipc", "container:donor", "--pid", "container:donor", "busybox", "readlink", "/proc/self/ns/ipc"); got != donor || got == hostIPC {
		t.Errorf("--ipc container:donor: %q, want the donor's %q", got, donor)
	}
	if _, errOut, code := berthCLI(t, root, nil, "container", "run", "--rm", "--device", "/etc/passwd", "busybox", "true"); code == 0 || !strings.Contains(errOut, "/etc/passwd") {
		t.Errorf("--device of a regular file: exit %d %q", code, errOut)
	}
}
