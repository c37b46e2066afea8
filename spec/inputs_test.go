package spec

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestInputs checks that a load names every file it read or looked for,
// and says when it cannot (the launcher's stamps rely on the list).
func TestInputs(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"compose.yaml": `include:
  - inc/included.yaml
services:
  web:
    image: x
    env_file: [web.env]
    label_file: web.labels
  api:
    extends:
      file: base/common.yaml
      service: base
`,
		"web.env":              "A=1\n",
		"web.labels":           "l=1\n",
		"inc/included.yaml":    "include: [deeper/more.yaml]\nservices:\n  cache:\n    image: x\n",
		"inc/deeper/more.yaml": "services:\n  queue:\n    image: x\n",
		"base/common.yaml":     "services:\n  base:\n    image: x\n",
		"extra.env":            "B=2\n",
		"sub/keep":             "",
	})
	p, err := loadDir(t, dir, LoadOptions{ProjectName: "t", Files: []string{"compose.yaml"}, EnvFiles: []string{filepath.Join(dir, "extra.env")}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.InputsComplete {
		t.Error("inputs incomplete")
	}
	has := map[string]bool{}
	for _, in := range p.Inputs {
		has[in] = true
	}
	for _, want := range []string{"compose.yaml", ".env", "extra.env", "web.env", "web.labels", "inc/included.yaml", "inc/.env",
		"inc/deeper/more.yaml", "inc/deeper/.env", "base/common.yaml"} {
		if !has[filepath.Join(dir, want)] {
			t.Errorf("input %s missing from %v", want, p.Inputs)
		}
	}
	if has[filepath.Join(dir, "compose.override.yaml")] {
		t.Error("discovery candidates listed although -f named the file")
	}

	// Discovery from a subdirectory: every candidate name in sub and in
	// dir, where the manifest is found, and nothing above.
	dir = writeTree(t, map[string]string{"compose.yaml": "services: {a: {image: x}}\n", "sub/keep": ""})
	p, err = Load(context.Background(), LoadOptions{ProjectName: "t", ProjectDirectory: filepath.Join(dir, "sub"), Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	has = map[string]bool{}
	for _, in := range p.Inputs {
		has[in] = true
	}
	for _, want := range []string{"sub/compose.yaml", "sub/docker-compose.yml", "sub/compose.override.yaml", "compose.yaml", "compose.override.yaml", "docker-compose.override.yml"} {
		if !has[filepath.Join(dir, want)] {
			t.Errorf("discovery input %s missing from %v", want, p.Inputs)
		}
	}
	if has[filepath.Join(filepath.Dir(dir), "compose.yaml")] {
		t.Error("discovery went above the directory where it found the manifest")
	}

	for _, tc := range []struct{ name, yaml string }{
		{"interpolated include", "include: [\"${DIR:-inc}/x.yaml\"]\nservices: {a: {image: x}}\n"},
		{"include with env_file", "include:\n  - path: inc/x.yaml\n    env_file: inc/x.env\nservices: {a: {image: x}}\n"},
		{"remote include", "include: [\"git@github.com:a/b.git\"]\nservices: {a: {image: x}}\n"},
		{"interpolated extends", "services:\n  a:\n    extends: {file: \"${F:-b.yaml}\", service: b}\n"},
	} {
		sources := []*source{{path: filepath.Join(dir, "c.yaml"), content: []byte(tc.yaml)}}
		if err := sources[0].parse(); err != nil {
			t.Fatal(err)
		}
		in := newInputSet()
		in.references(sources)
		if in.complete {
			t.Errorf("%s: inputs complete", tc.name)
		}
	}

	p, err = loadDir(t, dir, LoadOptions{ProjectName: "t", Files: []string{"-"}, Stdin: strings.NewReader("services: {a: {image: x}}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if p.InputsComplete {
		t.Error("a manifest from stdin: inputs complete")
	}
}
