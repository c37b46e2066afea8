package image

import (
	"errors"
	"path/filepath"
	"time"
)

// Sentinel errors; check them with errors.Is.
var (
	// ErrNotFound: no local image (or no remote manifest) matches the reference.
	ErrNotFound = errors.New("not found")
	// ErrInvalidReference: the reference does not parse.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInUse: a container uses the image and removal was not forced.
	ErrInUse = errors.New("image is in use by a container")
	// ErrConflict: the request is ambiguous (short ID matching several images,
	// an image with several names removed by ID without force).
	ErrConflict = errors.New("conflict")
	// ErrHostileLayer: a layer tried to write outside its directory.
	ErrHostileLayer = errors.New("hostile layer")
	// ErrDigestMismatch: content did not match its digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrUnsupported: a media type, platform or archive format berth cannot use.
	ErrUnsupported = errors.New("unsupported")
	// ErrNotSupported: the operation needs Linux.
	ErrNotSupported = errors.New("not supported on this platform")
)

// Image is one image in the store. Its ID is the digest of its config blob,
// as Docker's image IDs are.
type Image struct {
	ID             string    `json:"Id"`             // sha256:<config digest hex>
	RepoTags       []string  `json:"RepoTags"`       // normalized, e.g. docker.io/library/busybox:latest
	RepoDigests    []string  `json:"RepoDigests"`    // e.g. docker.io/library/busybox@sha256:...
	ManifestDigest string    `json:"ManifestDigest"` // digest of the manifest stored in blobs/
	MediaType      string    `json:"MediaType"`      // of that manifest
	Platform       Platform  `json:"Platform"`
	Created        time.Time `json:"Created"`
	Author         string    `json:"Author,omitempty"`
	Size           int64     `json:"Size"` // sum of the unpacked layer sizes (tar stream bytes)
	Config         Config    `json:"Config"`
	// Layers are bottom to top, as in the image config's rootfs.
	Layers []Layer `json:"Layers"`
}

// Platform names what an image runs on.
type Platform struct {
	OS           string `json:"OS"`
	Architecture string `json:"Architecture"`
	Variant      string `json:"Variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Layer is one layer of an image.
type Layer struct {
	Digest    string `json:"Digest"`    // of the blob as stored (usually gzip)
	DiffID    string `json:"DiffID"`    // of the uncompressed tar; names the layer dir
	MediaType string `json:"MediaType"` // of the blob
	Size      int64  `json:"Size"`      // of the blob
	// Dir is the absolute unpacked directory (whiteouts in overlay form).
	// Filled when the image is read from a store; not persisted.
	Dir string `json:"Dir,omitempty"`
}

// Config is the part of the image config the runtime uses to start a
// container (point 6 of the image-store issue).
type Config struct {
	Entrypoint   []string          `json:"Entrypoint,omitempty"`
	Cmd          []string          `json:"Cmd,omitempty"`
	Env          []string          `json:"Env,omitempty"`
	WorkingDir   string            `json:"WorkingDir,omitempty"`
	User         string            `json:"User,omitempty"`
	StopSignal   string            `json:"StopSignal,omitempty"`
	ExposedPorts []string          `json:"ExposedPorts,omitempty"` // "80/tcp", sorted
	Volumes      []string          `json:"Volumes,omitempty"`      // container paths, sorted
	Labels       map[string]string `json:"Labels,omitempty"`
	Healthcheck  *Healthcheck      `json:"Healthcheck,omitempty"`
	Shell        []string          `json:"Shell,omitempty"`
	ArgsEscaped  bool              `json:"ArgsEscaped,omitempty"`
}

// Healthcheck is the image's HEALTHCHECK. Test is as in Docker:
// ["NONE"], ["CMD", args...] or ["CMD-SHELL", command]. Zero durations mean
// "inherit the default".
type Healthcheck struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// LowerDirs returns the unpacked layer directories top first, the order
// overlayfs wants for lowerdir=. Layers whose directory is empty after
// unpacking are still listed (overlay accepts empty lower dirs).
func (img *Image) LowerDirs() []string {
	out := make([]string, 0, len(img.Layers))
	for i := len(img.Layers) - 1; i >= 0; i-- {
		out = append(out, img.Layers[i].Dir)
	}
	return out
}

// ShortID is the 12 hex digits Docker shows for an image ID.
func (img *Image) ShortID() string {
	h := trimAlgo(img.ID)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func trimAlgo(d string) string {
	if len(d) > 7 && d[:7] == "sha256:" {
		return d[7:]
	}
	return d
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.dir, "layers", trimAlgo(diffID), "diff")
}
