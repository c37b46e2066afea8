package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const usage = `usage:
  pack build -rootfs ROOTFS.tar -config CONFIG.json -out LAYOUT_DIR [-epoch SECONDS] [-created-by TEXT] [-ref NAME]...
  pack push  -layout LAYOUT_DIR [-insecure] REF...
  pack mirror -file REGISTRIES_YAML -mirror [http://]HOST:PORT [-registry docker.io] [-remove]
`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "pack: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing command\n" + usage)
	}
	switch args[0] {
	case "build":
		return runBuild(log, args[1:], stdout)
	case "push":
		return runPush(ctx, log, args[1:], stdout)
	case "mirror":
		return runMirror(args[1:], stdout)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runBuild(log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	rootfs := fs.String("rootfs", "", "rootfs tarball (plain tar, as mmdebstrap writes it)")
	configPath := fs.String("config", "", "image config as JSON (the \"config\" object of an OCI image config)")
	out := fs.String("out", "", "OCI image layout directory to write (replaced atomically)")
	epoch := fs.Int64("epoch", 0, "clamp file times and set the creation time to this Unix time")
	createdBy := fs.String("created-by", "", "history entry of the layer")
	arch := fs.String("arch", goruntime.GOARCH, "image architecture")
	var refs stringList
	fs.Var(&refs, "ref", "image name (NAME:TAG) recorded in index.json, as containerd annotates it (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rootfs == "" || *configPath == "" || *out == "" || fs.NArg() != 0 {
		return errors.New("build needs -rootfs, -config and -out and no other arguments\n" + usage)
	}
	cfg, err := readConfig(*configPath)
	if err != nil {
		return err
	}
	at := time.Unix(*epoch, 0).UTC()

	start := time.Now()
	gz, err := os.CreateTemp(filepath.Dir(*out), ".pack-layer-*.tar.gz")
	if err != nil {
		return fmt.Errorf("create layer file: %w", err)
	}
	defer os.Remove(gz.Name())
	defer gz.Close()
	st, err := writeLayer(*rootfs, gz, at)
	if err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("write layer %s: %w", gz.Name(), err)
	}
	log.Info("layer normalised", "rootfs", *rootfs, "entries", st.entries, "skipped", st.skipped, "bytes", st.bytes, "took", time.Since(start).Round(time.Millisecond))

	layer, err := tarball.LayerFromFile(gz.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("layer %s: %w", gz.Name(), err)
	}
	img, err := imageOf(layer, cfg, *arch, at, *createdBy)
	if err != nil {
		return err
	}
	digest, err := writeLayout(img, *out, refs)
	if err != nil {
		return err
	}
	log.Info("image written", "layout", *out, "digest", digest.String(), "took", time.Since(start).Round(time.Millisecond))
	_, err = fmt.Fprintln(stdout, digest.String())
	return err
}

// readConfig reads an image's runtime config (Entrypoint, Cmd, Env, ...).
// Unknown keys are errors, so a typo in a recipe does not silently vanish.
func readConfig(file string) (v1.Config, error) {
	var cfg v1.Config
	b, err := os.ReadFile(file)
	if err != nil {
		return cfg, fmt.Errorf("image config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("image config %s: %w", file, err)
	}
	return cfg, nil
}

// imageOf assembles a one-layer OCI image.
func imageOf(layer v1.Layer, cfg v1.Config, arch string, at time.Time, createdBy string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: at},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: at}, CreatedBy: createdBy},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	return img, nil
}

