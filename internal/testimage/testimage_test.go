package testimage

import (
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/testenv"
)

func TestBusyboxImageIsStable(t *testing.T) {
	testenv.RequireFile(t, BusyboxPath, "apt-get install busybox-static")
	build := func() v1.Hash {
		img, err := Busybox(func(c *v1.Config) { c.Cmd = []string{"true"} })
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if a, b := build(), build(); a != b {
		t.Fatalf("digest differs between builds: %s vs %s", a, b)
	}
}

func TestWriteRootfs(t *testing.T) {
	testenv.RequireFile(t, BusyboxPath, "apt-get install busybox-static")
	dir := t.TempDir()
	if err := WriteRootfs(dir); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(dir, "bin", "sh"))
	if err != nil {
		t.Fatal(err)
	}
	if target != "busybox" {
		t.Fatalf("bin/sh -> %q, want busybox", target)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("tmp mode %v lacks the sticky bit", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "wget")); err != nil {
		t.Fatalf("applet link wget: %v", err)
	}
}
