package reconciler

import (
	"context"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// svc builds a service as spec.Load would leave it: one replica, restart
// "no", on the default network.
func svc(name string, mods ...func(*spec.Service)) spec.Service {
	s := spec.Service{
		Name:     name,
		Image:    "busybox:latest",
		Command:  []string{"sleep", "1000"},
		Replicas: 1,
		Restart:  spec.RestartPolicy{Name: spec.RestartNo},
		Networks: []spec.ServiceNetwork{{Name: "default"}},
	}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func env(kv ...string) func(*spec.Service) {
	return func(s *spec.Service) { s.Environment = kv }
}

func replicas(n int) func(*spec.Service) { return func(s *spec.Service) { s.Replicas = n } }

func dependsOn(name, cond string) func(*spec.Service) {
	return func(s *spec.Service) {
		if s.DependsOn == nil {
			s.DependsOn = map[string]spec.Dependency{}
		}
		s.DependsOn[name] = spec.Dependency{Condition: cond, Required: true}
	}
}

func restart(name string, max int) func(*spec.Service) {
	return func(s *spec.Service) { s.Restart = spec.RestartPolicy{Name: name, MaxRetries: max} }
}

func healthcheck(test ...string) func(*spec.Service) {
	return func(s *spec.Service) {
		s.Healthcheck = &spec.Healthcheck{Test: test, Interval: time.Second, Retries: 2}
	}
}

func netMode(m string) func(*spec.Service) {
	return func(s *spec.Service) { s.NetworkMode = m; s.Networks = nil }
}

func image(ref string) func(*spec.Service) { return func(s *spec.Service) { s.Image = ref } }

func volume(src, target string) func(*spec.Service) {
	return func(s *spec.Service) {
		s.Mounts = append(s.Mounts, spec.Mount{Type: spec.MountVolume, Source: src, Target: target})
	}
}

// project finishes services into a project named demo, with the default
// network, the volumes the services name, and config hashes.
func project(services ...spec.Service) *spec.Project {
	p := &spec.Project{Name: "demo", WorkingDir: "/srv/demo", ConfigFiles: []string{"/srv/demo/compose.yaml"}}
	vols := map[string]bool{}
	for _, s := range services {
		for _, m := range s.Mounts {
			if m.Type == spec.MountVolume && m.Source != "" {
				vols[m.Source] = true
			}
		}
	}
	p.Services = services
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	p.Networks = []spec.Network{{Key: "default", Name: "demo_default", Driver: "bridge"}}
	var vk []string
	for k := range vols {
		vk = append(vk, k)
	}
	sort.Strings(vk)
	for _, k := range vk {
		p.Volumes = append(p.Volumes, spec.Volume{Key: k, Name: "demo_" + k, Driver: "local"})
	}
	rehash(p)
	return p
}

func rehash(p *spec.Project) {
	for i := range p.Services {
		s := &p.Services[i]
		var pod *spec.Pod
		if s.Pod != "" {
			pod, _ = p.Pod(s.Pod)
		}
		s.ConfigHash = spec.ConfigHash(s, pod)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

// executor is an Executor over w's fakes with a store in a temp dir.
func (w *world) executor(t *testing.T, project string) *Executor {
	t.Helper()
	st, err := OpenStore(t.TempDir(), project)
	if err != nil {
		t.Fatal(err)
	}
	e := &Executor{Deps: w.deps(), Store: st, Clock: w.clock, Log: testLogger(t)}
	e.Monitor = NewMonitor(w.rt, st, w.clock, e.Log)
	t.Cleanup(e.Monitor.Close)
	return e
}

// plan observes and plans p.
func plan(t *testing.T, e *Executor, p *spec.Project, o PlanOptions) *Plan {
	t.Helper()
	obs, err := Observe(context.Background(), e.Deps, p.Name, ObserveOptions{Images: imageRefs(p), Store: e.Store})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := PlanUp(p, obs, o)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return pl
}

// up plans and applies p, failing the test on error.
func up(t *testing.T, e *Executor, p *spec.Project, o PlanOptions) *Plan {
	t.Helper()
	pl := plan(t, e, p, o)
	if err := e.Apply(context.Background(), p, pl, ApplyOptions{NoStart: o.NoStart}); err != nil {
		t.Fatalf("apply:\n%s\nerror: %v", pl, err)
	}
	return pl
}

// advanceUntilDone keeps moving the fake clock so that health probes of a
// setup run; it stops with the test.
func advanceUntilDone(c *fakeClock, t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
			c.Advance(time.Second)
		}
	}
}

type runtimeSpec = runtime.Spec

type specService = spec.Service

func sortStrings(s []string) []string { sort.Strings(s); return s }

func sortServices(ss []spec.Service) []spec.Service {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	return ss
}
