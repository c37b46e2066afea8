package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// locator finds where a key path is written in the manifests, so that
// errors and warnings can say file:line:col.
type locator struct {
	files []*source
	// extra are files pulled in by include: and extends.file, searched
	// before (under) the files given, which override them.
	extra []*source
}

// addReferenced parses the files that the manifests include or extend
// from, best effort, so that errors about what they define can be
// located too. Unreadable ones are left to compose-go to report.
func (l *locator) addReferenced(roots []*source) {
	seen := map[string]bool{}
	for _, s := range roots {
		seen[s.path] = true
	}
	queue := append([]*source(nil), roots...)
	cwd, _ := os.Getwd()
	for len(queue) > 0 && len(l.extra) < 64 {
		s := queue[0]
		queue = queue[1:]
		base := cwd
		if s.path != "-" {
			base = filepath.Dir(s.path)
		}
		for _, ref := range referencedFiles(s) {
			if !filepath.IsAbs(ref) {
				ref = filepath.Join(base, ref)
			}
			if seen[ref] {
				continue
			}
			seen[ref] = true
			b, err := os.ReadFile(ref)
			if err != nil {
				continue
			}
			x := &source{path: ref, display: displayName(cwd, ref), content: b}
			if x.parse() != nil {
				continue
			}
			l.extra = append(l.extra, x)
			queue = append(queue, x)
		}
	}
}

// referencedFiles lists include: paths and extends.file values in s.
func referencedFiles(s *source) []string {
	var out []string
	scalars := func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode && !strings.Contains(n.Value, "$") {
			out = append(out, n.Value)
		}
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if c.Kind == yaml.ScalarNode && !strings.Contains(c.Value, "$") {
					out = append(out, c.Value)
				}
			}
		}
	}
	for _, d := range s.docs {
		if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		top := d.Content[0]
		if inc := mappingValue(top, "include"); inc != nil && inc.Kind == yaml.SequenceNode {
			for _, item := range inc.Content {
				if item.Kind == yaml.MappingNode {
					scalars(mappingValue(item, "path"))
				} else {
					scalars(item)
				}
			}
		}
		if svcs := mappingValue(top, "services"); svcs != nil && svcs.Kind == yaml.MappingNode {
			for i := 1; i < len(svcs.Content); i += 2 {
				if svcs.Content[i].Kind != yaml.MappingNode {
					continue
				}
				if ext := mappingValue(svcs.Content[i], "extends"); ext != nil && ext.Kind == yaml.MappingNode {
					scalars(mappingValue(ext, "file"))
				}
			}
		}
	}
	return out
}

// all returns the files to search, weakest first.
func (l *locator) all() []*source {
	return append(append([]*source(nil), l.extra...), l.files...)
}

// pathSegments splits "services.web.ports[0]" or compose-go's
// "services.web.ports.0" into segments. Keys that contain dots are
// re-joined while walking the YAML tree.
func pathSegments(path string) []string {
	var segs []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				segs = append(segs, part)
				break
			}
			if i > 0 {
				segs = append(segs, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				segs = append(segs, part[i:])
				break
			}
			segs = append(segs, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	return segs
}

// walk follows segs from n and returns the node to point at (a mapping
// key, or a sequence item), how many segments matched, and the path as
// berth writes it (sequence indices in brackets).
func walk(n *yaml.Node, segs []string) (*yaml.Node, int, string) {
	var (
		at       *yaml.Node
		consumed int
		rendered strings.Builder
	)
	for n != nil && consumed < len(segs) {
		for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			rest := segs[consumed:]
			for k := len(rest); k >= 1 && !found; k-- {
				key := strings.Join(rest[:k], ".")
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						if rendered.Len() > 0 {
							rendered.WriteByte('.')
						}
						rendered.WriteString(key)
						at, n = n.Content[i], n.Content[i+1]
						consumed += k
						found = true
						break
					}
				}
			}
			if !found {
				return at, consumed, rendered.String()
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(segs[consumed])
			if err != nil {
				// A name in a list (depends_on: [db], pods' services):
				// point at the item that names it.
				i = -1
				for j, item := range n.Content {
					if item.Kind == yaml.ScalarNode && item.Value == segs[consumed] {
						i = j
						break
					}
				}
			}
			if i < 0 || i >= len(n.Content) {
				return at, consumed, rendered.String()
			}
			fmt.Fprintf(&rendered, "[%d]", i)
			at, n = n.Content[i], n.Content[i]
			consumed++
		default:
			return at, consumed, rendered.String()
		}
	}
	return at, consumed, rendered.String()
}

