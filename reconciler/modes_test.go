package reconciler

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

func pidMode(m string) func(*spec.Service) { return func(s *spec.Service) { s.Pid = m } }
func ipcMode(m string) func(*spec.Service) { return func(s *spec.Service) { s.Ipc = m } }

// TestModesContainerSpec: pid/ipc host and devices reach the runtime's
// spec; private, shareable and joins leave the namespace to the executor.
func TestModesContainerSpec(t *testing.T) {
	devs := []spec.Device{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rw"}, {Source: "/dev/zero", Target: "/dev/zero", Permissions: "rwm"}}
	for _, tc := range []struct {
		name     string
		pid, ipc string
		want     runtime.Namespaces
	}{
		{"defaults", "", "", runtime.Namespaces{}},
		{"host", "host", "host", runtime.Namespaces{PID: "host", IPC: "host"}},
		{"private and shareable", "", "shareable", runtime.Namespaces{}},
		{"ipc private", "", "private", runtime.Namespaces{}},
		{"joins", "service:a", "container:x", runtime.Namespaces{}},
	} {
		p := project(svc("a"), svc("b", pidMode(tc.pid), ipcMode(tc.ipc), func(s *spec.Service) { s.Devices = devs }))
		b, _ := p.Service("b")
		rs := ContainerSpec(p, b, 1, ImageInfo{ID: "sha256:x"})
		if rs.Namespaces.PID != tc.want.PID || rs.Namespaces.IPC != tc.want.IPC {
			t.Errorf("%s: namespaces %+v, want %+v", tc.name, rs.Namespaces, tc.want)
		}
		want := []runtime.Device{{Source: "/dev/null", Target: "/dev/mynull", Permissions: "rw"}, {Source: "/dev/zero", Target: "/dev/zero", Permissions: "rwm"}}
		if !reflect.DeepEqual(rs.Devices, want) {
			t.Errorf("%s: devices %+v", tc.name, rs.Devices)
		}
	}
}

// TestModesDependencies: pid:/ipc: service:x order x first, as
// network_mode service:x does; container: and host do not.
func TestModesDependencies(t *testing.T) {
	p := project(svc("a", ipcMode("shareable")), svc("b"),
		svc("j", pidMode("service:b"), ipcMode("service:a")),
		svc("k", pidMode("host"), ipcMode("container:demo-a-1")))
	j, _ := p.Service("j")
	if got := Dependencies(p, j); !reflect.DeepEqual(got, []Edge{{Before: "a", Required: true}, {Before: "b", Required: true}}) {
		t.Errorf("j's edges %+v", got)
	}
	k, _ := p.Service("k")
	if got := Dependencies(p, k); len(got) != 0 {
		t.Errorf("k's edges %+v", got)
	}
	// By name a0 sorts before z: only the pid edge puts z first.
	p = project(svc("z", ipcMode("shareable")), svc("a0", pidMode("service:z")))
	order, err := TopoOrder(p, nil)
	if err != nil || strings.Join(order, ",") != "z,a0" {
		t.Errorf("order %v %v, want z before a0", order, err)
	}
}

// TestModesApply: the executor resolves service: and container: joins to
// the running container's namespace paths.
func TestModesApply(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("a", ipcMode("shareable")),
		svc("b", pidMode("service:a"), ipcMode("service:a")),
		svc("c", pidMode("container:demo-a-1"), ipcMode("host"), dependsOn("a", spec.ConditionStarted)),
		svc("d", pidMode("host")))
	up(t, e, p, PlanOptions{})
	for _, tc := range []struct {
		name string
		want runtime.Namespaces
	}{
		{"demo-a-1", runtime.Namespaces{Network: "/run/netns/demo-a-1"}},
		{"demo-b-1", runtime.Namespaces{Network: "/run/netns/demo-b-1", PID: "/proc/demo-a-1/ns/pid", IPC: "/proc/demo-a-1/ns/ipc"}},
		{"demo-c-1", runtime.Namespaces{Network: "/run/netns/demo-c-1", PID: "/proc/demo-a-1/ns/pid", IPC: "host"}},
		{"demo-d-1", runtime.Namespaces{Network: "/run/netns/demo-d-1", PID: "host"}},
	} {
		if got := w.rt.specOf(tc.name).Namespaces; got != tc.want {
			t.Errorf("%s: namespaces %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestModesJoinMissing: joining a container that is not running fails the
// create with the key and the value in the message.
func TestModesJoinMissing(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("b", ipcMode("container:nope")))
	err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "ipc container:nope: no running container: not found") {
		t.Fatalf("err = %v", err)
	}
}

// TestModesRecreateJoiners: recreating a service recreates the services
// that joined its pid or IPC namespace; changing a joiner alone leaves
// the service it joins alone.
func TestModesRecreateJoiners(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	stackOf := func(aEnv, bEnv string) *spec.Project {
		return project(svc("a", ipcMode("shareable"), env(aEnv)),
			svc("p", pidMode("service:a"), env(bEnv)),
			svc("q", ipcMode("service:a"), env(bEnv)),
			svc("r", pidMode("host"), env(bEnv)))
	}
	up(t, e, stackOf("X=1", "Y=1"), PlanOptions{})
	got := plan(t, e, stackOf("X=2", "Y=1"), PlanOptions{}).String()
	for _, want := range []string{
		"recreate container demo-a-1: environment.X changed",
		"service p after a:\n  recreate container demo-p-1: joins the pid namespace of a, which is recreated",
		"service q after a:\n  recreate container demo-q-1: joins the IPC namespace of a, which is recreated",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "demo-r-1") {
		t.Errorf("pid host service r recreated:\n%s", got)
	}
	got = plan(t, e, stackOf("X=1", "Y=2"), PlanOptions{}).String()
	if strings.Contains(got, "demo-a-1") {
		t.Errorf("a recreated when only its joiners changed:\n%s", got)
	}
}

// TestModesRenewedTarget: pid and IPC are joined through the target's
// process, so a target that is started again (or made anew) recreates its
// pid/ipc joiners; a network_mode joiner keeps its sandbox and is left
// alone, and scaling the target up (new replica 2) changes nothing.
func TestModesRenewedTarget(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("a", ipcMode("shareable")),
		svc("p", pidMode("service:a")),
		svc("q", ipcMode("service:a")),
		svc("n", netMode("service:a")))
	up(t, e, p, PlanOptions{})
	w.rt.exit("demo-a-1", 137)
	got := plan(t, e, p, PlanOptions{}).String()
	for _, want := range []string{
		"start container demo-a-1: ",
		"recreate container demo-p-1: joins the pid namespace of a, which is started",
		"recreate container demo-q-1: joins the IPC namespace of a, which is started",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "demo-n-1") {
		t.Errorf("network_mode joiner touched:\n%s", got)
	}
	up(t, e, p, PlanOptions{})
	if got := w.rt.specOf("demo-p-1").Namespaces.PID; got != "/proc/demo-a-1/ns/pid" {
		t.Errorf("p joins %q", got)
	}

	got = plan(t, e, p, PlanOptions{Scale: map[string]int{"a": 2}}).String()
	if !strings.Contains(got, "create container demo-a-2") || strings.Contains(got, "demo-p-1") || strings.Contains(got, "demo-q-1") {
		t.Errorf("scale a to 2:\n%s", got)
	}
	up(t, e, p, PlanOptions{Scale: map[string]int{"a": 2}})
	// Joiners made now join replica 1, the one the planner watches.
	got = plan(t, e, p, PlanOptions{ForceRecreate: true, Services: []string{"p"}, NoDeps: true}).String()
	up(t, e, p, PlanOptions{ForceRecreate: true, Services: []string{"p"}, NoDeps: true})
	if ns := w.rt.specOf("demo-p-1").Namespaces.PID; ns != "/proc/demo-a-1/ns/pid" {
		t.Errorf("p joins %q with two replicas of a (plan %s)", ns, got)
	}
}
