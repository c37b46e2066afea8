package spec

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// inputSet collects the files a load read or looked for: the result of
// the load is a function of their contents (or absence), the environment
// and the options. Complete stays true only when every such file is known
// (no stdin, no include or extends path left to interpolation or to a
// remote loader, no include with its own env_file or project_directory).
type inputSet struct {
	paths    map[string]bool
	complete bool
}

func newInputSet() *inputSet { return &inputSet{paths: map[string]bool{}, complete: true} }

func (in *inputSet) add(p string) {
	if p == "" || p == "-" {
		in.complete = false
		return
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	in.paths[filepath.Clean(p)] = true
}

func (in *inputSet) sorted() []string {
	out := make([]string, 0, len(in.paths))
	for p := range in.paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// discovery adds the candidates compose-go's default file discovery looks
// at: every default and override name in each directory from start up to
// the one where the first manifest was found (or to / when none was).
func (in *inputSet) discovery(start, found string) {
	names := append(append([]string(nil), cli.DefaultFileNames...), cli.DefaultOverrideFileNames...)
	dir, err := filepath.Abs(start)
	if err != nil {
		in.complete = false
		return
	}
	for {
		for _, n := range names {
			in.add(filepath.Join(dir, n))
		}
		if found != "" && dir == filepath.Dir(found) {
			return
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
}

// references adds the files that include: and extends: entries of the
// sources (and, recursively, of those files) name, with each included
// project's default .env.
func (in *inputSet) references(roots []*source) {
	seen := map[string]bool{}
	queue := append([]*source(nil), roots...)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s.path == "-" {
			in.complete = false
			continue
		}
		base := filepath.Dir(s.path)
		for _, ref := range in.referenced(s) {
			if !filepath.IsAbs(ref.path) {
				ref.path = filepath.Join(base, ref.path)
			}
			in.add(ref.path)
			if ref.include {
				in.add(filepath.Join(filepath.Dir(ref.path), ".env"))
			}
			if seen[ref.path] {
				continue
			}
			if len(seen) >= 256 {
				in.complete = false
				continue
			}
			seen[ref.path] = true
			b, err := os.ReadFile(ref.path)
			if err != nil {
				continue // compose-go has read it, or failed the load
			}
			x := &source{path: ref.path, display: ref.path, content: b}
			if x.parse() != nil {
				in.complete = false
				continue
			}
			queue = append(queue, x)
		}
	}
}

type reference struct {
	path    string
	include bool
}

// referenced lists the include and extends paths of s. Anything it cannot
// resolve without compose-go (interpolated or remote paths, includes with
// their own env_file or project_directory) makes the set incomplete.
func (in *inputSet) referenced(s *source) []reference {
	var out []reference
	plain := func(v string) bool {
		if strings.Contains(v, "$") || strings.Contains(v, "://") || strings.HasPrefix(v, "oci:") || strings.HasPrefix(v, "git@") {
			in.complete = false
			return false
		}
		return true
	}
	paths := func(n *yaml.Node, include bool) {
		switch {
		case n == nil:
		case n.Kind == yaml.ScalarNode:
			if plain(n.Value) {
				out = append(out, reference{n.Value, include})
			}
		case n.Kind == yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Kind != yaml.ScalarNode {
					in.complete = false
				} else if plain(c.Value) {
					out = append(out, reference{c.Value, include})
				}
			}
		default:
			in.complete = false
		}
	}
	for _, d := range s.docs {
		if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		top := d.Content[0]
		if inc := mappingValue(top, "include"); inc != nil {
			if inc.Kind != yaml.SequenceNode {
				in.complete = false
			}
			for _, item := range inc.Content {
				if item.Kind != yaml.MappingNode {
					paths(item, true)
					continue
				}
				for i := 0; i+1 < len(item.Content); i += 2 {
					if item.Content[i].Value != "path" {
						in.complete = false // env_file, project_directory
					}
				}
				paths(mappingValue(item, "path"), true)
			}
		}
		if svcs := mappingValue(top, "services"); svcs != nil && svcs.Kind == yaml.MappingNode {
			for i := 1; i < len(svcs.Content); i += 2 {
				if svcs.Content[i].Kind != yaml.MappingNode {
					continue
				}
				ext := mappingValue(svcs.Content[i], "extends")
				if ext != nil && ext.Kind == yaml.MappingNode {
					paths(mappingValue(ext, "file"), false)
				}
			}
		}
	}
	return out
}

// serviceFiles adds the env_file and label_file paths compose-go resolved
// into the services.
func (in *inputSet) serviceFiles(cp *types.Project) {
	for _, s := range cp.Services {
		for _, f := range s.EnvFiles {
			in.add(f.Path)
		}
		for _, f := range s.LabelFiles {
			in.add(f)
		}
	}
}
