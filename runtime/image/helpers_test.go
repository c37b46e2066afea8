package image

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
