package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PullOptions change one pull.
type PullOptions struct {
	// Platform "os/arch[/variant]" picked from a manifest list; empty means
	// the store's default.
	Platform string
	// Progress, if set, receives progress events. Calls are serialized.
	Progress func(Progress)
}

// Phase is a step of a layer's (or the image's) progress.
type Phase string

// Phases in the order they normally happen.
const (
	PhaseResolving   Phase = "resolving"   // fetching the manifest (Layer == "")
	PhaseFallback    Phase = "fallback"    // a mirror failed, trying the next endpoint (Layer == "")
	PhaseExists      Phase = "exists"      // the layer is already in the store
	PhaseWaiting     Phase = "waiting"     // queued, or another process unpacks it
	PhaseDownloading Phase = "downloading" // Current/Total bytes of the blob
	PhaseDone        Phase = "done"        // downloaded, verified and unpacked
	PhaseFailed      Phase = "failed"
	PhaseComplete    Phase = "complete" // whole image stored (Layer == "")
)

// Progress is one progress event of a pull or load.
type Progress struct {
	Image   string // normalized reference
	Layer   string // layer blob digest; "" for image-level events
	Phase   Phase
	Current int64 // bytes of the blob processed so far
	Total   int64 // blob size, 0 if unknown
	Message string
}

// ParsePlatform parses "os/arch[/variant]" (e.g. linux/arm64/v8).
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]: %w", s, ErrInvalidReference)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Pull fetches ref from its registry (through the configured mirrors first)
// into the store and returns the stored image. A failed pull leaves the store
// as it was. The error names the image and what went wrong.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	plat := s.platform
	if o.Platform != "" {
		if plat, err = ParsePlatform(o.Platform); err != nil {
			return nil, fmt.Errorf("pull %s: %w", r, err)
		}
	}
	prog := newProgressSink(r.String(), o.Progress)
	var mirrorErrs []string
	for _, ep := range s.regs.Endpoints(r.Domain) {
		img, err := s.pullFrom(ctx, r, ep, plat, prog)
		if err == nil {
			return img, nil
		}
		if ctx.Err() != nil || !ep.Mirror {
			if len(mirrorErrs) > 0 {
				err = fmt.Errorf("%w (after mirrors failed: %s)", err, strings.Join(mirrorErrs, "; "))
			}
			return nil, fmt.Errorf("pull %s: %w", r, err)
		}
		s.log.Info("mirror failed, trying the next endpoint", "image", r.String(), "mirror", ep.Host, "err", err)
		prog.send(Progress{Phase: PhaseFallback, Message: fmt.Sprintf("mirror %s: %v", ep.Host, err)})
		mirrorErrs = append(mirrorErrs, fmt.Sprintf("mirror %s: %v", ep.Host, err))
	}
	panic("unreachable: Endpoints always ends with the registry itself")
}

func (s *Store) remoteOptions(ctx context.Context) []remote.Option {
	o := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(s.opts.Keychain)}
	if s.opts.Transport != nil {
		o = append(o, remote.WithTransport(s.opts.Transport))
	}
	return o
}

// remoteRef is r at endpoint ep as a go-containerregistry reference.
func remoteRef(r Reference, ep Endpoint) (name.Reference, error) {
	var nopts []name.Option
	if ep.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(ep.Host+"/"+r.Path, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrInvalidReference)
	}
	if r.Digest != "" {
		return repo.Digest(r.Digest), nil
	}
	return repo.Tag(r.Tag), nil
}

func (s *Store) pullFrom(ctx context.Context, r Reference, ep Endpoint, plat Platform, prog *progressSink) (*Image, error) {
	rr, err := remoteRef(r, ep)
	if err != nil {
		return nil, err
	}
	prog.send(Progress{Phase: PhaseResolving, Message: "from " + ep.Host})
	s.log.Debug("resolving", "image", r.String(), "endpoint", ep.Host)
	opts := s.remoteOptions(ctx)
	if ep.Mirror {
		// A failing mirror should hand over to the next endpoint quickly
		// rather than through the default 1s·3^n retries.
		opts = append(opts, remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}))
	}
	desc, err := remote.Get(rr, opts...)
	if err != nil {
		return nil, classifyRemote(ep, err)
	}
	if r.Digest != "" && desc.Digest.String() != r.Digest {
		return nil, fmt.Errorf("manifest %s from %s has digest %s: %w", r.Digest, ep.Host, desc.Digest, ErrDigestMismatch)
	}
	img, err := resolvePlatform(desc, plat)
	if err != nil {
		return nil, err
	}
	names := imageNames{repoDigest: r.Name() + "@" + desc.Digest.String()}
	if r.Digest == "" {
		names.tags = []string{r.TagString()}
	}
	return s.write(ctx, img, names, prog)
}

