package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

func TestParseScale(t *testing.T) {
	got, err := parseScale([]string{"web=3", "db=0"})
	if err != nil || !reflect.DeepEqual(got, map[string]int{"web": 3, "db": 0}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"web", "web=-1", "web=x"} {
		if _, err := parseScale([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestComposeStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	up := reconciler.Container{Status: runtime.StatusRunning, StartedAt: now.Add(-5 * time.Second)}
	ex := reconciler.Container{Status: runtime.StatusExited, ExitCode: 2, FinishedAt: now.Add(-2 * time.Minute)}
	for _, tt := range []struct {
		c      reconciler.Container
		health string
		want   string
	}{
		{up, "", "Up 5 seconds"},
		{up, "healthy", "Up 5 seconds (healthy)"},
		{up, "starting", "Up 5 seconds (health: starting)"},
		{ex, "", "Exited (2) 2 minutes ago"},
		{reconciler.Container{Status: runtime.StatusCreated}, "", "Created"},
	} {
		if got := composeStatus(tt.c, tt.health, now); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestDiffEvents(t *testing.T) {
	now := time.Unix(100, 0)
	lbl := map[string]string{reconciler.LabelService: "web"}
	run := reconciler.Container{ID: "a", Name: "p-web-1", Labels: lbl, Status: runtime.StatusRunning, StartedAt: time.Unix(1, 0)}
	died := run
	died.Status, died.ExitCode = runtime.StatusExited, 1
	restarted := run
	restarted.StartedAt = time.Unix(50, 0)
	// A restart between two looks is a die and a start, with no exit
	// code: the state shows the new run's.
	restarted.ExitCode = 0
	for _, e := range diffEvents(map[string]reconciler.Container{"a": run}, map[string]reconciler.Container{"a": restarted}, nil, nil, now) {
		if _, ok := e.Attributes["exitCode"]; ok && e.Action == "die" {
			t.Errorf("die of a run restarted between two looks claims exit code %s", e.Attributes["exitCode"])
		}
	}
	for _, e := range diffEvents(map[string]reconciler.Container{"a": run}, map[string]reconciler.Container{"a": died}, nil, nil, now) {
		if e.Action == "die" && e.Attributes["exitCode"] != "1" {
			t.Errorf("die of an exited run: exit code %q, want 1", e.Attributes["exitCode"])
		}
	}
	actions := func(b, a map[string]reconciler.Container, hb, ha map[string]string) []string {
		var out []string
		for _, e := range diffEvents(b, a, hb, ha, now) {
			out = append(out, e.Action)
		}
		return out
	}
	m := func(c ...reconciler.Container) map[string]reconciler.Container {
		out := map[string]reconciler.Container{}
		for _, x := range c {
			out[x.ID] = x
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		b, a   map[string]reconciler.Container
		hb, ha map[string]string
		want   []string
	}{
		{"create", m(), m(run), nil, nil, []string{"create", "start"}},
		{"die", m(run), m(died), nil, nil, []string{"die"}},
		{"restart", m(run), m(restarted), nil, nil, []string{"die", "start"}},
		{"destroy", m(run), m(), nil, nil, []string{"die", "destroy"}},
		{"health", m(run), m(run), map[string]string{"a": "starting"}, map[string]string{"a": "healthy"}, []string{"health_status: healthy"}},
		{"nothing", m(run), m(run), nil, nil, nil},
	} {
		if got := actions(tt.b, tt.a, tt.hb, tt.ha); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAllDone(t *testing.T) {
	p := &spec.Project{Services: []spec.Service{
		{Name: "a", Restart: spec.RestartPolicy{Name: spec.RestartNo}},
		{Name: "b", Restart: spec.RestartPolicy{Name: spec.RestartOnFailure}},
	}}
	c := func(svc string, st runtime.Status, code int) reconciler.Container {
		return reconciler.Container{Labels: map[string]string{reconciler.LabelService: svc}, Status: st, ExitCode: code}
	}
	none := func(reconciler.Container) bool { return false }
	if allDone(p, []reconciler.Container{c("a", runtime.StatusExited, 1), c("b", runtime.StatusRunning, 0)}, none) {
		t.Error("done while b runs")
	}
	if allDone(p, []reconciler.Container{c("a", runtime.StatusExited, 1), c("b", runtime.StatusExited, 1)}, none) {
		t.Error("done while b (on-failure, exit 1) will restart")
	}
	if !allDone(p, []reconciler.Container{c("a", runtime.StatusExited, 1), c("b", runtime.StatusExited, 0)}, none) {
		t.Error("not done")
	}
	b := func(ct reconciler.Container) bool { return ct.Service() == "b" }
	if !allDone(p, []reconciler.Container{c("a", runtime.StatusExited, 1), c("b", runtime.StatusExited, 1)}, b) {
		t.Error("not done although the supervisor gave up restarting b")
	}
}

func TestWithRestartDependents(t *testing.T) {
	p := &spec.Project{Services: []spec.Service{
		{Name: "db"},
		{Name: "api", DependsOn: map[string]spec.Dependency{"db": {Restart: true}}},
		{Name: "web", DependsOn: map[string]spec.Dependency{"api": {Restart: true}}},
		{Name: "cron", DependsOn: map[string]spec.Dependency{"db": {Restart: false}}},
	}}
	got := withRestartDependents(p, []string{"db"})
	if !reflect.DeepEqual(got, []string{"db", "api", "web"}) {
		t.Fatalf("%v", got)
	}
}

// A stamp cannot hold the answer of a host port test: up runs one for
// every service in scope with ports and no running container.
func TestPortsChecked(t *testing.T) {
	p := &spec.Project{Name: "demo", Services: []spec.Service{
		{Name: "web", Ports: []spec.PortMapping{{Target: 80}}},
		{Name: "worker"},
	}}
	ctr := func(service string, st runtime.Status) reconciler.Container {
		return reconciler.Container{Name: "demo-" + service + "-1", Status: st, Labels: map[string]string{reconciler.LabelService: service}}
	}
	for _, tc := range []struct {
		name  string
		popts reconciler.PlanOptions
		cs    []reconciler.Container
		want  bool
	}{
		{"all running", reconciler.PlanOptions{}, []reconciler.Container{ctr("web", runtime.StatusRunning), ctr("worker", runtime.StatusRunning)}, false},
		{"web exited", reconciler.PlanOptions{}, []reconciler.Container{ctr("web", runtime.StatusExited), ctr("worker", runtime.StatusRunning)}, true},
		{"web has no container", reconciler.PlanOptions{}, []reconciler.Container{ctr("worker", runtime.StatusRunning)}, true},
		{"worker stopped, no ports", reconciler.PlanOptions{}, []reconciler.Container{ctr("web", runtime.StatusRunning), ctr("worker", runtime.StatusExited)}, false},
		{"web out of scope", reconciler.PlanOptions{Services: []string{"worker"}, NoDeps: true}, []reconciler.Container{ctr("worker", runtime.StatusRunning)}, false},
		{"unknown service", reconciler.PlanOptions{Services: []string{"nope"}}, nil, true},
	} {
		if got := portsChecked(p, tc.popts, &reconciler.Observed{Containers: tc.cs}); got != tc.want {
			t.Errorf("%s: portsChecked = %v, want %v", tc.name, got, tc.want)
		}
	}
}
