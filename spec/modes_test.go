package spec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestDevicesPidIpc: devices (short and long syntax), pid and ipc are
// loaded into the model, normalized, and no longer warned about.
func TestDevicesPidIpc(t *testing.T) {
	t.Parallel()
	p := mustLoadYAML(t, `services:
  a:
    image: x
    ipc: shareable
    pid: host
    devices:
      - /dev/null
      - /dev/zero:/dev/myzero
      - /dev/full:/dev/f:wr
      - source: /dev/random
        target: /dev/r
        permissions: r
      - source: /dev/urandom
        target: /dev/urandom
  b:
    image: x
    ipc: service:a
    pid: service:a
  c:
    image: x
    ipc: container:other
    pid: container:other
`)
	a := mustService(t, p, "a")
	want := []Device{
		{Source: "/dev/null", Target: "/dev/null", Permissions: "rwm"},
		{Source: "/dev/zero", Target: "/dev/myzero", Permissions: "rwm"},
		{Source: "/dev/full", Target: "/dev/f", Permissions: "rw"},
		{Source: "/dev/random", Target: "/dev/r", Permissions: "r"},
		{Source: "/dev/urandom", Target: "/dev/urandom", Permissions: "rwm"},
	}
	if !reflect.DeepEqual(a.Devices, want) {
		t.Errorf("devices\n got %+v\nwant %+v", a.Devices, want)
	}
	for _, tc := range []struct{ svc, pid, ipc string }{
		{"a", "host", "shareable"}, {"b", "service:a", "service:a"}, {"c", "container:other", "container:other"},
	} {
		s := mustService(t, p, tc.svc)
		if s.Pid != tc.pid || s.Ipc != tc.ipc {
			t.Errorf("%s: pid %q ipc %q, want %q %q", tc.svc, s.Pid, s.Ipc, tc.pid, tc.ipc)
		}
	}
	for _, w := range p.Warnings {
		for _, k := range []string{".devices", ".pid", ".ipc"} {
			if strings.Contains(w.Path, k) {
				t.Errorf("unexpected warning %s", w)
			}
		}
	}
}

