package image

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions change Push.
type PushOptions struct {
	// Progress, if set, receives progress events. Calls are serialized.
	Progress func(Progress)
}

// Push uploads the local image ref to the registry its name says (never to
// a mirror) and returns the pushed manifest digest, which is recorded as a
// repo digest of the image.
func (s *Store) Push(ctx context.Context, ref string, o PushOptions) (string, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return "", err
	}
	if r.Tag == "" || r.Digest != "" {
		return "", fmt.Errorf("push %s: push needs name:tag: %w", ref, ErrInvalidReference)
	}
	img, rec, err := s.V1Image(ctx, r.TagString())
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	ep := Endpoint{Host: r.Domain, Insecure: s.regs.Insecure(r.Domain)}
	rr, err := remoteRef(r, ep)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	opts := s.remoteOptions(ctx)
	if o.Progress != nil {
		ch := make(chan v1.Update, 16)
		done := make(chan struct{})
		sink := newProgressSink(r.String(), o.Progress)
		go func() {
			defer close(done)
			for u := range ch {
				sink.send(Progress{Phase: PhaseDownloading, Current: u.Complete, Total: u.Total, Message: "pushing"})
			}
		}()
		defer func() { <-done }()
		opts = append(opts, remote.WithProgress(ch))
	}
	if err := remote.Write(rr, img, opts...); err != nil {
		return "", fmt.Errorf("push %s: %s", r, oneLine(classifyRemote(ep, err)))
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	rd := r.Name() + "@" + d.String()
	err = s.updateIndex(func(idx *indexFile) error {
		if cur := idx.Images[rec.ID]; cur != nil && !contains(cur.RepoDigests, rd) {
			cur.RepoDigests = append(cur.RepoDigests, rd)
		}
		return nil
	})
	return d.String(), err
}
