package reconciler

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/spec"
)

// eventually polls cond for up to 5 s of real time (goroutines of the
// code under test need scheduling; the fake clock does not move here).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ids(t *testing.T, w *world) map[string]string {
	t.Helper()
	cs, _ := w.rt.List(context.Background(), "demo")
	out := map[string]string{}
	for _, c := range cs {
		out[c.Name] = c.ID
	}
	return out
}

func TestApplyOrderAndConditions(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.exitOnStart["demo-migrate-1"] = 0
	var mu sync.Mutex
	var order []string
	healthy := false
	w.rt.onStart = func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, name)
		if (name == "demo-web-1" || name == "demo-migrate-1") && !healthy {
			return fmt.Errorf("%s started before db was healthy", name)
		}
		return nil
	}
	w.rt.onExec = func(name string, args []string) (ExecResult, error) {
		mu.Lock()
		defer mu.Unlock()
		healthy = true
		return ExecResult{}, nil
	}
	go advanceUntilDone(w.clock, t)
	pl := up(t, e, stack(nil), PlanOptions{})
	mu.Lock()
	defer mu.Unlock()
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	if !(pos["demo-db-1"] < pos["demo-web-1"] && pos["demo-db-1"] < pos["demo-migrate-1"] && pos["demo-migrate-1"] < pos["demo-worker-1"] && pos["demo-web-1"] < pos["demo-worker-1"]) {
		t.Fatalf("start order %v for plan\n%s", order, pl)
	}
	if h, err := e.Store.Health("demo-db-1"); err != nil || h.Status != HealthHealthy {
		t.Fatalf("db health not persisted: %+v %v", h, err)
	}
}

func TestApplyTwiceIsNoop(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.exitOnStart["demo-migrate-1"] = 0
	go advanceUntilDone(w.clock, t)
	up(t, e, stack(nil), PlanOptions{})
	before := ids(t, w)
	w.rt.Calls()
	pl := up(t, e, stack(nil), PlanOptions{})
	if !pl.Empty() {
		t.Fatalf("second up planned:\n%s", pl)
	}
	if calls := w.rt.Calls(); len(calls) != 0 {
		t.Fatalf("second up called %v", calls)
	}
	if after := ids(t, w); !reflect.DeepEqual(before, after) {
		t.Fatalf("ids changed: %v -> %v", before, after)
	}
}

func TestApplyChangeRecreatesOnlyThatService(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.exitOnStart["demo-migrate-1"] = 0
	go advanceUntilDone(w.clock, t)
	up(t, e, stack(nil), PlanOptions{})
	before := ids(t, w)
	w.rt.Calls()
	up(t, e, stack(map[string][]func(*spec.Service){"web": {env("DB_HOST=other")}}), PlanOptions{})
	want := []string{"create demo-web-1", "remove demo-web-1", "start demo-web-1", "stop demo-web-1"}
	if calls := w.rt.Calls(); !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	after := ids(t, w)
	for name, id := range before {
		if (after[name] == id) == (name == "demo-web-1") {
			t.Errorf("%s: id %s -> %s", name, id, after[name])
		}
	}
	if got := w.rt.specOf("demo-web-1").Env; !reflect.DeepEqual(got, []string{"DB_HOST=other"}) {
		t.Fatalf("env %v", got)
	}
}

func TestApplyScale(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := func(n int) *spec.Project { return project(svc("web", replicas(n))) }
	count := func() []string {
		var out []string
		for n := range ids(t, w) {
			out = append(out, n)
		}
		return sortStrings(out)
	}
	up(t, e, p(1), PlanOptions{})
	up(t, e, p(3), PlanOptions{})
	if got := count(); !reflect.DeepEqual(got, []string{"demo-web-1", "demo-web-2", "demo-web-3"}) {
		t.Fatalf("scale 3: %v", got)
	}
	up(t, e, p(3), PlanOptions{Scale: map[string]int{"web": 1}})
	if got := count(); !reflect.DeepEqual(got, []string{"demo-web-1"}) {
		t.Fatalf("scale 1: %v", got)
	}
	w.nets.mu.Lock()
	_, left := w.nets.sandboxes["demo-web-2"]
	w.nets.mu.Unlock()
	if left {
		t.Fatal("sandbox of a removed replica left behind")
	}
}

