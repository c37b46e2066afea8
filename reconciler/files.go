package reconciler

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// fileMounts turns a service's secrets and configs into read-only binds,
// as Docker Compose does outside Swarm. A `file:` source is bound as it is;
// content from `environment:` or `content:`, and a file that asks for its
// own uid, gid or mode, is first written under the project's state dir
// (removed by `down`) so that the user's file is never chowned.
func (e *Executor) fileMounts(s *spec.Service) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, f := range s.Files {
		what := fmt.Sprintf("%s %q", f.Kind, f.Source)
		if f.File != "" {
			fi, err := os.Stat(f.File)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: %s is not a regular file", what, f.File)
			}
		}
		if f.File != "" && f.UID == "" && f.GID == "" && f.Mode == nil {
			out = append(out, runtime.Mount{Type: "bind", Source: f.File, Target: f.Target, ReadOnly: true})
			continue
		}
		path, err := e.writeFileMount(s.Name, i, f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, runtime.Mount{Type: "bind", Source: path, Target: f.Target, ReadOnly: true})
	}
	return out, nil
}

// writeFileMount writes f's content with its owner and mode (default
// root:root 0444) and returns the host path.
func (e *Executor) writeFileMount(service string, i int, f spec.FileMount) (string, error) {
	if e.Store == nil {
		return "", fmt.Errorf("no project state dir to write it to")
	}
	uid, err := numericID("uid", f.UID)
	if err != nil {
		return "", err
	}
	gid, err := numericID("gid", f.GID)
	if err != nil {
		return "", err
	}
	data := []byte(f.Content)
	if !f.HasContent {
		if data, err = os.ReadFile(f.File); err != nil {
			return "", err
		}
	}
	mode := os.FileMode(0o444)
	if f.Mode != nil {
		mode = os.FileMode(*f.Mode) & os.ModePerm
	}
	dir := filepath.Join(e.Store.Dir(), "files", service)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%d-%s-%s", i, f.Kind, f.Source))
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	// Owner and mode after the rename: the file is the mount source, only
	// root can reach it (0700 dir) until it is bound into the container.
	if err := os.Chown(path, uid, gid); err != nil {
		return "", err
	}
	if err := os.Chmod(path, mode); err != nil {
		return "", err
	}
	return path, nil
}

func numericID(what, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: must be a number (names are not resolved)", what, v)
	}
	return n, nil
}
