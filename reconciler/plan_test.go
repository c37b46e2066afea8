package reconciler

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/spec"
)

var update = flag.Bool("update", false, "rewrite testdata/plans/*.golden")

func stack(mods map[string][]func(*spec.Service)) *spec.Project {
	base := map[string][]func(*spec.Service){
		"db":     {volume("data", "/var/lib/db"), healthcheck("CMD", "true"), env("DB_HOST=localhost", "MODE=a")},
		"web":    {dependsOn("db", spec.ConditionHealthy), env("DB_HOST=db")},
		"worker": {dependsOn("web", spec.ConditionStarted), dependsOn("migrate", spec.ConditionCompleted)},
		"migrate": {dependsOn("db", spec.ConditionHealthy),
			func(s *spec.Service) { s.Command = []string{"true"} }},
	}
	var ss []spec.Service
	for name, m := range base {
		if extra, ok := mods[name]; ok {
			if extra == nil {
				continue // removed
			}
			m = append(m, extra...)
		}
		ss = append(ss, svc(name, m...))
	}
	for name, m := range mods {
		if _, ok := base[name]; !ok && m != nil {
			ss = append(ss, svc(name, m...))
		}
	}
	return project(ss...)
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name   string
		before *spec.Project // applied first; nil = nothing
		setup  func(w *world)
		after  *spec.Project
		opts   PlanOptions
	}{
		{name: "fresh", after: stack(nil)},
		{name: "noop", before: stack(nil), after: stack(nil)},
		{name: "env-change", before: stack(nil), after: stack(map[string][]func(*spec.Service){"db": {env("DB_HOST=db.internal", "MODE=a")}})},
		{name: "command-and-env", before: stack(nil), after: stack(map[string][]func(*spec.Service){
			"web": {env("DB_HOST=db", "NEW=1"), func(s *spec.Service) { s.Command = []string{"httpd", "-f"} }}})},
		{name: "restart-policy-only", before: stack(nil), after: stack(map[string][]func(*spec.Service){"web": {restart(spec.RestartAlways, 0)}})},
		{name: "image-changed", before: stack(nil), after: stack(nil), setup: func(w *world) {
			w.imgs.store["busybox:latest"] = ImageInfo{ID: "sha256:bbbbbbbbbbbbbbbbbbbb", Ref: "busybox:latest"}
		}},
		{name: "orphan-warning", before: stack(map[string][]func(*spec.Service){"old": {}}), after: stack(nil)},
		{name: "remove-orphans", before: stack(map[string][]func(*spec.Service){"old": {}}), after: stack(nil), opts: PlanOptions{RemoveOrphans: true}},
		{name: "scale-up", before: stack(nil), after: stack(map[string][]func(*spec.Service){"web": {replicas(3)}})},
		{name: "scale-down", before: stack(map[string][]func(*spec.Service){"web": {replicas(3)}}), after: stack(nil)},
		{name: "scale-flag", before: stack(nil), after: stack(nil), opts: PlanOptions{Scale: map[string]int{"web": 2, "worker": 0}}},
		{name: "stopped-start", before: stack(nil), after: stack(nil), setup: func(w *world) {
			w.rt.exit("demo-web-1", 1)
			w.rt.exit("demo-migrate-1", 0)
		}},
		{name: "network-mode-service", before: stack(map[string][]func(*spec.Service){"sidecar": {netMode("service:web")}}),
			after: stack(map[string][]func(*spec.Service){"sidecar": {netMode("service:web")}, "web": {env("DB_HOST=db2")}})},
		{name: "scope", after: stack(nil), opts: PlanOptions{Services: []string{"web"}}},
		{name: "scope-no-deps", after: stack(nil), opts: PlanOptions{Services: []string{"web"}, NoDeps: true}},
		{name: "force-recreate", before: stack(nil), after: stack(nil), opts: PlanOptions{ForceRecreate: true, Services: []string{"db"}, NoDeps: true}},
		{name: "pull-missing", after: stack(map[string][]func(*spec.Service){"web": {image("nginx:1")}})},
		{name: "pod", before: podProject(nil), after: podProject(env("X=2"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld("busybox:latest")
			w.imgs.registry["nginx:1"] = ImageInfo{ID: "sha256:nginx", Ref: "nginx:1"}
			e := w.executor(t, "demo")
			if tt.before != nil {
				w.rt.exitOnStart["demo-migrate-1"] = 0
				go advanceUntilDone(w.clock, t)
				up(t, e, tt.before, PlanOptions{})
			}
			if tt.setup != nil {
				tt.setup(w)
			}
			got := plan(t, e, tt.after, tt.opts).String()
			golden := filepath.Join("testdata", "plans", tt.name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// podProject is two services in one pod; mod changes member a.
func podProject(mod func(*spec.Service)) *spec.Project {
	inPod := func(s *spec.Service) { s.Pod = "pair"; s.Networks = nil }
	a := []func(*spec.Service){inPod}
	if mod != nil {
		a = append(a, mod)
	}
	p := project(svc("a", a...), svc("b", inPod), svc("c"))
	p.Pods = []spec.Pod{{Name: "pair", Services: []string{"a", "b"}, Share: []string{"ipc", "network", "uts"}, Networks: []spec.ServiceNetwork{{Name: "default"}}}}
	rehash(p)
	return p
}

func TestPlanErrors(t *testing.T) {
	cyc := project(svc("a", dependsOn("b", "")), svc("b", dependsOn("a", "")))
	never := project(svc("a", image("missing:1"), func(s *spec.Service) { s.PullPolicy = "never" }))
	named := project(svc("a", replicas(2), func(s *spec.Service) { s.ContainerName = "fixed" }))
	tests := []struct {
		name string
		p    *spec.Project
		o    PlanOptions
		want string
	}{
		{"cycle", cyc, PlanOptions{}, "services a, b depend on each other in a cycle: invalid argument"},
		{"pull never", never, PlanOptions{}, "service a: image missing:1 is not present and pull_policy is never: not found"},
		{"unknown service", cyc, PlanOptions{Services: []string{"zz"}}, "no such service: zz: not found"},
		{"container_name with replicas", named, PlanOptions{}, `service a: container_name "fixed" cannot be used with 2 replicas: invalid argument`},
		{"negative scale", never, PlanOptions{Scale: map[string]int{"a": -1}, Pull: "missing"}, "service a: scale -1: invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &Observed{Images: map[string]ImageInfo{}}
			_, err := PlanUp(tt.p, obs, tt.o)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanIsPure(t *testing.T) {
	p := stack(nil)
	obs := &Observed{Images: map[string]ImageInfo{"busybox:latest": {ID: "sha256:x"}}}
	a, err := PlanUp(p, obs, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b, _ := PlanUp(p, obs, PlanOptions{})
		if a.String() != b.String() {
			t.Fatalf("plan not deterministic:\n%s\nvs\n%s", a, b)
		}
	}
}
