package reconciler

import (
	"fmt"
	"testing"
)

// BenchmarkPlanNoop plans a converged 20-service project: the reconciler's
// own share of a no-op `up`.
func BenchmarkPlanNoop(b *testing.B) {
	var ss []specService
	for i := 0; i < 20; i++ {
		ss = append(ss, svc(fmt.Sprintf("s%02d", i), env("A=1")))
	}
	p := project(ss...)
	obs := &Observed{Images: map[string]ImageInfo{"busybox:latest": {ID: "sha256:x"}}, Networks: map[string]bool{"demo_default": true}}
	for i := range p.Services {
		s := &p.Services[i]
		obs.Containers = append(obs.Containers, Container{ID: s.Name, Name: ContainerName(p.Name, s, 1), Status: "running",
			Labels: map[string]string{LabelProject: "demo", LabelService: s.Name, LabelNumber: "1", LabelConfigHash: s.ConfigHash, LabelImage: "sha256:x"}})
	}
	b.ReportAllocs()
	for b.Loop() {
		pl, err := PlanUp(p, obs, PlanOptions{})
		if err != nil || !pl.Empty() {
			b.Fatalf("%v\n%s", err, pl)
		}
	}
}
