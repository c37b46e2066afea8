package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds arbitrary manifest bytes to Load (as stdin). It must
// never panic; it either loads a project whose output encodes, or returns
// an error. Seeds: the examples, the inline manifests below, and
// testdata/fuzz/FuzzLoad (crashers found earlier are kept there).
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob("../examples/*/compose*.yaml")
	for _, e := range examples {
		if b, err := os.ReadFile(e); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"services:\n  web:\n    image: x\n    ports: [\"8080:80\", \"127.0.0.1::81/udp\", \"9000-9001:90-91\"]\n",
		"pods:\n  app:\n    services: [web]\n    ports: [\"80\"]\n    networks: {front: {aliases: [a]}}\nservices:\n  web:\n    image: x\nnetworks:\n  front: {}\n",
		"services:\n  a:\n    image: x\n    depends_on: {b: {condition: service_healthy}}\n  b:\n    image: y\n    healthcheck: {test: \"true\", interval: 1s}\n",
		"services:\n  a:\n    extends: b\n  b:\n    image: x\n    command: []\n    entrypoint: \"\"\n",
		"x-a: &a\n  image: x\nservices:\n  w:\n    <<: *a\n    environment: [A=${A:-1}, B=$$C]\n",
		"services:\n  w:\n    image: x\n    volumes: [\"v:/d\", \"/h:/c:ro\", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]\nvolumes:\n  v: {}\n",
		"services:\n  w:\n    image: x\n    deploy: {replicas: 2, resources: {limits: {cpus: '0.5', memory: 10M}}, restart_policy: {condition: on-failure, max_attempts: 3}}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, err := Load(ctx, LoadOptions{
			Files:            []string{"-"},
			Stdin:            bytes.NewReader(data),
			ProjectName:      "fuzz",
			ProjectDirectory: dir,
			Environment:      []string{"A=1"},
		})
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "runtime error") {
				t.Fatalf("error looks like a crash: %q", msg)
			}
			var e *Error
			if !errors.As(err, &e) && !strings.HasPrefix(msg, "read manifest") {
				t.Fatalf("error is not a located *Error: %q", msg)
			}
			return
		}
		for _, s := range p.Services {
			if len(s.ConfigHash) != 64 {
				t.Fatalf("service %s has no config hash", s.Name)
			}
		}
		if _, err := yaml.Marshal(p); err != nil {
			t.Fatalf("encode project as YAML: %v", err)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("encode project as JSON: %v", err)
		}
	})
}
