package reconciler

import (
	"reflect"
	"testing"

	"github.com/berth-dev/berth/spec"
)

func TestProcessJoinTargets(t *testing.T) {
	p := project(svc("a", ipcMode("shareable")),
		svc("p", pidMode("service:a")),
		svc("q", ipcMode("service:a"), pidMode("service:a")),
		svc("n", netMode("service:a")), // a has its own sandbox: persistent
		svc("h", netMode("host")),
		svc("m", netMode("service:h")), // h has none: h's process
		svc("plain"))
	// Pod members after the first join it by process for ipc/uts.
	p.Services = append(p.Services, svc("x", func(s *spec.Service) { s.Pod = "app" }), svc("y", func(s *spec.Service) { s.Pod = "app" }))
	p.Pods = []spec.Pod{{Name: "app", Services: []string{"x", "y"}, Share: []string{spec.ShareNetwork, spec.ShareIPC, spec.ShareUTS}}}
	for name, want := range map[string][]string{"a": nil, "p": {"a"}, "q": {"a"}, "n": nil, "h": nil, "m": {"h"}, "plain": nil, "x": nil, "y": {"x"}} {
		s, _ := p.Service(name)
		if got := processJoinTargets(p, s); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

// The supervisor recreates a crashed joiner instead of starting it with
// its old /proc path, and recreates running joiners when their target
// restarts.
func TestSupervisorRestartsJoiners(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	always := restart(spec.RestartAlways, 0)
	p := project(svc("a", ipcMode("shareable"), always), svc("q", ipcMode("service:a"), always))
	up(t, e, p, PlanOptions{})
	s, _ := runSupervisor(t, e, p)
	eventually(t, "supervisor to watch both", func() bool { return s.Watching() == 2 })
	id := func(name string) string { c, _ := w.rt.get(name); return c.ID }
	running := func(name string) bool { c, _ := w.rt.get(name); return c.Running() }

	q1 := id("demo-q-1")
	w.rt.exit("demo-q-1", 1)
	eventually(t, "q recreated, not restarted", func() bool { return id("demo-q-1") != q1 && running("demo-q-1") })

	q2, a1 := id("demo-q-1"), id("demo-a-1")
	eventually(t, "supervisor to watch both", func() bool { return s.Watching() == 2 })
	w.rt.exit("demo-a-1", 1)
	eventually(t, "a restarted in place, q recreated", func() bool {
		return id("demo-a-1") == a1 && running("demo-a-1") && id("demo-q-1") != q2 && running("demo-q-1")
	})
}
