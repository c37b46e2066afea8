package reconciler

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

func TestContainerSpec(t *testing.T) {
	grace := 3 * time.Second
	img := ImageInfo{ID: "sha256:abc", Ref: "busybox:latest"}
	tests := []struct {
		name  string
		svc   spec.Service
		check func(t *testing.T, rs runtime.Spec)
	}{
		{"labels and name", svc("web", func(s *spec.Service) { s.Labels = map[string]string{"team": "a"} }), func(t *testing.T, rs runtime.Spec) {
			want := map[string]string{"team": "a", LabelProject: "demo", LabelService: "web", LabelNumber: "2", LabelOneoff: "False", LabelImage: "sha256:abc",
				LabelWorkingDir: "/srv/demo", LabelConfigFile: "/srv/demo/compose.yaml"}
			for k, v := range want {
				if rs.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, rs.Labels[k], v)
				}
			}
			if rs.Labels[LabelConfigHash] == "" {
				t.Error("no config hash label")
			}
			if rs.Name != "demo-web-2" || rs.Hostname != "demo-web-2" {
				t.Errorf("name %q hostname %q", rs.Name, rs.Hostname)
			}
			if rs.Image != "busybox:latest" {
				t.Errorf("image %q", rs.Image)
			}
		}},
		{"process", svc("web", env("A=1"), func(s *spec.Service) {
			s.Entrypoint = []string{}
			s.User = "app"
			s.WorkingDir = "/w"
			s.Tty = true
			s.Init = true
			s.StopSignal = "SIGINT"
			s.StopGracePeriod = &grace
		}), func(t *testing.T, rs runtime.Spec) {
			if rs.Entrypoint == nil || len(rs.Entrypoint) != 0 {
				t.Errorf("empty entrypoint must stay non-nil empty, got %#v", rs.Entrypoint)
			}
			if !reflect.DeepEqual(rs.Cmd, []string{"sleep", "1000"}) || !reflect.DeepEqual(rs.Env, []string{"A=1"}) {
				t.Errorf("cmd %q env %q", rs.Cmd, rs.Env)
			}
			if rs.User != "app" || rs.WorkingDir != "/w" || !rs.Tty || !rs.Init || rs.StopSignal != "SIGINT" || *rs.StopTimeout != grace {
				t.Errorf("process fields: %+v", rs)
			}
		}},
		{"nil command keeps the image's", svc("web", func(s *spec.Service) { s.Command = nil }), func(t *testing.T, rs runtime.Spec) {
			if rs.Cmd != nil || rs.Entrypoint != nil {
				t.Errorf("cmd %#v entrypoint %#v", rs.Cmd, rs.Entrypoint)
			}
		}},
		{"resources and security", svc("web", func(s *spec.Service) {
			s.Resources = spec.Resources{Memory: 1 << 20, NanoCPUs: 5e8, PidsLimit: 10}
			s.CapAdd = []string{"NET_ADMIN"}
			s.ReadOnly = true
			s.Ulimits = []spec.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}
			s.Logging = spec.Logging{MaxSize: 100, MaxFiles: 2}
		}), func(t *testing.T, rs runtime.Spec) {
			if rs.Resources.Memory != 1<<20 || rs.Resources.NanoCPUs != 5e8 || rs.Resources.PidsLimit != 10 {
				t.Errorf("resources %+v", rs.Resources)
			}
			if !rs.ReadOnly || !reflect.DeepEqual(rs.CapAdd, []string{"NET_ADMIN"}) || !reflect.DeepEqual(rs.Ulimits, []runtime.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}) {
				t.Errorf("security %+v", rs)
			}
			if rs.Log.MaxSize != 100 || rs.Log.MaxFiles != 2 {
				t.Errorf("log %+v", rs.Log)
			}
		}},
		{"host network", svc("web", netMode("host")), func(t *testing.T, rs runtime.Spec) {
			if rs.Namespaces.Network != "host" || rs.Hostname != "" {
				t.Errorf("namespaces %+v hostname %q", rs.Namespaces, rs.Hostname)
			}
		}},
		{"container_name", svc("web", func(s *spec.Service) { s.ContainerName = "my-web" }), func(t *testing.T, rs runtime.Spec) {
			if rs.Name != "my-web" {
				t.Errorf("name %q", rs.Name)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := project(tt.svc)
			s, _ := p.Service(tt.svc.Name)
			tt.check(t, ContainerSpec(p, s, 2, img))
		})
	}
}

func TestSandboxFor(t *testing.T) {
	p := project(svc("web", func(s *spec.Service) {
		s.Networks = []spec.ServiceNetwork{{Name: "default", Aliases: []string{"www"}, Priority: 5}}
		s.Ports = []spec.PortMapping{{Target: 80, Protocol: "tcp"}}
	}), svc("side", netMode("service:web")))
	s, _ := p.Service("web")
	id, r := SandboxFor(p, s, 1)
	if id != "demo-web-1" || r == nil {
		t.Fatalf("id %q r %v", id, r)
	}
	want := []Endpoint{{Network: "demo_default", Aliases: []string{"web", "demo-web-1", "www"}, Priority: 5}}
	if !reflect.DeepEqual(r.Endpoints, want) || len(r.Ports) != 1 || r.Hostname != "demo-web-1" || r.Project != "demo" {
		t.Fatalf("request %+v", r)
	}
	side, _ := p.Service("side")
	if id, r := SandboxFor(p, side, 1); id != "" || r != nil {
		t.Fatalf("service: network mode got a sandbox %q", id)
	}
	pp := podProject(nil)
	a, _ := pp.Service("a")
	id, r = SandboxFor(pp, a, 1)
	if id != "demo-pod-pair" || r.Hostname != "pair" || !reflect.DeepEqual(r.Endpoints[0].Aliases, []string{"pair", "a", "b"}) {
		t.Fatalf("pod sandbox %q %+v", id, r)
	}
}

func TestDescribeChange(t *testing.T) {
	old := svc("web", env("A=1", "B=2"), func(s *spec.Service) { s.Labels = map[string]string{"x": "1"} })
	tests := []struct {
		name string
		mod  func(*spec.Service)
		want string
	}{
		{"env value", func(s *spec.Service) { s.Environment = []string{"A=1", "B=3"} }, "environment.B changed"},
		{"env added and removed", func(s *spec.Service) { s.Environment = []string{"B=2", "C=1"} }, "environment.A, environment.C changed"},
		{"label", func(s *spec.Service) { s.Labels = map[string]string{"x": "2"} }, "labels.x changed"},
		{"image", func(s *spec.Service) { s.Image = "nginx" }, "image changed"},
		{"many", func(s *spec.Service) { s.Image = "x"; s.User = "u"; s.Command = nil; s.WorkingDir = "/w" }, "command, image, user and 1 more changed"},
		{"replicas only is not a cause", func(s *spec.Service) { s.Replicas = 3; s.Tty = true }, "tty changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := old
			n.Environment = append([]string(nil), old.Environment...)
			tt.mod(&n)
			if got := describeChange(NormalizedConfig(&old), &n); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := describeChange(nil, &old); got != "configuration changed" {
		t.Fatalf("without old config: %q", got)
	}
}