// find returns the best location of path over all files: the deepest
// match, the later file on ties (it overrides the earlier ones). file is
// "" when not even the first segment is written anywhere.
func (l *locator) find(path string) (file string, line, col int, rendered string) {
	return findIn(l.all(), path)
}

func findIn(files []*source, path string) (file string, line, col int, rendered string) {
	segs := pathSegments(path)
	best := -1
	for _, s := range files {
		for _, d := range s.docs {
			at, n, r := walk(d, segs)
			if at == nil || n == 0 || n < best {
				continue
			}
			best = n
			file, line, col = s.display, at.Line, at.Column
			rendered = r
			if n < len(segs) {
				rest := segs[n:]
				for _, seg := range rest {
					if _, err := strconv.Atoi(seg); err == nil {
						rendered += "[" + seg + "]"
					} else if seg != "[]" {
						rendered += "." + seg
					}
				}
			}
		}
	}
	if best < 0 {
		return "", 0, 0, path
	}
	return file, line, col, rendered
}

func (l *locator) extraFile(path string) *source {
	for _, s := range l.extra {
		if s.path == path {
			return s
		}
	}
	return nil
}

func (l *locator) locate(path string) (string, int, int) {
	f, line, col, _ := l.find(path)
	return f, line, col
}

// fill completes e's location from its Path and returns it as an error.
func (l *locator) fill(e *Error) error {
	if e.File == "" && e.Path != "" {
		file, line, col, rendered := l.find(e.Path)
		if file != "" {
			e.File, e.Line, e.Column, e.Path = file, line, col, rendered
		}
	}
	if e.File == "" && len(l.files) > 0 {
		e.File = l.files[0].display
	}
	return e
}

var (
	reValidating  = regexp.MustCompile(`(?s)^validating (.+?): (\S*) (.+)$`)
	reAdditional  = regexp.MustCompile(`^additional properties? (.+) not allowed$`)
	reInterpolate = regexp.MustCompile(`(?s)^error while interpolating (\S+): (.+)$`)
	reDecoding    = regexp.MustCompile(`(?s)decoding failed due to the following error\(s\):\s*'([^']*)' (.+)$`)
	reCircular    = regexp.MustCompile(`(?s)^Circular reference:\s*\n\s*(\S+) in `)
	reExtendsLine = regexp.MustCompile(`extends (\S+) in `)
	reBracketKey  = regexp.MustCompile(`\[([^\]]+)\]`)
	reYAMLLine    = regexp.MustCompile(`^yaml: line (\d+): (.+)$`)
	reCannotExt   = regexp.MustCompile(`cannot extend service "([^"]+)"`)
	reMustBe      = regexp.MustCompile(`^(\S+) (must be .+)$`)
	reParse       = regexp.MustCompile(`(?s)^failed to parse (.+?): (?:yaml: )?(.*)$`)
	reAnyLine     = regexp.MustCompile(`line (\d+): (.*)$`)
)

