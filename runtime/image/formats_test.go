package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testregistry"
)

// TestPullZstdAndOCILayers: OCI manifests with zstd- and gzip-compressed
// layers unpack like Docker's gzip layers.
func TestPullZstdAndOCILayers(t *testing.T) {
	testenv.RequireRoot(t)
	mk := func(name string, opts ...tarball.LayerOption) v1.Layer {
		data, err := testimage.Tar([]F{{Name: name, Body: name + " content"}})
		if err != nil {
			t.Fatal(err)
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	zl := mk("z.txt", tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	gl := mk("g.txt", tarball.WithMediaType(types.OCILayer))
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), zl, gl)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, _ = mutate.ConfigFile(img, cf)
	reg := testregistry.StartInProcess(t, nil)
	reg.Push(t, "oci/app:1", img)
	s := openStore(t, Options{})
	got, err := s.Pull(context.Background(), reg.Ref("oci/app:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.MediaType != string(types.OCIManifestSchema1) || got.Layers[0].MediaType != string(types.OCILayerZStd) {
		t.Errorf("media types: %s %+v", got.MediaType, got.Layers)
	}
	for i, n := range []string{"z.txt", "g.txt"} {
		if b, err := os.ReadFile(got.Layers[i].Dir + "/" + n); err != nil || string(b) != n+" content" {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
}

// TestLoadOCILayoutDirectory loads an OCI layout directory as skopeo or
// buildkit write it, named by annotation.
func TestLoadOCILayoutDirectory(t *testing.T) {
	testenv.RequireRoot(t)
	img := busybox(t, func(c *v1.Config) { c.Cmd = []string{"echo", "oci"} })
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "example.com/team/app:2"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{})
	imgs, err := s.LoadPath(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].ID != imgs[1].ID {
		t.Fatalf("loaded %d images", len(imgs))
	}
	got, err := s.Get(context.Background(), "example.com/team/app:2")
	if err != nil || got.Config.Cmd[1] != "oci" {
		t.Fatalf("named by annotation: %+v %v", got, err)
	}
	if len(got.RepoTags) != 1 {
		t.Errorf("a bare ref.name (\"latest\") must not become a name: %v", got.RepoTags)
	}
}