// writeLayout writes img as an OCI layout into a temp dir beside out and
// renames it into place, so out is either the old or the new image.
func writeLayout(img v1.Image, out string, refs []string) (v1.Hash, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image digest: %w", err)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return v1.Hash{}, fmt.Errorf("clear %s: %w", tmp, err)
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write layout %s: %w", tmp, err)
	}
	if len(refs) == 0 {
		refs = []string{""}
	}
	for _, r := range refs {
		var opts []layout.Option
		if r != "" {
			// As containerd writes them: the full name, and the tag alone.
			tag, err := name.NewTag(r)
			if err != nil {
				return v1.Hash{}, fmt.Errorf("ref %q: %w", r, err)
			}
			opts = append(opts, layout.WithAnnotations(map[string]string{
				"io.containerd.image.name":          r,
				"org.opencontainers.image.ref.name": tag.TagStr(),
			}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("write image to layout %s: %w", tmp, err)
		}
	}
	old := out + ".old"
	if err := os.RemoveAll(old); err != nil {
		return v1.Hash{}, fmt.Errorf("clear %s: %w", old, err)
	}
	if err := os.Rename(out, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return v1.Hash{}, fmt.Errorf("move old layout aside: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return v1.Hash{}, fmt.Errorf("install layout %s: %w", out, err)
	}
	if err := os.RemoveAll(old); err != nil {
		return v1.Hash{}, fmt.Errorf("remove old layout %s: %w", old, err)
	}
	return digest, nil
}

type layerStats struct {
	entries, skipped int
	bytes            int64
}

// writeLayer normalises the rootfs tarball into a gzip-compressed layer.
func writeLayer(rootfs string, w io.Writer, epoch time.Time) (layerStats, error) {
	in, err := os.Open(rootfs)
	if err != nil {
		return layerStats{}, fmt.Errorf("rootfs: %w", err)
	}
	defer in.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return layerStats{}, err
	}
	st, err := normalise(bufio.NewReaderSize(in, 1<<20), zw, epoch)
	if err != nil {
		return st, fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	if err := zw.Close(); err != nil {
		return st, fmt.Errorf("compress layer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write layer: %w", err)
	}
	return st, nil
}

// normalise copies a tar stream, making it independent of when and where it
// was built: mtimes are clamped to epoch and truncated to seconds, atime and
// ctime are dropped, "./" prefixes and the root entry are removed, and
// device nodes, FIFOs and the contents of dev/ are left out (a container's
// /dev comes from the runtime). Names with ".." are refused.
func normalise(r io.Reader, w io.Writer, epoch time.Time) (layerStats, error) {
	var st layerStats
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read entry %d: %w", st.entries+st.skipped+1, err)
		}
		clean, err := cleanName(hdr.Name)
		if err != nil {
			return st, err
		}
		skip := clean == "" || seen[clean] ||
			hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock || hdr.Typeflag == tar.TypeFifo ||
			hdr.Typeflag == tar.TypeXGlobalHeader ||
			strings.HasPrefix(clean, "dev/")
		if skip {
			st.skipped++
			continue
		}
		seen[clean] = true
		if hdr.Typeflag == tar.TypeDir {
			clean += "/"
		}
		hdr.Name = clean
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = cleanName(hdr.Linkname); err != nil {
				return st, fmt.Errorf("hard link %s: %w", clean, err)
			}
		}
		if hdr.ModTime.After(epoch) {
			hdr.ModTime = epoch
		}
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		for _, k := range []string{"atime", "ctime", "mtime", "path", "linkpath"} {
			delete(hdr.PAXRecords, k)
		}
		hdr.Format = tar.FormatUnknown
		if err := tw.WriteHeader(hdr); err != nil {
			return st, fmt.Errorf("write entry %s: %w", clean, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			n, err := io.Copy(tw, tr)
			if err != nil {
				return st, fmt.Errorf("copy %s: %w", clean, err)
			}
			st.bytes += n
		}
		st.entries++
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("finish tar: %w", err)
	}
	return st, nil
}

// cleanName turns a tar entry name into a relative, clean path ("" for the
// root itself). A ".." component is an error naming the entry.
func cleanName(n string) (string, error) {
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q: name has a \"..\" component", n)
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+n), "/")
	return c, nil
}

func runPush(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI image layout directory written by pack build")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to the registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() == 0 {
		return errors.New("push needs -layout and at least one REF\n" + usage)
	}
	img, err := layoutImage(*dir)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("layout %s: %w", *dir, err)
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	for _, r := range fs.Args() {
		ref, err := name.ParseReference(r, opts...)
		if err != nil {
			return fmt.Errorf("reference %q: %w", r, err)
		}
		start := time.Now()
		if d, err := remote.Head(ref, remote.WithContext(ctx)); err == nil && d.Digest == digest {
			log.Info("already in registry", "ref", ref.String(), "digest", digest.String())
			if _, err := fmt.Fprintf(stdout, "%s@%s\n", ref, digest); err != nil {
				return err
			}
			continue
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		log.Info("pushed", "ref", ref.String(), "digest", digest.String(), "took", time.Since(start).Round(time.Millisecond))
		if _, err := fmt.Fprintf(stdout, "%s@%s\n", ref, digest); err != nil {
			return err
		}
	}
	return nil
}

// layoutImage returns the single image of a layout written by build (all
// its index entries point to the same manifest).
func layoutImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("layout %s: index: %w", dir, err)
	}
	if len(m.Manifests) == 0 {
		return nil, fmt.Errorf("layout %s: no image in index.json", dir)
	}
	d := m.Manifests[0].Digest
	for _, desc := range m.Manifests[1:] {
		if desc.Digest != d {
			return nil, fmt.Errorf("layout %s: more than one image (%s, %s)", dir, d, desc.Digest)
		}
	}
	img, err := ii.Image(d)
	if err != nil {
		return nil, fmt.Errorf("layout %s: image %s: %w", dir, d, err)
	}
	return img, nil
}
