package reconciler

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-dev/berth/spec"
)

func (f *fakeNetworks) ReleasePorts(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	return nil
}

// stop frees the ports of containers with a sandbox of their own, not
// those of containers without ports.
func TestStopReleasesPorts(t *testing.T) {
	w := newWorld("busybox:latest")
	e := w.executor(t, "demo")
	p := project(svc("web", func(s *spec.Service) {
		s.Ports = []spec.PortMapping{{Target: 80, Published: spec.PortRange{Start: 8080, End: 8080}, Protocol: "tcp"}}
	}), svc("db"))
	up(t, e, p, PlanOptions{})
	cs, err := e.Deps.Containers.List(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StopContainers(context.Background(), p, cs, nil); err != nil {
		t.Fatal(err)
	}
	w.nets.mu.Lock()
	defer w.nets.mu.Unlock()
	if !slices.Equal(w.nets.released, []string{"demo-web-1"}) {
		t.Errorf("released %v, want [demo-web-1]", w.nets.released)
	}
}
