package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Options configure a Store.
type Options struct {
	// RegistryConfigFiles are candidate registries.yaml files; the first one
	// that exists is used, none means no mirrors and no insecure registries.
	// See DefaultRegistryConfigFiles.
	RegistryConfigFiles []string
	// Platform pulled when PullOptions.Platform is empty, "os/arch[/variant]".
	// Empty means the host's (linux/amd64 here).
	Platform string
	// Logger receives debug and info events; nil discards them.
	Logger *slog.Logger
	// InUse reports whether a container uses the image with this ID. Remove
	// and Prune refuse such images unless forced. nil means "never in use".
	InUse func(imageID string) (bool, error)
	// Keychain resolves registry credentials; nil means authn.DefaultKeychain
	// (Docker config.json and credential helpers).
	Keychain authn.Keychain
	// Transport carries registry traffic; nil means go-containerregistry's
	// default. Tests use it to corrupt blobs.
	Transport http.RoundTripper
	// Jobs bounds parallel layer downloads; 0 means 4.
	Jobs int
}

// DefaultRegistryConfigFiles are the places berth looks for registries.yaml:
// the root dir first, then /etc/berth.
func DefaultRegistryConfigFiles(root string) []string {
	return []string{filepath.Join(root, "registries.yaml"), "/etc/berth/registries.yaml"}
}

// Store is the image store in one directory. It is safe for concurrent use
// by goroutines and by several berth processes (file locks).
type Store struct {
	dir      string
	opts     Options
	log      *slog.Logger
	platform Platform
	regs     *RegistryConfig
}

// indexVersion is the format version of index.json.
const indexVersion = 1

// indexFile is index.json: every image by ID.
type indexFile struct {
	Version int               `json:"version"`
	Images  map[string]*Image `json:"images"`
}

// Open opens (creating if needed) the store in dir, normally <root>/images,
// reads the registry configuration and removes leftovers of interrupted runs
// when no other process is using the store.
func Open(dir string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	s := &Store{dir: abs, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.Jobs <= 0 {
		s.opts.Jobs = 4
	}
	if s.opts.Keychain == nil {
		s.opts.Keychain = authn.DefaultKeychain
	}
	p := opts.Platform
	if p == "" {
		p = runtime.GOOS + "/" + runtime.GOARCH
	}
	if s.platform, err = ParsePlatform(p); err != nil {
		return nil, err
	}
	if s.regs, err = LoadRegistryConfig(opts.RegistryConfigFiles...); err != nil {
		return nil, err
	}
	for _, d := range []string{"", "blobs/sha256", "layers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store %s: %w", abs, err)
		}
	}
	if err := s.cleanup(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Registries is the registry configuration in effect.
func (s *Store) Registries() *RegistryConfig { return s.regs }

// cleanup removes what interrupted runs left in tmp/ — only when no pull or
// removal is running in another process (it would be their work space).
func (s *Store) cleanup() error {
	l, ok, err := tryLock(filepath.Join(s.dir, "gc.lock"))
	if err != nil || !ok {
		return err
	}
	defer l.unlock()
	ents, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return fmt.Errorf("image store %s: %w", s.dir, err)
	}
	for _, e := range ents {
		p := filepath.Join(s.dir, "tmp", e.Name())
		s.log.Debug("removing leftover of an interrupted run", "path", p)
		if err := removeAll(p); err != nil {
			return fmt.Errorf("image store: remove leftover %s: %w", p, err)
		}
	}
	return nil
}

// readIndex reads index.json; a missing file is an empty store.
func (s *Store) readIndex() (*indexFile, error) {
	p := filepath.Join(s.dir, "index.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &indexFile{Version: indexVersion, Images: map[string]*Image{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var idx indexFile
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("image store %s: %w", p, err)
	}
	if idx.Version != indexVersion {
		return nil, fmt.Errorf("image store %s: version %d, this berth reads %d: %w", p, idx.Version, indexVersion, ErrUnsupported)
	}
	if idx.Images == nil {
		idx.Images = map[string]*Image{}
	}
	return &idx, nil
}

func (s *Store) writeIndex(idx *indexFile) error {
	for _, img := range idx.Images {
		for i := range img.Layers {
			img.Layers[i].Dir = ""
		}
		sort.Strings(img.RepoTags)
		sort.Strings(img.RepoDigests)
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "index.json"), b, 0o600); err != nil {
		return fmt.Errorf("image store: write index: %w", err)
	}
	return nil
}

// updateIndex runs fn on the index under the index lock and writes the
// result if fn returns nil.
func (s *Store) updateIndex(fn func(*indexFile) error) error {
	l, err := lock(filepath.Join(s.dir, "index.lock"), true)
	if err != nil {
		return err
	}
	defer l.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	return s.writeIndex(idx)
}

// withDirs fills the layer directories of a copy of img.
func (s *Store) withDirs(img *Image) *Image {
	c := *img
	c.RepoTags = append([]string(nil), img.RepoTags...)
	c.RepoDigests = append([]string(nil), img.RepoDigests...)
	c.Layers = append([]Layer(nil), img.Layers...)
	for i := range c.Layers {
		c.Layers[i].Dir = s.layerDir(c.Layers[i].DiffID)
	}
	return &c
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(idx.Images))
	for _, img := range idx.Images {
		out = append(out, s.withDirs(img))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Get finds a local image by name[:tag], name@digest or image ID (full,
// "sha256:"-prefixed or a unique prefix). It returns an error wrapping
// ErrNotFound when nothing matches.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	img, err := find(idx, ref)
	if err != nil {
		return nil, err
	}
	return s.withDirs(img), nil
}

// find resolves ref in idx as Docker does: a full ID first, then a name, then
// an ID prefix.
func find(idx *indexFile, ref string) (*Image, error) {
	if hex, ok := looksLikeID(ref); ok && len(hex) == 64 {
		if img := idx.Images["sha256:"+hex]; img != nil {
			return img, nil
		}
	}
	r, perr := ParseReference(ref)
	if perr == nil {
		for _, img := range idx.Images {
			if r.Digest != "" {
				if contains(img.RepoDigests, r.Name()+"@"+r.Digest) {
					return img, nil
				}
				continue
			}
			if contains(img.RepoTags, r.TagString()) {
				return img, nil
			}
		}
	}
	if hex, ok := looksLikeID(ref); ok {
		var found []*Image
		for id, img := range idx.Images {
			if strings.HasPrefix(trimAlgo(id), hex) {
				found = append(found, img)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return nil, fmt.Errorf("image %q: short ID matches %d images: %w", ref, len(found), ErrConflict)
		}
	}
	if perr != nil && !strings.HasPrefix(ref, "sha256:") {
		return nil, perr
	}
	return nil, fmt.Errorf("image %q: %w", ref, ErrNotFound)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
