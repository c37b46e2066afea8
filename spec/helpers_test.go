package spec

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func init() {
	// compose-go warns about unset variables through logrus; the tests
	// set up such cases on purpose.
	logrus.SetOutput(io.Discard)
}

// writeTree writes files (path → content) under a new temp dir and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadDir loads from dir with an empty environment unless o sets one;
// o.Files are relative to dir.
func loadDir(t *testing.T, dir string, o LoadOptions) (*Project, error) {
	t.Helper()
	if o.Environment == nil {
		o.Environment = []string{}
	}
	for i, f := range o.Files {
		if f != "-" && !filepath.IsAbs(f) {
			o.Files[i] = filepath.Join(dir, f)
		}
	}
	if o.ProjectDirectory == "" && len(o.Files) == 0 {
		o.ProjectDirectory = dir
	}
	p, err := Load(context.Background(), o)
	if err != nil {
		// Messages name files relative to the current directory when
		// below it; temp dirs are not, so strip them for comparisons.
		return nil, &strippedError{err: err, msg: strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")}
	}
	return p, nil
}

type strippedError struct {
	err error
	msg string
}

func (e *strippedError) Error() string { return e.msg }
func (e *strippedError) Unwrap() error { return e.err }

// loadYAML loads one compose.yaml with the given content.
func loadYAML(t *testing.T, content string) (*Project, error) {
	t.Helper()
	dir := writeTree(t, map[string]string{"compose.yaml": content})
	return loadDir(t, dir, LoadOptions{ProjectName: "test"})
}

func mustLoadYAML(t *testing.T, content string) *Project {
	t.Helper()
	p, err := loadYAML(t, content)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

func mustService(t *testing.T, p *Project, name string) *Service {
	t.Helper()
	s, ok := p.Service(name)
	if !ok {
		t.Fatalf("no service %q in %v", name, p.ServiceNames())
	}
	return s
}
