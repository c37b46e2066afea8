package schemas

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	composeschema "github.com/compose-spec/compose-go/v2/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite berth.schema.json")

// TestEditorSchemaUpToDate keeps berth.schema.json equal to Editor().
func TestEditorSchemaUpToDate(t *testing.T) {
	want, err := Editor()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(EditorFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(EditorFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./schemas -run TestEditorSchemaUpToDate -update", EditorFile)
	}
}

// TestComposeGoVersion keeps the pinned schema URL on the compose-go
// version that go.mod requires.
func TestComposeGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "github.com/compose-spec/compose-go/v2 "+ComposeGoVersion+"\n") {
		t.Fatalf("go.mod does not require compose-go %s: update ComposeGoVersion and regenerate", ComposeGoVersion)
	}
}

// compileOffline compiles a schema, serving the pinned Compose schema URL
// from compose-go's embedded copy and pods.schema.json from this dir.
func compileOffline(t *testing.T, name string, doc []byte) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	add := func(url string, b []byte) {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("parse %s: %v", url, err)
		}
		if err := c.AddResource(url, v); err != nil {
			t.Fatalf("add %s: %v", url, err)
		}
	}
	add(ComposeSchemaURL, []byte(composeschema.Schema))
	add("file:///schemas/pods.schema.json", Pods)
	add("file:///schemas/"+name, doc)
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(any) error { return nil }})
	s, err := c.Compile("file:///schemas/" + name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return s
}

func TestSchemasValidate(t *testing.T) {
	editor, err := os.ReadFile(EditorFile)
	if err != nil {
		t.Fatal(err)
	}
	combined, err := Combined()
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{
		"editor":   compileOffline(t, EditorFile, editor),
		"combined": compileOffline(t, "combined.json", combined),
	}
	for _, tc := range []struct {
		name string
		doc  string
		ok   bool
	}{
		{"compose only", `{"services": {"web": {"image": "x", "ports": ["80:80"]}}}`, true},
		{"with pods", `{"services": {"web": {"image": "x"}}, "pods": {"app": {"services": ["web"], "share": ["network", "pid"], "ports": ["8080:80", 81], "networks": {"front": {"aliases": ["a"]}}}}}`, true},
		{"x- extension", `{"x-any": 1, "services": {}}`, true},
		{"unknown top-level key", `{"bogus": 1}`, false},
		{"bad service key", `{"services": {"web": {"image": "x", "bogus": 1}}}`, false},
		{"pod without services", `{"pods": {"app": {"share": ["network"]}}}`, false},
		{"pod bad share", `{"pods": {"app": {"services": ["w"], "share": ["net"]}}}`, false},
		{"pod unknown key", `{"pods": {"app": {"services": ["w"], "volumes": []}}}`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.doc), &v); err != nil {
			t.Fatal(err)
		}
		for name, s := range schemas {
			err := s.Validate(v)
			if (err == nil) != tc.ok {
				t.Errorf("%s with %s schema: valid=%v, want %v (%v)", tc.name, name, err == nil, tc.ok, err)
			}
		}
	}
}