// TestModesBadInputs follows TestBadInputs: each manifest is refused with
// exactly this located message.
func TestModesBadInputs(t *testing.T) {
	t.Parallel()
	const svc = "services:\n  web:\n    image: x\n"
	const two = svc + "  db:\n    image: x\n"
	tests := []struct{ name, manifest, want string }{
		{"unknown pid mode", svc + "    pid: private\n",
			`compose.yaml:4:5: services.web.pid: invalid pid mode "private": want host, service:<name> or container:<name>`},
		{"unknown ipc mode", svc + "    ipc: sharable\n",
			`compose.yaml:4:5: services.web.ipc: invalid ipc mode "sharable": want private, shareable, host, service:<name> or container:<name>`},
		{"pid service unknown", svc + "    pid: service:nope\n",
			`compose.yaml:4:5: services.web.pid: unknown or disabled service "nope"`},
		{"ipc service unknown", svc + "    ipc: service:nope\n",
			`compose.yaml:4:5: services.web.ipc: unknown or disabled service "nope"`},
		{"pid service itself", svc + "    pid: service:web\n",
			`compose.yaml:4:5: services.web.pid: a service cannot join its own pid namespace`},
		{"ipc service itself", svc + "    ipc: service:web\n",
			`compose.yaml:4:5: services.web.ipc: a service cannot join its own ipc namespace`},
		{"pid container without name", svc + "    pid: \"container:\"\n",
			`compose.yaml:4:5: services.web.pid: container: needs a container name`},
		{"ipc service not shareable", two + "    ipc: private\n" + "  web2:\n    image: x\n    ipc: service:db\n",
			`compose.yaml:9:5: services.web2.ipc: cannot join the IPC namespace of service "db": it is not shareable (set ipc: shareable on db)`},
		{"ipc service default not shareable", two + "    ipc: service:web\n",
			`compose.yaml:6:5: services.db.ipc: cannot join the IPC namespace of service "web": it is not shareable (set ipc: shareable on web)`},
		{"pid service disabled", svc + "    pid: service:db\n  db:\n    image: x\n    profiles: [debug]\n",
			`compose.yaml:4:5: services.web.pid: unknown or disabled service "db"`},
		{"circular pid", svc + "    pid: service:db\n  db:\n    image: x\n    pid: service:web\n",
			`compose.yaml:7:5: services.db.pid: circular pid: db -> web -> db`},
		{"pod member sets pid", "pods:\n  app:\n    services: [web]\n    share: [network, pid]\n" + svc + "    pid: host\n",
			`compose.yaml:8:5: services.web.pid: service "web" is a member of pod "app", which shares its pid namespace: remove pid here or pid from pods.app.share`},
		{"pod member sets ipc", "pods:\n  app:\n    services: [web]\n" + svc + "    ipc: shareable\n",
			`compose.yaml:7:5: services.web.ipc: service "web" is a member of pod "app", which shares its IPC namespace: remove ipc here or ipc from pods.app.share`},
		{"device relative source", svc + "    devices: [\"ttyUSB0:/dev/ttyUSB0\"]\n",
			`compose.yaml:4:15: services.web.devices[0]: device "ttyUSB0": the source must be an absolute host path such as /dev/ttyUSB0 (CDI device names are not supported by berth)`},
		{"device permissions as target", svc + "    devices: [\"/dev/null:rwm\"]\n",
			`compose.yaml:4:15: services.web.devices[0]: device "/dev/null": the target "rwm" must be an absolute path in the container`},
		{"device bad permissions", svc + "    devices: [\"/dev/null:/dev/null:rwx\"]\n",
			`compose.yaml:4:15: services.web.devices[0]: device "/dev/null": invalid permissions "rwx": want a combination of r, w and m`},
		{"device repeated permission", svc + "    devices:\n      - source: /dev/null\n        target: /dev/null\n        permissions: rr\n",
			`compose.yaml:5:9: services.web.devices[0]: device "/dev/null": invalid permissions "rr": want a combination of r, w and m`},
		{"device target twice", svc + "    devices: [\"/dev/null:/dev/x\", \"/dev/zero:/dev/x/\"]\n",
			`compose.yaml:4:35: services.web.devices[1]: device target "/dev/x/" is also used by devices[0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tc.manifest)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestModesAccepted: joins that Docker allows load cleanly.
func TestModesAccepted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, manifest string }{
		{"ipc join a host-ipc service", "services:\n  a:\n    image: x\n    ipc: host\n  b:\n    image: x\n    ipc: service:a\n"},
		{"ipc join a pod member sharing ipc", "pods:\n  p:\n    services: [a]\nservices:\n  a:\n    image: x\n  b:\n    image: x\n    ipc: service:a\n"},
		{"pod member sets what its pod does not share", "pods:\n  p:\n    services: [a]\n    share: [network]\nservices:\n  a:\n    image: x\n    pid: host\n    ipc: private\n"},
		{"pid chain", "services:\n  a:\n    image: x\n  b:\n    image: x\n    pid: service:a\n  c:\n    image: x\n    pid: service:b\n"},
	} {
		if _, err := loadYAML(t, tc.manifest); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestModesHash: devices, pid and ipc are part of the config hash; a
// service without them keeps the hash it had before they were supported
// (containers made by an older berth are not recreated), and spelling out
// ipc: private (berth's default) or permissions in another order changes
// nothing.
func TestModesHash(t *testing.T) {
	t.Parallel()
	const before = "15b5f4f6383121fbecf1f62d2a791f427d9859178563da51d2448ffd076fdf08" // hashBase's web before this change
	base := hashOf(t, hashBase, "web")
	if base != before {
		t.Errorf("hash of a service without devices/pid/ipc changed: %s, was %s", base, before)
	}
	with := func(lines string) string {
		t.Helper()
		return hashOf(t, strings.Replace(hashBase, "    user: \"101\"\n", "    user: \"101\"\n"+lines, 1), "web")
	}
	for _, tc := range []struct{ name, a, b string }{
		{"ipc private is the default", "", "    ipc: private\n"},
		{"permissions order", "    devices: [\"/dev/null:/dev/null:rw\"]\n", "    devices: [\"/dev/null:/dev/null:wr\"]\n"},
		{"short and long syntax", "    devices: [\"/dev/null\"]\n", "    devices:\n      - source: /dev/null\n        target: /dev/null\n        permissions: rwm\n"},
	} {
		if with(tc.a) != with(tc.b) {
			t.Errorf("%s: hash changed", tc.name)
		}
	}
	seen := map[string]string{base: "base"}
	for _, tc := range []struct{ name, lines string }{
		{"pid host", "    pid: host\n"},
		{"pid service", "    pid: service:db\n"},
		{"pid container", "    pid: container:db\n"},
		{"ipc shareable", "    ipc: shareable\n"},
		{"ipc host", "    ipc: host\n"},
		{"ipc container", "    ipc: container:db\n"},
		{"device", "    devices: [\"/dev/null\"]\n"},
		{"device target", "    devices: [\"/dev/null:/dev/n\"]\n"},
		{"device permissions", "    devices: [\"/dev/null:/dev/null:r\"]\n"},
		{"devices order", "    devices: [\"/dev/null\", \"/dev/zero\"]\n"},
		{"devices order swapped", "    devices: [\"/dev/zero\", \"/dev/null\"]\n"},
	} {
		got := with(tc.lines)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: hash equals that of %s", tc.name, prev)
		}
		seen[got] = tc.name
	}
}
