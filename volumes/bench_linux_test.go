package volumes

import (
	"context"
	"testing"
)

// BenchmarkInUseScan measures the mount-namespace scan behind Remove and
// Prune on this machine (one scan of every process's mountinfo).
func BenchmarkInUseScan(b *testing.B) {
	m, err := New(Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Ensure(context.Background(), Spec{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.isInUse("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
