//go:build !linux

package image

import (
	"context"
	"io"
	"log/slog"
)

func unpack(ctx context.Context, r io.Reader, dir string, log *slog.Logger) error {
	return ErrNotSupported
}

func syncFS(dir string) error { return nil }
