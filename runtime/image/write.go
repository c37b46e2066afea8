package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// layerMeta is layers/<hex>/layer.json.
type layerMeta struct {
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"` // bytes of the uncompressed tar
}

// write stores img (from a registry or an archive): every layer blob is
// fetched, verified and unpacked (in parallel), then the manifest and config
// blobs and finally the index entry. On error, whatever this call added is
// removed again.
func (s *Store) write(ctx context.Context, img v1.Image, names imageNames, prog *progressSink) (_ *Image, retErr error) {
	gc, err := lock(filepath.Join(s.dir, "gc.lock"), false)
	if err != nil {
		return nil, err
	}
	var created []string // paths this call created, removed on failure
	defer func() {
		gc.unlock()
		if retErr != nil {
			s.undo(created)
		}
	}()

	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	mf, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !manifestTypes[mt] {
		return nil, fmt.Errorf("manifest media type %q: %w", mt, ErrUnsupported)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if got := "sha256:" + sha256Hex(rawConfig); got != mf.Config.Digest.String() {
		return nil, fmt.Errorf("config %s: content has digest %s: %w", mf.Config.Digest, got, ErrDigestMismatch)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", mf.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(mf.Layers) {
		return nil, fmt.Errorf("config %s lists %d layers, manifest %d: %w", mf.Config.Digest, len(cf.RootFS.DiffIDs), len(mf.Layers), ErrUnsupported)
	}
	for _, l := range mf.Layers {
		if !layerTypes[l.MediaType] {
			return nil, fmt.Errorf("layer %s: media type %q: %w", l.Digest, l.MediaType, ErrUnsupported)
		}
	}

	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	rec := &Image{
		ID:             mf.Config.Digest.String(),
		ManifestDigest: "sha256:" + sha256Hex(rawManifest),
		MediaType:      string(mt),
		Platform:       Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		Created:        cf.Created.Time,
		Author:         cf.Author,
		Config:         configOf(cf),
		Layers:         make([]Layer, len(mf.Layers)),
	}
	if rec.Config.Healthcheck != nil {
		rec.Config.Healthcheck.StartInterval = time.Duration(startInterval(rawConfig))
	}
	// Several layers of one image may share a DiffID (empty layers); unpack
	// each distinct one once.
	type job struct {
		i     int
		layer v1.Layer
		desc  v1.Descriptor
		diff  v1.Hash
	}
	var jobs []job
	seen := map[string]bool{}
	for i, d := range mf.Layers {
		diff := cf.RootFS.DiffIDs[i]
		rec.Layers[i] = Layer{Digest: d.Digest.String(), DiffID: diff.String(), MediaType: string(d.MediaType), Size: d.Size}
		if seen[diff.String()] {
			continue
		}
		seen[diff.String()] = true
		jobs = append(jobs, job{i, layers[i], d, diff})
		prog.send(Progress{Layer: d.Digest.String(), Phase: PhaseWaiting, Total: d.Size})
	}
	sizes := make([]int64, len(jobs))
	createdCh := make([][]string, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Jobs)
	for k, j := range jobs {
		g.Go(func() error {
			size, made, err := s.ensureLayer(gctx, j.layer, j.desc, j.diff, prog)
			createdCh[k] = made
			sizes[k] = size
			if err != nil {
				prog.send(Progress{Layer: j.desc.Digest.String(), Phase: PhaseFailed, Message: err.Error()})
				return fmt.Errorf("layer %s: %w", j.desc.Digest, err)
			}
			return nil
		})
	}
	err = g.Wait()
	for _, m := range createdCh {
		created = append(created, m...)
	}
	if err != nil {
		return nil, err
	}
	sizeByDiff := map[string]int64{}
	for k, j := range jobs {
		sizeByDiff[j.diff.String()] = sizes[k]
	}
	for i := range rec.Layers {
		rec.Size += sizeByDiff[rec.Layers[i].DiffID]
	}

	for _, b := range [][]byte{rawManifest, rawConfig} {
		p, made, err := s.putBlob(b)
		if err != nil {
			return nil, err
		}
		if made {
			created = append(created, p)
		}
	}
	var out *Image
	err = s.updateIndex(func(idx *indexFile) error {
		cur := idx.Images[rec.ID]
		if cur == nil {
			cur = rec
			idx.Images[rec.ID] = cur
		} else {
			// Same config, maybe another manifest: keep the newest manifest.
			cur.ManifestDigest, cur.MediaType, cur.Layers, cur.Size = rec.ManifestDigest, rec.MediaType, rec.Layers, rec.Size
		}
		for _, t := range names.tags {
			for _, other := range idx.Images {
				other.RepoTags = remove(other.RepoTags, t)
			}
			cur.RepoTags = append(cur.RepoTags, t)
		}
		if names.repoDigest != "" && !contains(cur.RepoDigests, names.repoDigest) {
			cur.RepoDigests = append(cur.RepoDigests, names.repoDigest)
		}
		out = s.withDirs(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	created = nil // referenced now
	prog.send(Progress{Phase: PhaseComplete, Message: out.ID})
	s.log.Info("image stored", "image", prog.image, "id", out.ID)
	return out, nil
}

// undo removes paths a failed write created, if no other process is in the
// middle of a write that could be using them (it would then be garbage for a
// later prune) and no image references them.
func (s *Store) undo(paths []string) {
	if len(paths) == 0 {
		return
	}
	gc, ok, err := tryLock(filepath.Join(s.dir, "gc.lock"))
	if err != nil || !ok {
		return
	}
	defer gc.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return
	}
	used := referenced(idx)
	for _, p := range paths {
		if used[filepath.Base(filepath.Clean(p))] {
			continue
		}
		s.log.Debug("removing what a failed write added", "path", p)
		if err := removeAll(p); err != nil {
			s.log.Info("cannot remove", "path", p, "err", err)
		}
	}
	// Lock files of layers no image has; nobody waits on them since we hold
	// gc.lock exclusively.
	locks, _ := filepath.Glob(filepath.Join(s.dir, "layers", "*.lock"))
	for _, l := range locks {
		if !used[strings.TrimSuffix(filepath.Base(l), ".lock")] {
			os.Remove(l)
		}
	}
}

// referenced is the set of blob and layer hex digests the index uses.
func referenced(idx *indexFile) map[string]bool {
	used := map[string]bool{}
	for _, img := range idx.Images {
		used[trimAlgo(img.ID)] = true
		used[trimAlgo(img.ManifestDigest)] = true
		for _, l := range img.Layers {
			used[trimAlgo(l.Digest)] = true
			used[trimAlgo(l.DiffID)] = true
		}
	}
	return used
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", "sha256", trimAlgo(digest))
}

// putBlob stores b under its digest unless present.
func (s *Store) putBlob(b []byte) (path string, made bool, err error) {
	p := s.blobPath(sha256Hex(b))
	if _, err := os.Stat(p); err == nil {
		return p, false, nil
	}
	if err := atomicfile.WriteFile(p, b, 0o600); err != nil {
		return "", false, fmt.Errorf("store blob: %w", err)
	}
	return p, true, nil
}

// ensureLayer makes sure the layer with DiffID diff is unpacked and its blob
// stored. It returns the uncompressed size and the paths it created.
//
// The layer dir (named by DiffID) and the blob (named by its compressed
// digest) are complete independently: two images can carry the same layer
// content compressed differently, and then the second one only adds a blob.
func (s *Store) ensureLayer(ctx context.Context, l v1.Layer, desc v1.Descriptor, diff v1.Hash, prog *progressSink) (int64, []string, error) {
	if diff.Algorithm != "sha256" || desc.Digest.Algorithm != "sha256" {
		return 0, nil, fmt.Errorf("digest algorithm %s/%s: %w", diff.Algorithm, desc.Digest.Algorithm, ErrUnsupported)
	}
	final := filepath.Join(s.dir, "layers", diff.Hex)
	blob := s.blobPath(desc.Digest.Hex)
	size, haveLayer, haveBlob := s.layerState(final, blob)
	if haveLayer && haveBlob {
		prog.send(Progress{Layer: desc.Digest.String(), Phase: PhaseExists, Current: desc.Size, Total: desc.Size})
		return size, nil, nil
	}
	lk, err := lock(final+".lock", true)
	if err != nil {
		return 0, nil, err
	}
	defer lk.unlock()
	// Another process may have finished it meanwhile.
	size, haveLayer, haveBlob = s.layerState(final, blob)
	if haveLayer && haveBlob {
		prog.send(Progress{Layer: desc.Digest.String(), Phase: PhaseExists, Current: desc.Size, Total: desc.Size})
		return size, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	var created []string
	work, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "layer-"+diff.Hex[:12]+"-")
	if err != nil {
		return 0, nil, err
	}
	defer removeAll(work) // gone after the renames; cleans up on failure

	// Source: the stored blob if we have it (re-unpacking a layer dir that
	// was removed), else the layer's compressed stream.
	var src io.ReadCloser
	if haveBlob {
		if src, err = os.Open(blob); err != nil {
			return 0, nil, err
		}
	} else if src, err = l.Compressed(); err != nil {
		if strings.Contains(err.Error(), "does not match expected size") {
			return 0, nil, fmt.Errorf("truncated or oversized blob: %s", oneLine(err))
		}
		return 0, nil, fmt.Errorf("fetch: %s", oneLine(err))
	}
	defer src.Close()

	var blobTmp *os.File
	if !haveBlob {
		if blobTmp, err = os.Create(filepath.Join(work, "blob")); err != nil {
			return 0, nil, err
		}
		defer blobTmp.Close()
	}
	diffDir := filepath.Join(work, "diff")
	if err := os.Mkdir(diffDir, 0o755); err != nil {
		return 0, nil, err
	}

	// compressed → count+hash (+ copy to blob file) → decompress → hash → unpack
	cnt := &countingReader{r: src, h: sha256.New(), onRead: func(n int64) {
		prog.send(Progress{Layer: desc.Digest.String(), Phase: PhaseDownloading, Current: n, Total: desc.Size})
	}}
	var in io.Reader = cnt
	if blobTmp != nil {
		in = io.TeeReader(cnt, blobTmp)
	}
	dec, err := decompress(in)
	if err != nil {
		return 0, nil, fmt.Errorf("decompress: %w", err)
	}
	defer dec.Close()
	dh := sha256.New()
	uncompressed := &countingReader{r: dec, h: dh}
	if haveLayer {
		// Only the blob is missing: verify it without unpacking again.
		_, err = io.Copy(io.Discard, uncompressed)
	} else {
		err = unpack(ctx, uncompressed, diffDir, s.log)
	}
	if err != nil {
		if errors.Is(err, ErrHostileLayer) || ctx.Err() != nil {
			return 0, nil, err
		}
		// Corrupt content usually breaks decompression before the digest
		// can be checked: read the rest and report the root cause.
		_, cerr := io.Copy(io.Discard, cnt)
		if cerr == nil && hex.EncodeToString(cnt.h.Sum(nil)) != desc.Digest.Hex {
			return 0, nil, fmt.Errorf("blob content does not match its digest (%v): %w", oneLine(err), ErrDigestMismatch)
		}
		if cerr != nil {
			return 0, nil, classifyRead(cerr)
		}
		return 0, nil, classifyRead(err)
	}
	// Read what follows the tar's end (padding) so both digests cover it all.
	if _, err := io.Copy(io.Discard, uncompressed); err != nil {
		return 0, nil, classifyRead(err)
	}
	if _, err := io.Copy(io.Discard, cnt); err != nil {
		return 0, nil, classifyRead(err)
	}
	if got := hex.EncodeToString(cnt.h.Sum(nil)); got != desc.Digest.Hex {
		return 0, nil, fmt.Errorf("blob content has digest sha256:%s: %w", got, ErrDigestMismatch)
	}
	if desc.Size > 0 && cnt.n != desc.Size {
		return 0, nil, fmt.Errorf("blob has %d bytes, manifest says %d: %w", cnt.n, desc.Size, ErrDigestMismatch)
	}
	if got := hex.EncodeToString(dh.Sum(nil)); got != diff.Hex {
		return 0, nil, fmt.Errorf("uncompressed content has digest sha256:%s, config says %s: %w", got, diff, ErrDigestMismatch)
	}
	if blobTmp != nil {
		if err := blobTmp.Sync(); err != nil {
			return 0, nil, err
		}
		if err := os.Rename(blobTmp.Name(), blob); err != nil {
			return 0, nil, fmt.Errorf("store blob: %w", err)
		}
		created = append(created, blob)
	}
	if !haveLayer {
		meta, _ := json.Marshal(layerMeta{DiffID: diff.String(), Size: uncompressed.n})
		if err := os.WriteFile(filepath.Join(work, "layer.json"), meta, 0o600); err != nil {
			return 0, created, err
		}
		// The layer dir counts as complete once renamed; flush its content
		// first so a crash cannot leave a complete-looking but empty layer.
		if err := syncFS(work); err != nil {
			return 0, created, err
		}
		if err := os.Rename(work, final); err != nil {
			return 0, created, fmt.Errorf("store layer: %w", err)
		}
		created = append(created, final)
	}
	prog.send(Progress{Layer: desc.Digest.String(), Phase: PhaseDone, Current: cnt.n, Total: desc.Size})
	return uncompressed.n, created, nil
}

// layerState reports whether the layer dir (with its unpacked size) and
// the blob are complete.
func (s *Store) layerState(dir, blob string) (size int64, haveLayer, haveBlob bool) {
	if _, err := os.Stat(blob); err == nil {
		haveBlob = true
	}
	b, err := os.ReadFile(filepath.Join(dir, "layer.json"))
	if err != nil {
		return 0, false, haveBlob
	}
	var m layerMeta
	if json.Unmarshal(b, &m) != nil {
		return 0, false, haveBlob
	}
	return m.Size, true, haveBlob
}

// classifyRead marks go-containerregistry's verification failures as digest
// mismatches and keeps messages on one line.
func classifyRead(err error) error {
	if errors.Is(err, ErrHostileLayer) || errors.Is(err, ErrDigestMismatch) || errors.Is(err, context.Canceled) {
		return err
	}
	msg := oneLine(err)
	if strings.Contains(msg, "error verifying") {
		return fmt.Errorf("%s: %w", msg, ErrDigestMismatch)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated blob: %s", msg)
	}
	return errors.New(msg)
}

// decompress sniffs gzip or zstd and returns the plain tar stream.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// countingReader counts and hashes what passes through it.
type countingReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	last   int64
	onRead func(n int64)
	done   atomic.Bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.h.Write(p[:n])
		c.n += int64(n)
		if c.onRead != nil && (c.n-c.last >= 256<<10 || err != nil) {
			c.last = c.n
			c.onRead(c.n)
		}
	}
	if errors.Is(err, io.EOF) && c.onRead != nil && !c.done.Swap(true) && c.last != c.n {
		c.last = c.n
		c.onRead(c.n)
	}
	return n, err
}

// removeAll is os.RemoveAll that treats a missing path as removed.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