// translate turns a compose-go error into an *Error with a location.
// compose-go's messages are not typed; the patterns below cover the ones
// a manifest can produce, and anything else keeps its text, attributed to
// the first file.
func (l *locator) translate(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return l.fill(e)
	}
	msg := strings.ReplaceAll(err.Error(), podsExtension, podsKey)
	out := &Error{Err: err}
	switch {
	case reValidating.MatchString(msg):
		m := reValidating.FindStringSubmatch(msg)
		out.Path, out.Message = m[2], m[3]
		// An included file is validated on its own: look only there.
		only := l.extraFile(m[1])
		if a := reAdditional.FindStringSubmatch(m[3]); a != nil {
			keys := strings.Split(a[1], ",")
			key := strings.Trim(strings.TrimSpace(keys[0]), "'")
			if out.Path == "" {
				out.Path = key
				out.Message = "unknown top-level key (berth accepts the Compose Specification keys, pods and x- extensions)"
				if key == podsKey {
					out.Message = "pods are not supported in included files: declare them in a file given with -f (or compose.yaml / its override)"
				}
			} else {
				out.Path += "." + key
				out.Message = "unknown key"
			}
		} else if m[3] == "false schema" {
			out.Message = "unknown key"
		}
		out.Message = strings.Replace(out.Message, "must be a array", "must be a list", 1)
		if only != nil {
			if file, line, col, rendered := findIn([]*source{only}, out.Path); file != "" {
				out.File, out.Line, out.Column, out.Path = file, line, col, rendered
			} else {
				out.File = only.display
			}
		}
	case reInterpolate.MatchString(msg):
		m := reInterpolate.FindStringSubmatch(msg)
		out.Path, out.Message = m[1], m[2]
	case reDecoding.MatchString(msg):
		m := reDecoding.FindStringSubmatch(msg)
		out.Path = reBracketKey.ReplaceAllString(m[1], ".$1")
		out.Message = strings.TrimSpace(strings.SplitN(m[2], "\n", 2)[0])
	case reCircular.MatchString(msg):
		m := reCircular.FindStringSubmatch(msg)
		chain := []string{m[1]}
		for _, x := range reExtendsLine.FindAllStringSubmatch(msg, -1) {
			chain = append(chain, x[1])
		}
		// compose-go walks services in map order: start the cycle at its
		// smallest name so the message is the same every time.
		first := 0
		for i, n := range chain {
			if n == chain[len(chain)-1] {
				first = i
				break
			}
		}
		cycle := chain[first : len(chain)-1]
		if len(cycle) == 0 {
			cycle = chain[:1]
		}
		start := 0
		for i, n := range cycle {
			if n < cycle[start] {
				start = i
			}
		}
		cycle = append(append(append([]string(nil), cycle[start:]...), cycle[:start]...), cycle[start])
		out.Path = "services." + cycle[0] + ".extends"
		out.Message = "circular extends: " + strings.Join(cycle, " -> ")
	case reCannotExt.MatchString(msg):
		m := reCannotExt.FindStringSubmatch(msg)
		out.Path = "services." + m[1] + ".extends"
		out.Message = oneLine(msg)
	case reMustBe.MatchString(msg):
		m := reMustBe.FindStringSubmatch(msg)
		out.Path, out.Message = strings.TrimSuffix(m[1], "."), m[2]
	case reParse.MatchString(msg):
		// compose-go's own YAML parser (a different one from berth's)
		// refused something berth's accepted, e.g. excessive aliasing.
		m := reParse.FindStringSubmatch(msg)
		out.Message = "invalid YAML: " + oneLine(m[2])
		if lm := reAnyLine.FindStringSubmatch(m[2]); lm != nil {
			out.Line, _ = strconv.Atoi(lm[1])
			out.Message = "invalid YAML: " + strings.TrimPrefix(oneLine(lm[2]), "yaml: ")
		}
		for _, s := range l.all() {
			if s.path == m[1] {
				out.File = s.display
			}
		}
		if out.File == "" {
			out.File = m[1]
		}
	default:
		out.Message = oneLine(msg)
	}
	return l.fill(out)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}

// yamlError turns a yaml.v3 syntax error into an *Error with its line.
func yamlError(file string, err error) error {
	msg := err.Error()
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Message: "invalid YAML: " + m[2], Err: err}
	}
	return &Error{File: file, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Err: err}
}
