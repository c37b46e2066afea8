package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime/image"
)

func TestSetMirror(t *testing.T) {
	t.Parallel()
	const m = "http://127.0.0.1:5000"
	tests := []struct {
		name, before string
		remove       bool
		changed      bool
		want         []string // docker.io endpoints berth would try, in order
		keep         string   // another registry that must survive
	}{
		{name: "new file", changed: true, want: []string{"127.0.0.1:5000", "docker.io"}},
		{name: "already first", before: "registries:\n  docker.io:\n    mirrors: [\"" + m + "\"]\n", want: []string{"127.0.0.1:5000", "docker.io"}},
		{name: "moved to front, others kept",
			before:  "registries:\n  docker.io:\n    mirrors: [\"mirror.example:5000\", \"" + m + "\"]\n  registry.internal:5000:\n    insecure: true\n",
			changed: true, want: []string{"127.0.0.1:5000", "mirror.example:5000", "docker.io"}, keep: "registry.internal:5000"},
		{name: "remove", before: "registries:\n  docker.io:\n    mirrors: [\"" + m + "\"]\n", remove: true, changed: true, want: []string{"docker.io"}},
		{name: "remove absent", remove: true, want: []string{"docker.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "etc", "registries.yaml")
			if tt.before != "" {
				os.MkdirAll(filepath.Dir(file), 0o755)
				os.WriteFile(file, []byte(tt.before), 0o644)
			}
			changed, err := setMirror(file, "docker.io", m, tt.remove)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			// berth's own parser must accept the result and see the mirror.
			cfg, err := image.LoadRegistryConfig(file)
			if err != nil {
				t.Fatalf("berth cannot load what pack wrote: %v", err)
			}
			var got []string
			for _, ep := range cfg.Endpoints("docker.io") {
				got = append(got, ep.Host)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("endpoints = %v, want %v", got, tt.want)
			}
			if eps := cfg.Endpoints("docker.io"); len(eps) > 1 && !eps[0].Insecure {
				t.Errorf("mirror %s not marked plain HTTP", eps[0].Host)
			}
			if tt.keep != "" && !cfg.Insecure(tt.keep) {
				t.Errorf("entry %s was lost", tt.keep)
			}
		})
	}
}

func TestSetMirrorRejectsUnknownKeys(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "registries.yaml")
	os.WriteFile(file, []byte("registries:\n  docker.io:\n    mirror: [x]\n"), 0o644)
	if _, err := setMirror(file, "docker.io", "http://127.0.0.1:5000", false); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("err = %v, want an error naming %s", err, file)
	}
}
