package volumes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/volumes"
)

// A service's mounts become runtime mounts: the named volume is created on
// first use and bound with a first-use copy, the anonymous one gets a
// stable per-replica name, the relative bind is resolved against the
// project directory (and created, as Compose's short syntax does).
func ExampleManager_Resolve() {
	dir, _ := os.MkdirTemp("", "volumes-example-")
	defer os.RemoveAll(dir)
	m, err := volumes.New(volumes.Options{Root: filepath.Join(dir, "volumes")})
	if err != nil {
		fmt.Println(err)
		return
	}
	tmpfs, _ := volumes.ParseTmpfs("/run:size=64m,noexec")
	mounts, err := m.Resolve(context.Background(), volumes.ResolveOptions{
		ProjectDir: dir, Project: "demo", Service: "db", Number: 1,
		Volumes: map[string]volumes.Spec{"data": volumes.ProjectSpec("demo", "data", volumes.Spec{})},
	}, []volumes.Request{
		{Type: volumes.TypeVolume, Source: "data", Target: "/var/lib/db"},
		{Type: volumes.TypeVolume, Target: "/cache"},
		{Type: volumes.TypeBind, Source: "./conf", Target: "/etc/db", ReadOnly: true, CreateHostPath: true},
		tmpfs,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mt := range mounts {
		src := "-"
		if mt.Source != "" {
			src, _ = filepath.Rel(dir, mt.Source)
		}
		if len(src) > 20 {
			src = src[:20] + "…"
		}
		fmt.Printf("%-5s %-11s ro=%-5v copy=%-5v %s %v\n", mt.Type, mt.Target, mt.ReadOnly, mt.CopyUp, src, mt.Options)
	}
	// Output:
	// bind  /cache      ro=false copy=true  volumes/9a6b1891d949… []
	// tmpfs /run        ro=false copy=false - [noexec]
	// bind  /etc/db     ro=true  copy=false conf []
	// bind  /var/lib/db ro=false copy=true  volumes/demo_data/_d… []
}