func TestApplyHealthGateFails(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.onExec = func(string, []string) (ExecResult, error) {
		return ExecResult{ExitCode: 1, Output: []byte("down")}, nil
	}
	go advanceUntilDone(w.clock, t)
	p := project(svc("db", healthcheck("CMD", "check")), svc("web", dependsOn("db", spec.ConditionHealthy)), svc("other"))
	err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "service web: dependency failed to start: container demo-db-1 is unhealthy") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, ErrDependency) || strings.Count(err.Error(), "dependency failed") != 1 {
		t.Errorf("err = %v: want ErrDependency, said once", err)
	}
	if _, ok := w.rt.get("demo-web-1"); ok {
		t.Fatal("web created although db is unhealthy")
	}
	if c, ok := w.rt.get("demo-other-1"); !ok || !c.Running() {
		t.Fatal("independent service not started")
	}
	if h, _ := e.Store.Health("demo-db-1"); h.Status != HealthUnhealthy || h.Log[len(h.Log)-1].Output != "down" {
		t.Fatalf("health %+v", h)
	}
}

func TestApplyDependencyExitsBeforeHealthy(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.exitOnStart["demo-db-1"] = 3
	p := project(svc("db", healthcheck("CMD", "check")), svc("web", dependsOn("db", spec.ConditionHealthy)))
	err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "container demo-db-1 exited (3) before it was healthy") {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyCompletedSuccessfully(t *testing.T) {
	for _, code := range []int{0, 2} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			w := newWorld("busybox:latest")
			e := w.executor(t, "demo")
			w.rt.exitOnStart["demo-job-1"] = code
			p := project(svc("job"), svc("app", dependsOn("job", spec.ConditionCompleted)))
			err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
			_, created := w.rt.get("demo-app-1")
			if code == 0 && (err != nil || !created) {
				t.Fatalf("err %v created %v", err, created)
			}
			if code != 0 && (err == nil || !strings.Contains(err.Error(), `service "job" didn't complete successfully: exit 2`) || created) {
				t.Fatalf("err %v created %v", err, created)
			}
		})
	}
}

func TestApplyFailedDependencyStopsDependents(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.onCreate = func(s runtimeSpec) error {
		if s.Name == "demo-db-1" {
			return errors.New("no space left on device")
		}
		return nil
	}
	p := project(svc("db"), svc("web", dependsOn("db", spec.ConditionStarted)), svc("worker", dependsOn("web", spec.ConditionStarted)), svc("other"))
	err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
	for _, want := range []string{
		"create container demo-db-1: no space left on device",
		"service web: dependency db failed to start",
		"service worker: dependency web failed to start",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if !errors.Is(err, ErrDependency) {
		t.Error("not ErrDependency")
	}
	if _, ok := w.rt.get("demo-other-1"); !ok {
		t.Error("independent service not created")
	}
	w.nets.mu.Lock()
	_, left := w.nets.sandboxes["demo-db-1"]
	w.nets.mu.Unlock()
	if left {
		t.Error("sandbox of the failed create left behind")
	}
}

func TestApplyOptionalDependency(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.onCreate = func(s runtimeSpec) error {
		if s.Name == "demo-db-1" {
			return errors.New("boom")
		}
		return nil
	}
	p := project(svc("db"), svc("web", func(s *spec.Service) {
		s.DependsOn = map[string]spec.Dependency{"db": {Condition: spec.ConditionStarted, Required: false}}
	}))
	err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{})
	if err == nil || strings.Contains(err.Error(), "service web") {
		t.Fatalf("err = %v", err)
	}
	if c, ok := w.rt.get("demo-web-1"); !ok || !c.Running() {
		t.Fatal("web with an optional failed dependency not started")
	}
}

