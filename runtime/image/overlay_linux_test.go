package image

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testregistry"
)

// TestOverlayViewOfPulledImage mounts overlayfs over the unpacked layers, as
// the runtime does, and checks that whiteouts and opaque directories behave.
func TestOverlayViewOfPulledImage(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	img := busybox(t, nil,
		[]F{{Name: "data/"}, {Name: "data/a.txt", Body: "a"}, {Name: "data/b.txt", Body: "b"}, {Name: "srv/"}, {Name: "srv/conf", Body: "v1"}, {Name: "keep/"}, {Name: "keep/x", Body: "x"}},
		[]F{{Name: "etc/"}, {Name: "etc/.wh.passwd"}, {Name: "data/"}, {Name: "data/.wh..wh..opq"}, {Name: "data/new.txt", Body: "new"}, {Name: "srv/conf", Body: "v2"}, {Name: "keep/y", Body: "y"}},
	)
	reg.Push(t, "ov/app:1", img)
	s := openStore(t, Options{})
	got, err := s.Pull(context.Background(), reg.Ref("ov/app:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	opts := "lowerdir=" + strings.Join(got.LowerDirs(), ":")
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	if _, err := os.Lstat(filepath.Join(mnt, "etc/passwd")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("whited-out etc/passwd visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "etc/group")); err != nil {
		t.Errorf("etc/group hidden: %v", err)
	}
	ls := func(d string) string {
		ents, err := os.ReadDir(filepath.Join(mnt, d))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	if got := ls("data"); got != "new.txt" {
		t.Errorf("opaque data/ shows %q, want only new.txt", got)
	}
	if got := ls("keep"); got != "x,y" {
		t.Errorf("merged keep/ shows %q, want x,y", got)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "srv/conf")); string(b) != "v2" {
		t.Errorf("srv/conf = %q, want the top layer's v2", b)
	}
	if l, err := os.Readlink(filepath.Join(mnt, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v %v", fi, err)
	}
}
