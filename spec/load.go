package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// LoadOptions say which manifests to load and how, with the meaning of
// Docker Compose's global flags.
type LoadOptions struct {
	// Files are the manifests, merged in order; "-" reads Stdin. Empty means
	// COMPOSE_FILE, else discovery: compose.yaml, compose.yml,
	// docker-compose.yml, docker-compose.yaml in the project directory or
	// its parents, plus the matching override file.
	Files []string
	// ProjectName (-p) overrides every other source of the name.
	ProjectName string
	// ProjectDirectory (--project-directory): base for relative paths and
	// for .env; default the directory of the first file.
	ProjectDirectory string
	// Profiles to enable; empty means COMPOSE_PROFILES.
	Profiles []string
	// EnvFiles replace the default <project dir>/.env.
	EnvFiles []string
	// Environment is KEY=VALUE; nil means the process environment.
	Environment []string
	// Stdin is read for the file "-".
	Stdin io.Reader
}

// projectNameEnv are the variables that name a project, first wins.
var projectNameEnv = []string{"BERTH_PROJECT_NAME", "COMPOSE_PROJECT_NAME"}

// podsKey is the top-level key of berth's extension, and podsExtension the
// name under which it travels through compose-go, which rejects unknown
// top-level keys but passes x- extensions (interpolated and merged like
// any other mapping).
const (
	podsKey       = "pods"
	podsExtension = "x-berth-pods"
)

// Load reads, merges, interpolates and validates the manifests and returns
// berth's normalized model. Errors about the manifest content are *Error
// (errors.Is(err, ErrInvalid)); they name file, line, column and key path
// where known.
func Load(ctx context.Context, o LoadOptions) (*Project, error) {
	started := time.Now()
	env := o.Environment
	if env == nil {
		env = os.Environ()
	}
	popts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDirectory),
		cli.WithEnv(env),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
	)
	if err != nil {
		return nil, fmt.Errorf("load project options: %w", err)
	}
	if len(popts.ConfigPaths) == 0 {
		return nil, &Error{Message: "no configuration file provided: not found (looked for " + strings.Join(cli.DefaultFileNames, ", ") + ")"}
	}
	workingDir, err := popts.GetWorkingDir()
	if err != nil {
		return nil, fmt.Errorf("project directory: %w", err)
	}

	sources, err := readSources(popts.ConfigPaths, o.Stdin)
	if err != nil {
		return nil, err
	}
	inputs := newInputSet()
	if len(o.Files) == 0 { // discovery, unless COMPOSE_FILE named them: a superset is fine
		start := o.ProjectDirectory
		if start == "" {
			start, _ = os.Getwd()
		}
		inputs.discovery(start, popts.ConfigPaths[0])
	}
	for _, s := range sources {
		inputs.add(s.path)
	}
	inputs.add(filepath.Join(workingDir, ".env"))
	for _, f := range popts.EnvFiles {
		inputs.add(f)
	}
	inputs.references(sources)
	loc := &locator{files: sources}
	loc.addReferenced(sources)
	if err := precheck(sources); err != nil {
		return nil, err
	}

	profiles := o.Profiles
	if len(profiles) == 0 {
		for _, p := range strings.Split(popts.Environment["COMPOSE_PROFILES"], ",") {
			if p = strings.TrimSpace(p); p != "" {
				profiles = append(profiles, p)
			}
		}
	}

	name, explicit, err := projectName(o.ProjectName, popts.Environment, workingDir)
	if err != nil {
		return nil, err
	}

	details := types.ConfigDetails{
		WorkingDir:  workingDir,
		Environment: popts.Environment,
	}
	for _, s := range sources {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: s.path, Content: s.rewritten})
	}
	cp, err := composeLoad(ctx, details, profiles, name, explicit)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, loc.translate(err)
	}

	inputs.serviceFiles(cp)
	p, errs := convertProject(cp, loc)
	if len(errs) == 0 {
		errs = validate(p, cp, loc)
	}
	if len(errs) > 0 {
		return nil, loc.fill(errs[0])
	}
	for i := range p.Warnings {
		w := &p.Warnings[i]
		if w.File == "" && w.Path != "" {
			w.File, w.Line, w.Column = loc.locate(w.Path)
		}
	}
	for i := range p.Services {
		s := &p.Services[i]
		pod, _ := p.Pod(s.Pod)
		s.ConfigHash = ConfigHash(s, pod)
	}
	p.Inputs, p.InputsComplete, p.LoadStarted = inputs.sorted(), inputs.complete, started
	return p, nil
}

// projectName applies berth's precedence: -p, BERTH_PROJECT_NAME,
// COMPOSE_PROJECT_NAME (all explicit: must already be normalized), then
// the manifest's `name:` (compose-go reads it when explicit is false), then
// the normalized directory name.
func projectName(flag string, env map[string]string, workingDir string) (string, bool, error) {
	candidates := []struct{ from, value string }{{"--project-name", flag}}
	for _, k := range projectNameEnv {
		candidates = append(candidates, struct{ from, value string }{k, env[k]})
	}
	for _, c := range candidates {
		if c.value == "" {
			continue
		}
		if loader.NormalizeProjectName(c.value) != c.value {
			return "", false, &Error{Path: c.from, Message: fmt.Sprintf("invalid project name %q: use only lowercase letters, digits, '-' and '_', starting with a letter or digit", c.value)}
		}
		return c.value, true, nil
	}
	return loader.NormalizeProjectName(filepath.Base(workingDir)), false, nil
}

// source is one manifest as read, with its parsed YAML documents (for
// locating keys) and the bytes handed to compose-go (pods renamed).
type source struct {
	path      string // as given to compose-go: absolute, or "-"
	display   string // for messages: relative to the current directory when below it
	content   []byte
	rewritten []byte
	docs      []*yaml.Node
}