// classifyRemote turns registry errors into the package's sentinels with a
// short message.
func classifyRemote(ep Endpoint, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case 404:
			return fmt.Errorf("manifest unknown at %s: %w", ep.Host, ErrNotFound)
		case 401, 403:
			return fmt.Errorf("access denied at %s (docker login?): %v", ep.Host, oneLine(err))
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("manifest unknown at %s: %w", ep.Host, ErrNotFound)
			}
		}
	}
	return fmt.Errorf("registry %s: %s", ep.Host, oneLine(err))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// resolvePlatform returns the image for plat, from an index if need be.
func resolvePlatform(desc *remote.Descriptor, plat Platform) (v1.Image, error) {
	switch desc.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		idx, err := desc.ImageIndex()
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
				if !manifestTypes[m.MediaType] {
					return nil, fmt.Errorf("manifest %s for %s: media type %q: %w", m.Digest, p, m.MediaType, ErrUnsupported)
				}
				return idx.Image(m.Digest)
			}
		}
		sort.Strings(avail)
		return nil, fmt.Errorf("no image for platform %s (index has %s): %w", plat, strings.Join(avail, ", "), ErrNotFound)
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if cf.OS != "" && cf.Architecture != "" && (cf.OS != plat.OS || cf.Architecture != plat.Architecture) {
			return nil, fmt.Errorf("image is for %s/%s, not %s: %w", cf.OS, cf.Architecture, plat, ErrUnsupported)
		}
		return img, nil
	default:
		return nil, fmt.Errorf("manifest media type %q: %w", desc.MediaType, ErrUnsupported)
	}
}

var manifestTypes = map[types.MediaType]bool{
	types.OCIManifestSchema1:    true,
	types.DockerManifestSchema2: true,
}

// layerTypes are the layer media types berth unpacks.
var layerTypes = map[types.MediaType]bool{
	types.DockerLayer:                    true,
	types.DockerUncompressedLayer:        true,
	types.DockerForeignLayer:             true,
	types.OCILayer:                       true,
	types.OCILayerZStd:                   true,
	types.OCIUncompressedLayer:           true,
	types.OCIRestrictedLayer:             true,
	types.OCIUncompressedRestrictedLayer: true,
}

// imageNames are the names a write records for the image.
type imageNames struct {
	tags       []string // name:tag
	repoDigest string   // name@digest, "" for none
}

// progressSink serializes progress callbacks.
type progressSink struct {
	mu    sync.Mutex
	image string
	fn    func(Progress)
}

func newProgressSink(image string, fn func(Progress)) *progressSink {
	return &progressSink{image: image, fn: fn}
}

func (p *progressSink) send(ev Progress) {
	if p == nil || p.fn == nil {
		return
	}
	ev.Image = p.image
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(ev)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// configOf converts an image config file to the runtime's view.
func configOf(cf *v1.ConfigFile) Config {
	c := cf.Config
	out := Config{
		Entrypoint:  c.Entrypoint,
		Cmd:         c.Cmd,
		Env:         c.Env,
		WorkingDir:  c.WorkingDir,
		User:        c.User,
		StopSignal:  c.StopSignal,
		Labels:      c.Labels,
		Shell:       c.Shell,
		ArgsEscaped: c.ArgsEscaped,
	}
	for p := range c.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	sort.Strings(out.ExposedPorts)
	for v := range c.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	sort.Strings(out.Volumes)
	if c.Healthcheck != nil {
		out.Healthcheck = &Healthcheck{
			Test:        c.Healthcheck.Test,
			Interval:    c.Healthcheck.Interval,
			Timeout:     c.Healthcheck.Timeout,
			StartPeriod: c.Healthcheck.StartPeriod,
			Retries:     c.Healthcheck.Retries,
		}
	}
	return out
}

// startInterval reads Healthcheck.StartInterval, which go-containerregistry's
// HealthConfig lacks, from the raw config.
func startInterval(raw []byte) int64 {
	var x struct {
		Config struct {
			Healthcheck *struct {
				StartInterval int64 `json:"StartInterval"`
			} `json:"Healthcheck"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &x) != nil || x.Config.Healthcheck == nil {
		return 0
	}
	return x.Config.Healthcheck.StartInterval
}
