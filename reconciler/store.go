package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/spec"
)

// Store is a project's state dir, <root>/projects/<name>/:
//
//	lock              flock of commands changing the project (see Lock)
//	supervisor.pid    pid of the detached supervisor
//	project.json      the project as last applied by up (what the
//	                  supervisor supervises)
//	configs/<hash>    normalized service JSON per config hash
//	health/<name>     health of one container (HealthStatus JSON)
//	stopped/<name>    present when the user stopped the container
//	sandboxes/<id>    network sandboxes made for the project (recorded
//	                  before they are made, so down finds them all)
//
// Every file is written atomically; a missing file means "nothing known".
type Store struct {
	dir string
}

// ProjectsDir is where every project's state dir lives under the root.
func ProjectsDir(root string) string { return filepath.Join(root, "projects") }

// OpenStore returns the store of project under root, creating nothing yet.
func OpenStore(root, project string) (*Store, error) {
	if project == "" || strings.ContainsAny(project, "/\x00") || project == "." || project == ".." {
		return nil, fmt.Errorf("project name %q: %w", project, ErrInvalidArgument)
	}
	return &Store{dir: filepath.Join(ProjectsDir(root), project)}, nil
}

// Dir returns the state dir.
func (s *Store) Dir() string { return s.dir }

func (s *Store) write(rel string, data []byte) error {
	p := filepath.Join(s.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("project state %s: %w", rel, err)
	}
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("project state %s: %w", rel, err)
	}
	return nil
}

// SaveConfig records the normalized config a container with hash is made from.
func (s *Store) SaveConfig(hash string, cfg []byte) error {
	if hash == "" || strings.ContainsAny(hash, "/.") {
		return fmt.Errorf("config hash %q: %w", hash, ErrInvalidArgument)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "configs", hash)); err == nil {
		return nil
	}
	return s.write(filepath.Join("configs", hash), cfg)
}

// Config returns the normalized config recorded for hash.
func (s *Store) Config(hash string) ([]byte, error) {
	if hash == "" || strings.ContainsAny(hash, "/.") {
		return nil, fmt.Errorf("config hash %q: %w", hash, ErrInvalidArgument)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "configs", hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config %s: %w", hash, ErrNotFound)
	}
	return b, err
}

// PruneConfigs removes the recorded configs whose hash is not in keep.
func (s *Store) PruneConfigs(keep map[string]bool) {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "configs"))
	for _, e := range ents {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(s.dir, "configs", e.Name()))
		}
	}
}

// SetStoppedByUser records (or clears) that the user stopped container
// name, so that the supervisor does not restart it.
func (s *Store) SetStoppedByUser(name string, stopped bool) error {
	if err := checkFileName(name); err != nil {
		return err
	}
	if stopped {
		// An empty marker, created without a sync (two fsyncs each cost
		// down ≈ 1 ms per container, one after another): it tells this
		// boot's supervisor to leave the container alone, and after a
		// reboot no container runs until the next up.
		p := filepath.Join(s.dir, "stopped", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("project state: %w", err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("project state: %w", err)
		}
		return f.Close()
	}
	err := os.Remove(filepath.Join(s.dir, "stopped", name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("project state: %w", err)
	}
	return nil
}

// StoppedByUser returns the containers the user stopped.
func (s *Store) StoppedByUser() (map[string]bool, error) {
	out := map[string]bool{}
	ents, err := os.ReadDir(filepath.Join(s.dir, "stopped"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("project state: %w", err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out[e.Name()] = true
		}
	}
	return out, nil
}

// SaveHealth records the health of container name.
func (s *Store) SaveHealth(name string, h HealthStatus) error {
	if err := checkFileName(name); err != nil {
		return err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return s.write(filepath.Join("health", name), b)
}

// Health returns the recorded health of container name; ErrNotFound when
// none was recorded (no healthcheck, or never probed).
func (s *Store) Health(name string) (HealthStatus, error) {
	var h HealthStatus
	if err := checkFileName(name); err != nil {
		return h, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "health", name))
	if errors.Is(err, fs.ErrNotExist) {
		return h, fmt.Errorf("health of %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return h, fmt.Errorf("health of %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("health of %s: %w", name, err)
	}
	return h, nil
}

// ForgetContainer removes what the store knows about container name.
func (s *Store) ForgetContainer(name string) {
	if checkFileName(name) != nil {
		return
	}
	os.Remove(filepath.Join(s.dir, "health", name))
	os.Remove(filepath.Join(s.dir, "stopped", name))
}

// RecordSandbox notes that sandbox id is (about to be) made for the project.
func (s *Store) RecordSandbox(id string) error {
	if err := checkFileName(id); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.dir, "sandboxes", id)); err == nil {
		return nil
	}
	return s.write(filepath.Join("sandboxes", id), nil)
}

// ForgetSandbox drops the record of sandbox id.
func (s *Store) ForgetSandbox(id string) {
	if checkFileName(id) == nil {
		os.Remove(filepath.Join(s.dir, "sandboxes", id))
	}
}

// Sandboxes returns the recorded sandbox ids.
func (s *Store) Sandboxes() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "sandboxes"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("project state: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// SaveProject records the project as applied.
func (s *Store) SaveProject(p *spec.Project) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode project %s: %w", p.Name, err)
	}
	return s.write("project.json", b)
}

// LoadProject returns the project as last applied by up.
func (s *Store) LoadProject() (*spec.Project, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "project.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("project state %s: %w", s.dir, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var p spec.Project
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("project state %s/project.json: %w", s.dir, err)
	}
	return &p, nil
}

// PidFile is the path of the supervisor's pid file.
func (s *Store) PidFile() string { return filepath.Join(s.dir, "supervisor.pid") }

// RemoveAll removes the whole state dir, lock file included, while the
// caller holds the lock (down). A command waiting on the lock then locks
// the unlinked file, sees that the path no longer names it and retries on
// a fresh file (see tryLock), so removal never lets two commands in.
func (s *Store) RemoveAll() error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove project state: %w", err)
	}
	return nil
}

func checkFileName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("container name %q: %w", name, ErrInvalidArgument)
	}
	return nil
}

// modTime is for tests and ls: when the project state last changed.
func (s *Store) modTime() time.Time {
	fi, err := os.Stat(filepath.Join(s.dir, "project.json"))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}
