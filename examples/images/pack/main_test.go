package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	stdlog "log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

type entry struct {
	hdr  tar.Header
	body string
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readTar(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read normalised tar: %v", err)
		}
		out = append(out, h)
	}
}

var (
	epoch = time.Unix(1_700_000_000, 0).UTC()
	old   = time.Unix(1_600_000_000, 0).UTC()
	late  = time.Unix(1_800_000_000, 500).UTC()
)

func sample(atime time.Time) []entry {
	return []entry{
		{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: late}},
		{hdr: tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: late, AccessTime: atime, Format: tar.FormatPAX}},
		{hdr: tar.Header{Name: "./etc/hosts", Typeflag: tar.TypeReg, ModTime: old, AccessTime: atime, ChangeTime: atime, Format: tar.FormatPAX}, body: "127.0.0.1 localhost\n"},
		{hdr: tar.Header{Name: "./etc/hosts.hard", Typeflag: tar.TypeLink, Linkname: "./etc/hosts", ModTime: late}},
		{hdr: tar.Header{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: late}},
		{hdr: tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, ModTime: late}},
		{hdr: tar.Header{Name: "./dev/fd", Typeflag: tar.TypeSymlink, Linkname: "/proc/self/fd", ModTime: late}},
		{hdr: tar.Header{Name: "./run/initctl", Typeflag: tar.TypeFifo, ModTime: late}},
		{hdr: tar.Header{Name: "./usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: late, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}, body: "ELF"},
	}
}

func TestNormalise(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	st, err := normalise(bytes.NewReader(makeTar(t, sample(late))), &out, epoch)
	if err != nil {
		t.Fatal(err)
	}
	hdrs := readTar(t, out.Bytes())
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if h.ModTime.After(epoch) {
			t.Errorf("%s: mtime %v after epoch %v", h.Name, h.ModTime, epoch)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime/ctime kept: %v %v", h.Name, h.AccessTime, h.ChangeTime)
		}
		switch h.Name {
		case "etc/hosts":
			if !h.ModTime.Equal(old) {
				t.Errorf("etc/hosts: mtime %v, want the older %v kept", h.ModTime, old)
			}
		case "etc/hosts.hard":
			if h.Linkname != "etc/hosts" {
				t.Errorf("hard link target %q, want etc/hosts", h.Linkname)
			}
		case "usr/bin/ping":
			if h.PAXRecords["SCHILY.xattr.security.capability"] == "" {
				t.Errorf("usr/bin/ping lost its capability xattr: %v", h.PAXRecords)
			}
		}
	}
	want := "etc/ etc/hosts etc/hosts.hard dev/ usr/bin/ping"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries = %q, want %q", got, want)
	}
	if st.skipped != 4 || st.entries != 5 {
		t.Errorf("stats = %+v, want 5 entries and 4 skipped (root, dev/null, dev/fd, fifo)", st)
	}
}

func TestNormaliseIsStable(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if _, err := normalise(bytes.NewReader(makeTar(t, sample(late))), &a, epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := normalise(bytes.NewReader(makeTar(t, sample(late.Add(time.Hour)))), &b, epoch); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two tarballs differing only in atime normalised to different bytes")
	}
}

func TestNormaliseRefusesDotDot(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"../escape", "./a/../../escape"} {
		var out bytes.Buffer
		in := makeTar(t, []entry{{hdr: tar.Header{Name: n, Typeflag: tar.TypeReg}, body: "x"}})
		_, err := normalise(bytes.NewReader(in), &out, epoch)
		if err == nil || !strings.Contains(err.Error(), n) {
			t.Errorf("%s: err = %v, want an error naming the entry", n, err)
		}
	}
}

func TestReadConfigRejectsUnknownKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"Entrypoint":["docker-entrypoint.sh"],"Cmd":["mariadbd"],"ExposedPorts":{"3306/tcp":{}}}`), 0o644)
	os.WriteFile(bad, []byte(`{"Entrypont":["x"]}`), 0o644)
	cfg, err := readConfig(good)
	if err != nil || cfg.Cmd[0] != "mariadbd" {
		t.Fatalf("good config: %+v, %v", cfg, err)
	}
	if _, err := readConfig(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("bad config: err = %v, want an error naming the file", err)
	}
}

// TestBuildAndPush builds a layout twice (same digest) and pushes it to an
// in-process registry on 127.0.0.1.
func TestBuildAndPush(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(rootfs, makeTar(t, sample(late)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"Entrypoint":["docker-entrypoint.sh"],"Cmd":["mariadbd"],"Env":["PATH=/usr/bin"],"StopSignal":"SIGTERM"}`), 0o644)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := filepath.Join(dir, "layout")
	var digests []string
	for i := 0; i < 2; i++ {
		var stdout bytes.Buffer
		err := run(context.Background(), log, []string{"build", "-rootfs", rootfs, "-config", cfg, "-out", out, "-epoch", "1700000000", "-ref", "mariadb:test", "-ref", "docker.io/library/mariadb:11.4"}, &stdout)
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		digests = append(digests, strings.TrimSpace(stdout.String()))
	}
	if digests[0] != digests[1] || !strings.HasPrefix(digests[0], "sha256:") {
		t.Fatalf("digests of two builds: %q", digests)
	}

	idx, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"io.containerd.image.name": "mariadb:test"`, `"org.opencontainers.image.ref.name": "11.4"`} {
		if !strings.Contains(string(idx), want) {
			t.Errorf("index.json lacks %s:\n%s", want, idx)
		}
	}

	srv := httptest.NewServer(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/library/mariadb:test"
	var stdout bytes.Buffer
	if err := run(context.Background(), log, []string{"push", "-layout", out, ref}, &stdout); err != nil {
		t.Fatalf("push: %v", err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull back: %v", err)
	}
	d, _ := img.Digest()
	if d.String() != digests[0] {
		t.Errorf("registry has %s, built %s", d, digests[0])
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.StopSignal != "SIGTERM" || cf.OS != "linux" || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("config = %+v", cf)
	}
}
