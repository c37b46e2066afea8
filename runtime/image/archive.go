package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// LoadOptions change Load.
type LoadOptions struct {
	// Platform picked from multi-platform OCI indexes; empty means the
	// store's default.
	Platform string
	// Progress, if set, receives progress events. Calls are serialized.
	Progress func(Progress)
}

// Load reads a `docker save` tarball or an OCI image layout archive (a tar
// of an OCI layout) from r and stores every image in it under its names
// (RepoTags, or the annotations io.containerd.image.name /
// org.opencontainers.image.ref.name). A failed load leaves the store as it
// was, except images fully stored before the failing one.
func (s *Store) Load(ctx context.Context, r io.Reader, o LoadOptions) ([]*Image, error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return s.loadFile(ctx, f.Name(), o)
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "load-*.tar")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return nil, fmt.Errorf("load: read input: %w", err)
	}
	return s.loadFile(ctx, tmp.Name(), o)
}

// LoadPath loads from a file (as Load) or from an OCI layout directory.
func (s *Store) LoadPath(ctx context.Context, p string, o LoadOptions) ([]*Image, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if fi.IsDir() {
		imgs, err := s.loadLayout(ctx, p, o)
		if err != nil {
			return imgs, fmt.Errorf("load %s: %w", p, err)
		}
		return imgs, nil
	}
	return s.loadFile(ctx, p, o)
}

func (s *Store) loadFile(ctx context.Context, p string, o LoadOptions) ([]*Image, error) {
	names, err := tarNames(p)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p, err)
	}
	var imgs []*Image
	switch {
	case names["manifest.json"]:
		imgs, err = s.loadDocker(ctx, p, o)
	case names["oci-layout"] && names["index.json"]:
		imgs, err = s.loadOCIArchive(ctx, p, o)
	default:
		err = fmt.Errorf("neither a docker save tarball (manifest.json) nor an OCI layout (oci-layout, index.json): %w", ErrUnsupported)
	}
	if err != nil {
		return imgs, fmt.Errorf("load %s: %w", p, err)
	}
	return imgs, nil
}

// tarNames lists the entry names of a tar file.
func tarNames(p string) (map[string]bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		out[strings.TrimPrefix(h.Name, "./")] = true
	}
}

// dockerManifest is one entry of a docker save tarball's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) loadDocker(ctx context.Context, p string, o LoadOptions) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(p) }
	b, err := extractFromTar(p, "manifest.json")
	if err != nil {
		return nil, err
	}
	var m []dockerManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []*Image
	for i, e := range m {
		var tag *name.Tag
		var tags []string
		for _, t := range e.RepoTags {
			r, err := ParseReference(t)
			if err != nil || r.Tag == "" {
				return out, fmt.Errorf("manifest.json entry %d: tag %q: %w", i+1, t, ErrInvalidReference)
			}
			tags = append(tags, r.TagString())
		}
		if len(e.RepoTags) > 0 {
			t, err := name.NewTag(e.RepoTags[0])
			if err != nil {
				return out, fmt.Errorf("manifest.json entry %d: %w", i+1, err)
			}
			tag = &t
		} else if len(m) > 1 {
			return out, fmt.Errorf("manifest.json entry %d has no name; berth loads untagged images only from single-image archives: %w", i+1, ErrUnsupported)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return out, fmt.Errorf("manifest.json entry %d: %w", i+1, err)
		}
		label := strings.Join(e.RepoTags, ",")
		if label == "" {
			label = e.Config
		}
		stored, err := s.write(ctx, img, imageNames{tags: tags}, newProgressSink(label, o.Progress))
		if err != nil {
			return out, fmt.Errorf("image %s: %w", label, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

func extractFromTar(p, want string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not in archive", want)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == want {
			return io.ReadAll(io.LimitReader(tr, 64<<20))
		}
	}
}

// layoutEntry matches the names an OCI layout may contain.
var layoutEntry = regexp.MustCompile(`^(oci-layout|index\.json|blobs/sha256/[a-f0-9]{64})$`)

func (s *Store) loadOCIArchive(ctx context.Context, p string, o LoadOptions) ([]*Image, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "load-oci-")
	if err != nil {
		return nil, err
	}
	defer removeAll(dir)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		n := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || !layoutEntry.MatchString(n) {
			continue // only the layout's own files; nothing else is extracted
		}
		dst := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, err
		}
		w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, tr)
		w.Close()
		if err != nil {
			return nil, err
		}
	}
	return s.loadLayout(ctx, dir, o)
}

// Annotations naming an image in an OCI layout.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