func TestApplyIndependentServicesInParallel(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	var wg sync.WaitGroup
	wg.Add(3)
	w.rt.onCreate = func(s runtimeSpec) error {
		wg.Done()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("creates ran one after the other")
		}
	}
	p := project(svc("a"), svc("b"), svc("c"))
	if err := e.Apply(context.Background(), p, plan(t, e, p, PlanOptions{}), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestApplyNetworkModeAndPod(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := podProject(nil)
	p.Services = append(p.Services, svc("side", netMode("service:c")))
	p.Services = sortServices(p.Services)
	rehash(p)
	up(t, e, p, PlanOptions{})
	if got := w.rt.specOf("demo-side-1").Namespaces.Network; got != "/run/netns/demo-c-1" {
		t.Errorf("side joins %q", got)
	}
	a, b := w.rt.specOf("demo-a-1"), w.rt.specOf("demo-b-1")
	if a.Namespaces.Network != "/run/netns/demo-pod-pair" || b.Namespaces.Network != a.Namespaces.Network {
		t.Errorf("pod netns a %q b %q", a.Namespaces.Network, b.Namespaces.Network)
	}
	if b.Namespaces.IPC != "/proc/demo-a-1/ns/ipc" || b.Namespaces.UTS != "/proc/demo-a-1/ns/uts" || b.Namespaces.PID != "" {
		t.Errorf("pod member namespaces %+v", b.Namespaces)
	}
}

func TestDownLeavesNothing(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	w.rt.exitOnStart["demo-migrate-1"] = 0
	go advanceUntilDone(w.clock, t)
	p := stack(map[string][]func(*spec.Service){"web": {replicas(2)}})
	up(t, e, p, PlanOptions{})
	// A one-off and an orphan are removed too.
	w.rt.Create(context.Background(), runtimeSpec{Name: "demo-web-run-1", Labels: map[string]string{LabelProject: "demo", LabelService: "web", LabelOneoff: "True"}})
	w.rt.Create(context.Background(), runtimeSpec{Name: "demo-gone-1", Labels: map[string]string{LabelProject: "demo", LabelService: "gone", LabelNumber: "1"}})
	w.rt.Calls()
	sandboxes, _ := w.nets.ListSandboxes(context.Background(), "demo")
	// Each container's namespace is released once it has stopped (the
	// kernel deletes it while the others stop).
	w.nets.onRelease = func(id string) {
		cs, _ := w.rt.List(context.Background(), "demo")
		for _, c := range cs {
			if c.Name == id && c.Running() {
				t.Errorf("namespace of %s released while it runs", id)
			}
		}
	}
	if err := e.Down(context.Background(), "demo", p, DownOptions{RemoveVolumes: true}); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(w.nets.releasedNS)); len(sandboxes) == 0 || !slices.Equal(got, sandboxes) {
		t.Errorf("namespaces released %v, want every sandbox %v", got, sandboxes)
	}
	if n := len(ids(t, w)); n != 0 {
		t.Errorf("%d containers left", n)
	}
	if n, _ := w.nets.ListNetworks(context.Background(), "demo"); len(n) != 0 {
		t.Errorf("networks left: %v", n)
	}
	if s, _ := w.nets.ListSandboxes(context.Background(), "demo"); len(s) != 0 {
		t.Errorf("sandboxes left: %v", s)
	}
	if w.nets.batches != 1 {
		t.Errorf("sandboxes deleted in %d batches, want 1", w.nets.batches)
	}
	if v, _ := w.vols.ListVolumes(context.Background(), "demo"); len(v) != 0 {
		t.Errorf("volumes left: %v", v)
	}
	calls := w.rt.Calls()
	// Dependents stop before what they depend on.
	pos := map[string]int{}
	for i, c := range w.rt.calls {
		pos[c] = i
	}
	_ = pos
	if len(calls) == 0 {
		t.Fatal("no calls")
	}
	if err := e.Down(context.Background(), "demo", p, DownOptions{}); err != nil {
		t.Fatalf("second down: %v", err)
	}
}

func TestDownStopOrder(t *testing.T) {
	p := stack(nil)
	cs := []Container{}
	for _, n := range []string{"db", "migrate", "web", "worker"} {
		cs = append(cs, Container{Name: n, Labels: map[string]string{LabelService: n}})
	}
	var got [][]string
	for _, l := range stopLevels(p, cs) {
		var names []string
		for _, c := range l {
			names = append(names, c.Name)
		}
		got = append(got, names)
	}
	want := [][]string{{"worker"}, {"migrate", "web"}, {"db"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("levels %v, want %v", got, want)
	}
}
