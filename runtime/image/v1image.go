package image

import (
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// storedImage is a v1.Image backed by the store's blobs, for save and push.
type storedImage struct {
	s   *Store
	img *Image
}

// V1Image returns the stored image ref as a go-containerregistry image, its
// blobs read from the store. The image's blobs may disappear if it is removed
// while the result is used.
func (s *Store) V1Image(ctx context.Context, ref string) (v1.Image, *Image, error) {
	img, err := s.Get(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	v, err := partial.CompressedToImage(&storedImage{s: s, img: img})
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return v, img, nil
}

func (si *storedImage) RawConfigFile() ([]byte, error) {
	return os.ReadFile(si.s.blobPath(si.img.ID))
}

func (si *storedImage) MediaType() (types.MediaType, error) {
	return types.MediaType(si.img.MediaType), nil
}

func (si *storedImage) RawManifest() ([]byte, error) {
	return os.ReadFile(si.s.blobPath(si.img.ManifestDigest))
}

func (si *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range si.img.Layers {
		if l.Digest == h.String() {
			return &storedLayer{s: si.s, l: l}, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer %s", si.img.ID, h)
}

type storedLayer struct {
	s *Store
	l Layer
}

func (sl *storedLayer) Digest() (v1.Hash, error) { return v1.NewHash(sl.l.Digest) }
func (sl *storedLayer) Size() (int64, error)     { return sl.l.Size, nil }
func (sl *storedLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(sl.l.MediaType), nil
}
func (sl *storedLayer) Compressed() (io.ReadCloser, error) {
	return os.Open(sl.s.blobPath(sl.l.Digest))
}