func (s *Store) loadLayout(ctx context.Context, dir string, o LoadOptions) ([]*Image, error) {
	plat := s.platform
	if o.Platform != "" {
		var err error
		if plat, err = ParsePlatform(o.Platform); err != nil {
			return nil, err
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("OCI layout index.json: %w", err)
	}
	var out []*Image
	for i, d := range im.Manifests {
		var tags []string
		label := d.Digest.String()
		if n := refName(d.Annotations); n != "" {
			r, err := ParseReference(n)
			if err != nil || r.Tag == "" {
				return out, fmt.Errorf("index.json manifest %d: name %q: %w", i+1, n, ErrInvalidReference)
			}
			tags, label = []string{r.TagString()}, r.String()
		}
		var img v1.Image
		switch d.MediaType {
		case types.OCIManifestSchema1, types.DockerManifestSchema2:
			img, err = idx.Image(d.Digest)
		case types.OCIImageIndex, types.DockerManifestList:
			img, err = imageFromIndex(idx, d.Digest, plat)
		default:
			err = fmt.Errorf("media type %q: %w", d.MediaType, ErrUnsupported)
		}
		if err != nil {
			return out, fmt.Errorf("image %s: %w", label, err)
		}
		stored, err := s.write(ctx, img, imageNames{tags: tags}, newProgressSink(label, o.Progress))
		if err != nil {
			return out, fmt.Errorf("image %s: %w", label, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

// refName reads an image's name from OCI annotations. A bare
// org.opencontainers.image.ref.name ("latest") is not a usable name alone.
func refName(a map[string]string) string {
	if n := a[annotationContainerdName]; n != "" {
		return n
	}
	n := a[annotationRefName]
	if n == "" || !strings.ContainsAny(n, ":/@") {
		return ""
	}
	return n
}

func imageFromIndex(parent v1.ImageIndex, h v1.Hash, plat Platform) (v1.Image, error) {
	idx, err := parent.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var avail []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		p := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		avail = append(avail, p.String())
		if p.OS == plat.OS && p.Architecture == plat.Architecture && (plat.Variant == "" || p.Variant == plat.Variant) {
			return idx.Image(m.Digest)
		}
	}
	sort.Strings(avail)
	return nil, fmt.Errorf("no image for platform %s (index has %s): %w", plat, strings.Join(avail, ", "), ErrNotFound)
}

// SaveFormat selects the archive format Save writes.
type SaveFormat string

// Archive formats.
const (
	// FormatDocker is the `docker save` format (manifest.json, one
	// <digest>.tar.gz per layer, config blob); `docker load` reads it.
	FormatDocker SaveFormat = "docker"
	// FormatOCI is a tar of an OCI image layout (oci-layout, index.json,
	// blobs/sha256/...), with io.containerd.image.name annotations.
	FormatOCI SaveFormat = "oci"
)

// SaveOptions change Save.
type SaveOptions struct {
	Format SaveFormat // default FormatDocker
}

// Save writes the images refs to w as one archive. An image named by tag is
// saved under that tag; one named by ID under all its tags.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string, o SaveOptions) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: no image given: %w", ErrInvalidReference)
	}
	type named struct {
		tags []string
		img  v1.Image
		id   string
	}
	var all []named
	for _, ref := range refs {
		img, rec, err := s.V1Image(ctx, ref)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		tags := rec.RepoTags
		if r, err := ParseReference(ref); err == nil && contains(rec.RepoTags, r.TagString()) {
			tags = []string{r.TagString()}
		}
		all = append(all, named{tags, img, rec.ID})
	}
	switch o.Format {
	case "", FormatDocker:
		m := map[name.Reference]v1.Image{}
		for _, n := range all {
			if len(n.tags) == 0 {
				return fmt.Errorf("save %s: image has no name; the docker format needs one (tag it first): %w", n.id, ErrUnsupported)
			}
			for _, t := range n.tags {
				r, _ := ParseReference(t)
				tag, err := name.NewTag(r.Familiar())
				if err != nil {
					return fmt.Errorf("save %s: %w", t, err)
				}
				m[tag] = n.img
			}
		}
		if err := tarball.MultiRefWrite(m, w); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		return nil
	case FormatOCI:
		dir, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "save-oci-")
		if err != nil {
			return err
		}
		defer removeAll(dir)
		lp, err := layout.Write(dir, empty.Index)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		for _, n := range all {
			tags := n.tags
			if len(tags) == 0 {
				tags = []string{""}
			}
			for _, t := range tags {
				var opts []layout.Option
				if t != "" {
					r, _ := ParseReference(t)
					opts = append(opts, layout.WithAnnotations(map[string]string{
						annotationContainerdName: r.String(),
						annotationRefName:        r.Tag,
					}))
				}
				if err := lp.AppendImage(n.img, opts...); err != nil {
					return fmt.Errorf("save %s: %w", t, err)
				}
			}
		}
		if err := tarDir(dir, w); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("save: format %q (want docker or oci): %w", o.Format, ErrUnsupported)
	}
}

// tarDir writes the regular files and directories under dir as a tar.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: fi.ModTime(), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		}
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
