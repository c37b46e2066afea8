package machine

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/spec"
)

// Images adapts *image.Store. Progress, when set, receives pull progress.
type Images struct {
	Store    *image.Store
	Progress func(image.Progress)
}

var _ reconciler.Images = Images{}

func info(ref string, img *image.Image) reconciler.ImageInfo {
	out := reconciler.ImageInfo{ID: img.ID, Ref: ref, Volumes: img.Config.Volumes, StopSignal: img.Config.StopSignal, Size: img.Size}
	if h := img.Config.Healthcheck; h != nil {
		out.Healthcheck = &spec.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	return out
}

func (a Images) Get(ctx context.Context, ref string) (reconciler.ImageInfo, error) {
	img, err := a.Store.Get(ctx, ref)
	if errors.Is(err, image.ErrNotFound) {
		return reconciler.ImageInfo{}, fmt.Errorf("%w (%w)", err, reconciler.ErrNotFound)
	}
	if err != nil {
		return reconciler.ImageInfo{}, err
	}
	return info(ref, img), nil
}

func (a Images) Pull(ctx context.Context, ref, platform string) (reconciler.ImageInfo, error) {
	img, err := a.Store.Pull(ctx, ref, image.PullOptions{Platform: platform, Progress: a.Progress})
	if err != nil {
		return reconciler.ImageInfo{}, err
	}
	return info(ref, img), nil
}

func (a Images) Remove(ctx context.Context, ref string) error {
	_, err := a.Store.Remove(ctx, ref, image.RemoveOptions{})
	if errors.Is(err, image.ErrNotFound) {
		return nil
	}
	return err
}