func readSources(paths []string, stdin io.Reader) ([]*source, error) {
	cwd, _ := os.Getwd()
	var out []*source
	for _, p := range paths {
		s := &source{path: p, display: displayName(cwd, p)}
		var err error
		if p == "-" {
			if stdin == nil {
				return nil, errors.New("read manifest from stdin: no stdin")
			}
			s.display = "<stdin>"
			s.content, err = io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read manifest from stdin: %w", err)
			}
		} else {
			s.content, err = os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
		}
		if err := s.parse(); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func displayName(cwd, p string) string {
	if p == "-" || cwd == "" {
		return p
	}
	if rel, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// parse reads the YAML documents of s (reporting syntax errors with their
// line) and renames each document's top-level `pods:` key to the x-
// extension compose-go lets through, keeping every line where it was.
func (s *source) parse() error {
	dec := yaml.NewDecoder(bytes.NewReader(s.content))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return yamlError(s.display, err)
		}
		if len(n.Content) > 0 && n.Content[0].Kind != yaml.MappingNode {
			r := n.Content[0]
			return &Error{File: s.display, Line: r.Line, Column: r.Column, Message: "top-level object must be a mapping"}
		}
		if a := recursiveAlias(&n, nil); a != nil {
			return &Error{File: s.display, Line: a.Line, Column: a.Column, Message: fmt.Sprintf("alias *%s is used inside its own anchor &%s (recursive alias)", a.Value, a.Value)}
		}
		s.docs = append(s.docs, &n)
	}
	s.rewritten = s.content
	var keys []*yaml.Node
	for _, d := range s.docs {
		if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := d.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value == podsKey {
				keys = append(keys, k)
			}
			if k.Kind == yaml.ScalarNode && k.Value == podsExtension {
				return &Error{File: s.display, Line: k.Line, Column: k.Column, Path: podsExtension, Message: "reserved key: use pods"}
			}
		}
	}
	// Rewrite from the end so earlier offsets stay valid.
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Line != keys[j].Line {
			return keys[i].Line > keys[j].Line
		}
		return keys[i].Column > keys[j].Column
	})
	for _, k := range keys {
		off, ok := offsetOf(s.rewritten, k.Line, k.Column)
		if !ok {
			return &Error{File: s.display, Line: k.Line, Column: k.Column, Path: podsKey, Message: "cannot locate key in file"}
		}
		rest := s.rewritten[off:]
		var n int
		switch {
		case bytes.HasPrefix(rest, []byte(podsKey)):
			n = len(podsKey)
		case bytes.HasPrefix(rest, []byte(`"`+podsKey+`"`)), bytes.HasPrefix(rest, []byte(`'`+podsKey+`'`)):
			n = len(podsKey) + 2
		default:
			return &Error{File: s.display, Line: k.Line, Column: k.Column, Path: podsKey, Message: "write the key pods as plain or quoted text"}
		}
		out := make([]byte, 0, len(s.rewritten)+len(podsExtension))
		out = append(out, s.rewritten[:off]...)
		out = append(out, podsExtension...)
		out = append(out, rest[n:]...)
		s.rewritten = out
	}
	return nil
}

// offsetOf converts yaml's 1-based line and column (in characters) into a
// byte offset.
func offsetOf(b []byte, line, col int) (int, bool) {
	off := 0
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		off = 3 // yaml does not count a byte order mark as a column
	}
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(b) || b[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(b[off:])
		off += size
	}
	return off, off <= len(b)
}

// composeLoad runs compose-go. A panic inside it (a bug there, reached by
// some odd manifest) becomes an error: bad input must never crash berth.
func composeLoad(ctx context.Context, details types.ConfigDetails, profiles []string, name string, explicit bool) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("compose-go failed on this manifest: %v", r)
		}
	}()
	return loader.LoadWithContext(ctx, details,
		loader.WithProfiles(profiles),
		func(lo *loader.Options) {
			lo.SetProjectName(name, explicit)
			// berth checks references itself, with file:line:col.
			lo.SkipConsistencyCheck = true
		},
	)
}

// precheck looks at the raw documents for mistakes that compose-go reports
// without a key path (short port syntax), so that berth can say where.
// Values still containing variables are left to compose-go.
func precheck(sources []*source) error {
	for _, s := range sources {
		for _, d := range s.docs {
			if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
				continue
			}
			services := mappingValue(d.Content[0], "services")
			if services == nil || services.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(services.Content); i += 2 {
				name, svc := services.Content[i].Value, services.Content[i+1]
				if svc.Kind != yaml.MappingNode {
					continue
				}
				ports := mappingValue(svc, "ports")
				if ports == nil || ports.Kind != yaml.SequenceNode {
					continue
				}
				for j, item := range ports.Content {
					if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, "$") || item.Tag == "!!int" {
						continue
					}
					if _, err := ParsePortSpec(item.Value); err != nil {
						return &Error{File: s.display, Line: item.Line, Column: item.Column, Path: fmt.Sprintf("services.%s.ports[%d]", name, j), Message: err.Error()}
					}
				}
			}
		}
	}
	return nil
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// recursiveAlias returns an alias node that points at one of its own
// ancestors. YAML allows such cycles, but compose-go spends seconds (or
// more) walking them before giving up, so berth refuses them up front.
func recursiveAlias(n *yaml.Node, ancestors []*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		for _, a := range ancestors {
			if a == n.Alias {
				return n
			}
		}
		return nil
	}
	ancestors = append(ancestors, n)
	for _, c := range n.Content {
		if a := recursiveAlias(c, ancestors); a != nil {
			return a
		}
	}
	return nil
}
