package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
)

type F = testimage.File

func unpackFiles(t *testing.T, files []F) (string, error) {
	t.Helper()
	data, err := testimage.Tar(files)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layer")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, unpack(context.Background(), bytes.NewReader(data), dir, slog.New(slog.DiscardHandler))
}

// epoch matches testimage's fixed mtime.
var epoch = time.Unix(1700000000, 0)

func TestUnpackPreservesMetadata(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := unpackFiles(t, []F{
		{Name: "etc/", Mode: 0o755},
		{Name: "etc/passwd", Body: "root:x:0:0::/root:/bin/sh\n", Mode: 0o644},
		{Name: "usr/bin/su", Body: "su", Mode: 0o4755, Uid: 0, Gid: 0},
		{Name: "home/app/", Mode: 0o700, Uid: 1000, Gid: 1000},
		{Name: "home/app/file", Body: "x", Mode: 0o640, Uid: 1000, Gid: 1001},
		{Name: "tmp/", Mode: 0o1777},
		{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: "usr/lib"},
		{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/passwd"},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
		{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o660, Gid: 6},
		{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
		{Name: "bin/ping", Body: "ping", Mode: 0o755, Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "user.note": "hello"}},
		{Name: "bin/evil", Body: "x", Xattrs: map[string]string{"trusted.overlay.redirect": "/etc"}},
	})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	check := func(name string, mode os.FileMode, uid, gid uint32) {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, name), &st); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := os.FileMode(st.Mode & 0o7777); mode != 0 && got != mode {
			t.Errorf("%s: mode %o, want %o", name, got, mode)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", name, st.Uid, st.Gid, uid, gid)
		}
		if got := time.Unix(st.Mtim.Unix()); !got.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v", name, got, epoch)
		}
	}
	check("etc/passwd", 0o644, 0, 0)
	check("usr/bin/su", 0o4755, 0, 0)
	check("home/app", 0o700, 1000, 1000)
	check("home/app/file", 0o640, 1000, 1001)
	check("tmp", 0o1777, 0, 0)
	check("lib", 0, 0, 0)
	check("etc", 0o755, 0, 0)
	check("dev/sda", 0o660, 0, 6)
	if l, _ := os.Readlink(filepath.Join(dir, "lib")); l != "usr/lib" {
		t.Errorf("lib -> %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "abs")); l != "/etc/passwd" {
		t.Errorf("abs -> %q (stored verbatim)", l)
	}
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(dir, "etc/passwd"), &a)
	unix.Lstat(filepath.Join(dir, "etc/hard"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inodes %d/%d nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dir, "dev/null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("dev/null: mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	unix.Lstat(filepath.Join(dir, "dev/sda"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(st.Rdev) != 8 {
		t.Errorf("dev/sda: mode %o", st.Mode)
	}
	unix.Lstat(filepath.Join(dir, "run/fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("run/fifo: mode %o", st.Mode)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "bin/ping"), "user.note", buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("user.note xattr: %q %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "bin/ping"), "security.capability", buf); err != nil {
		t.Errorf("security.capability xattr: %v", err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "bin/evil"), "trusted.overlay.redirect", buf); err == nil {
		t.Errorf("trusted.overlay.* xattr from a layer was kept")
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := unpackFiles(t, []F{
		{Name: "etc/"},
		{Name: "etc/.wh.passwd"},
		{Name: "data/"},
		{Name: "data/.wh..wh..opq"},
		{Name: "data/new.txt", Body: "new"},
		{Name: ".wh..wh.plnk/"}, // aufs metadata: ignored
		{Name: "deep/er/.wh.gone"},
	})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	var st unix.Stat_t
	for _, p := range []string{"etc/passwd", "deep/er/gone"} {
		if err := unix.Lstat(filepath.Join(dir, p), &st); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: not a 0/0 char device: mode %o rdev %d", p, st.Mode, st.Rdev)
		}
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(dir, "data"), opaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("data: opaque xattr %q, %v", buf[:n], err)
	}
	for _, p := range []string{"etc/.wh.passwd", "data/.wh..wh..opq", ".wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s kept as a file", p)
		}
	}
}

func TestUnpackReplacesEntries(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := unpackFiles(t, []F{
		{Name: "a", Body: "old"},
		{Name: "a", Body: "new"},
		{Name: "d/"},
		{Name: "d/x", Body: "x"},
		{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "a"},
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"},
		{Name: "l", Body: "file now"},
	})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "new" {
		t.Errorf("a = %q", b)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "d")); l != "a" {
		t.Errorf("d -> %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "l")); string(b) != "file now" {
		t.Errorf("l = %q", b)
	}
}

// hostileCorpus are layers that try to write outside their directory. Each
// must be refused with ErrHostileLayer and write nothing outside.
func hostileCorpus() map[string][]F {
	return map[string][]F{
		"dotdot":                {{Name: "../escape", Body: "x"}},
		"dotdot-inner":          {{Name: "a/../../escape", Body: "x"}},
		"dotdot-dir":            {{Name: "../escape-dir/"}},
		"absolute":              {{Name: "/escape-abs", Body: "x"}},
		"symlink-then-file":     {{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../outside"}, {Name: "up/pwned", Body: "x"}},
		"abs-symlink-then-file": {{Name: "etcl", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "etcl/pwned", Body: "x"}},
		"symlink-chain":         {{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "b"}, {Name: "b", Typeflag: tar.TypeSymlink, Linkname: ".."}, {Name: "a/pwned", Body: "x"}},
		"hardlink-outside":      {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../outside/secret"}},
		"hardlink-absolute":     {{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}},
		"hardlink-via-symlink":  {{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "s/passwd"}},
		"whiteout-through-link": {{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "s/.wh.secret"}},
		"opaque-through-link":   {{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "s/.wh..wh..opq"}},
		"dev-through-link":      {{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "s/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
	}
}

func TestUnpackRefusesHostileLayers(t *testing.T) {
	testenv.RequireRoot(t)
	for name, files := range hostileCorpus() {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
			dir := filepath.Join(base, "x", "layer")
			os.MkdirAll(dir, 0o755)
			data, err := testimage.Tar(files)
			if err != nil {
				t.Fatal(err)
			}
			err = unpack(context.Background(), bytes.NewReader(data), dir, slog.New(slog.DiscardHandler))
			if !errors.Is(err, ErrHostileLayer) {
				t.Fatalf("err = %v, want ErrHostileLayer", err)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "entry ") {
				t.Errorf("error should be one line naming the entry: %q", err)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("outside dir changed: %v", ents)
			}
			for _, p := range []string{filepath.Join(base, "escape"), filepath.Join(base, "x", "escape"), "/escape-abs", "/tmp/pwned", filepath.Join(base, "x", "pwned")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
					os.Remove(p)
				}
			}
		})
	}
}
