package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/schemas"
	composeschema "github.com/compose-spec/compose-go/v2/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// editorSchema compiles schemas/berth.schema.json (the file editors use)
// offline: its Compose URL is served from compose-go's embedded copy.
func editorSchema(t *testing.T) *jsonschema.Schema {
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
	editor, err := os.ReadFile("../schemas/" + schemas.EditorFile)
	if err != nil {
		t.Fatal(err)
	}
	add(schemas.ComposeSchemaURL, []byte(composeschema.Schema))
	add("file:///schemas/pods.schema.json", schemas.Pods)
	add("file:///schemas/"+schemas.EditorFile, editor)
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(v any) error {
		if s, ok := v.(string); ok {
			_, err := time.ParseDuration(s)
			return err
		}
		return nil
	}})
	s, err := c.Compile("file:///schemas/" + schemas.EditorFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExamples: every examples/**/compose*.yaml validates against the
// schema editors use and loads with Load, so the two agree.
func TestExamples(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name := d.Name(); !d.IsDir() && strings.HasPrefix(name, "compose") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	s := editorSchema(t)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			j, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("schema: %v", err)
			}
			abs, _ := filepath.Abs(f)
			p, err := Load(context.Background(), LoadOptions{Files: []string{abs}, Environment: []string{}})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(p.Warnings) > 0 {
				t.Errorf("example has warnings: %v", p.Warnings)
			}
		})
	}
}

// TestWebMariaDB pins what the reference example means.
func TestWebMariaDB(t *testing.T) {
	abs, _ := filepath.Abs("../examples/web-mariadb/compose.yaml")
	p, err := Load(context.Background(), LoadOptions{Files: []string{abs}, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := p.Service("db")
	web, _ := p.Service("web")
	if db == nil || web == nil {
		t.Fatalf("services = %v", p.ServiceNames())
	}
	if db.Healthcheck == nil || db.Healthcheck.Test[0] != HealthCmd || db.Restart.Name != RestartUnlessStopped {
		t.Errorf("db: healthcheck %+v restart %+v", db.Healthcheck, db.Restart)
	}
	if len(db.Mounts) != 1 || db.Mounts[0].Type != MountVolume || db.Mounts[0].Target != "/var/lib/mysql" {
		t.Errorf("db mounts %+v", db.Mounts)
	}
	if web.DependsOn["db"].Condition != ConditionHealthy {
		t.Errorf("web depends_on %+v", web.DependsOn)
	}
	if len(web.Ports) != 1 || web.Ports[0].Published.Start != 8080 || web.Ports[0].Target != 8080 {
		t.Errorf("web ports %+v", web.Ports)
	}
}
