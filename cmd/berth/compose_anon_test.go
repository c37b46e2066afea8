package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/volumes"
)

// anonStack has an anonymous volume from the manifest (a) and one from
// the image's VOLUME (b).
const anonStack = `
services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    environment:
      V: "1"
    volumes:
      - /data
  b:
    image: busybox-vol:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
`

// TestComposeAnonymousVolumes follows Compose: anonymous volumes survive a
// recreate, not a down/up (the old ones stay on disk, dangling but
// labelled with the project), and down -v removes them all, released ones
// included. A down killed after removing the containers (before releasing)
// is repaired: the next up reuses the volumes, the next down releases them.
func TestComposeAnonymousVolumes(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "anon", anonStack)
	loadImage(t, cp.root, "busybox-vol:latest", func(c *v1.Config) {
		c.Volumes = map[string]struct{}{"/imgvol": {}}
	})
	fixed := []string{ // the names up gives the two anonymous volumes
		volumes.AnonymousName("anon", "a", 1, "/data"),
		volumes.AnonymousName("anon", "b", 1, "/imgvol"),
	}
	slices.Sort(fixed)
	write := func() {
		t.Helper()
		cp.must("exec", "-T", "a", "sh", "-c", "echo one > /data/x")
		cp.must("exec", "-T", "b", "sh", "-c", "echo two > /imgvol/x")
	}
	// present says whether both files are there (and fails on a mix).
	present := func(what string) bool {
		t.Helper()
		_, _, codeA := cp.berth("exec", "-T", "a", "test", "-e", "/data/x")
		_, _, codeB := cp.berth("exec", "-T", "b", "test", "-e", "/imgvol/x")
		if codeA != codeB {
			t.Fatalf("%s: /data/x exit %d, /imgvol/x exit %d", what, codeA, codeB)
		}
		return codeA == 0
	}

	cp.must("up", "-d")
	if got := projectVolumes(t, cp); !slices.Equal(got, fixed) {
		t.Fatalf("volumes after up: %v, want %v", got, fixed)
	}
	write()

	// Recreate (environment changed): the data stays.
	before := cp.ids()
	cp.write(strings.Replace(anonStack, `V: "1"`, `V: "2"`, 1))
	cp.must("up", "-d")
	if after := cp.ids(); after["anon-a-1"] == before["anon-a-1"] || after["anon-b-1"] != before["anon-b-1"] {
		t.Fatalf("env change of a: %v -> %v", before, after)
	}
	if !present("after recreate") {
		t.Fatal("anonymous volume lost across recreate")
	}

	// down: the volumes stay, under new names, with their data and the
	// project label; the next up gets fresh ones.
	cp.must("down")
	released := projectVolumes(t, cp)
	if len(released) != 2 || slices.ContainsFunc(released, func(n string) bool { return slices.Contains(fixed, n) }) {
		t.Fatalf("volumes after down: %v, want two released ones (not %v)", released, fixed)
	}
	var contents []string
	for _, v := range released {
		b, err := os.ReadFile(filepath.Join(volumeMountpoint(t, cp, v), "x"))
		if err != nil {
			t.Fatalf("released volume %s: %v", v, err)
		}
		contents = append(contents, strings.TrimSpace(string(b)))
	}
	if slices.Sort(contents); !slices.Equal(contents, []string{"one", "two"}) {
		t.Errorf("released volumes hold %q", contents)
	}
	cp.must("up", "-d")
	if present("up after down") {
		t.Error("up after down reused the old anonymous volumes")
	}
	if got, want := projectVolumes(t, cp), sortedUnion(fixed, released); !slices.Equal(got, want) {
		t.Errorf("volumes after down and up: %v, want %v", got, want)
	}

	// down killed after removing the containers, before releasing the
	// volumes: supervisor gone, containers gone, volumes under their fixed
	// names. up reuses them; down then releases them.
	write()
	if pid, err := os.ReadFile(filepath.Join(cp.root, "projects", "anon", "supervisor.pid")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
	var ids []string
	for _, id := range cp.ids() {
		ids = append(ids, id)
	}
	mustBerth(t, cp.root, append([]string{"container", "rm", "-f"}, ids...)...)
	cp.must("up", "-d")
	if !present("up after a killed down") {
		t.Error("up after a down killed before the release: fresh volumes, want the old ones reused")
	}
	cp.must("down")
	if got := projectVolumes(t, cp); len(got) != 4 || slices.ContainsFunc(got, func(n string) bool { return slices.Contains(fixed, n) }) {
		t.Errorf("volumes after the repairing down: %v, want four released ones", got)
	}

	// down -v removes every volume of the project, released ones included.
	cp.must("up", "-d")
	cp.must("down", "-v")
	if out := mustBerth(t, cp.root, "volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("volumes after down -v:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cp.root, "projects", "anon")); !os.IsNotExist(err) {
		t.Errorf("project state left: %v", err)
	}
}

// The adapter marks a volume still in use with reconciler.ErrInUse (down
// warns about it) and leaves it under its name.
func TestReconcilerVolumesReleaseInUse(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "volumes")
	busy := volumes.AnonymousName("demo", "db", 1, "/busy")
	m, err := volumes.New(volumes.Options{Root: root, InUse: func(name string) (bool, error) { return name == busy, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var res []volumes.Request
	for _, target := range []string{"/busy", "/free"} {
		res = append(res, volumes.Request{Type: volumes.TypeVolume, Target: target})
	}
	if _, err := m.Resolve(ctx, volumes.ResolveOptions{ProjectDir: t.TempDir(), Project: "demo", Service: "db", Number: 1}, res); err != nil {
		t.Fatal(err)
	}
	released, err := reconcilerVolumes{m}.ReleaseAnonymous(ctx, "demo")
	if len(released) != 1 || !errors.Is(err, reconciler.ErrInUse) || !strings.Contains(err.Error(), busy) {
		t.Fatalf("ReleaseAnonymous = %v, %v; want one released and %s in use", released, err, busy)
	}
	if _, err := m.Get(ctx, busy); err != nil {
		t.Errorf("the volume in use: %v", err)
	}
	released, err = reconcilerVolumes{m}.ReleaseAnonymous(ctx, "nobody")
	if len(released) != 0 || err != nil {
		t.Errorf("ReleaseAnonymous of another project = %v, %v", released, err)
	}
}

// loadImage loads a busybox image with cfg under ref into root.
func loadImage(t *testing.T, root, ref string, cfg func(*v1.Config)) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(tarPath, tag, testBusybox(t, cfg)); err != nil {
		t.Fatal(err)
	}
	mustBerth(t, root, "image", "load", "-q", "-i", tarPath)
}

// projectVolumes lists the volumes labelled with the project, sorted.
func projectVolumes(t *testing.T, cp *composeProject) []string {
	t.Helper()
	out := mustBerth(t, cp.root, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+cp.name)
	names := strings.Fields(out)
	slices.Sort(names)
	return names
}

func volumeMountpoint(t *testing.T, cp *composeProject, name string) string {
	t.Helper()
	var vs []struct{ Mountpoint string }
	if err := json.Unmarshal([]byte(mustBerth(t, cp.root, "volume", "inspect", name)), &vs); err != nil || len(vs) != 1 {
		t.Fatalf("volume inspect %s: %v %+v", name, err, vs)
	}
	return vs[0].Mountpoint
}

func sortedUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// rm as Compose: without -v the removed container's anonymous volume stays
// (dangling) and the next up gets a fresh one; rm -v removes it.
func TestComposeRmAnonymousVolumes(t *testing.T) {
	cp := newComposeProject(t, "rmanon", `services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    volumes: ["/data"]
`)
	cp.must("up", "-d")
	cp.must("exec", "-T", "a", "sh", "-c", "echo one > /data/x")
	cp.must("stop", "-t", "0")
	cp.must("rm", "-f")
	cp.must("up", "-d")
	if out, _, code := cp.berth("exec", "-T", "a", "cat", "/data/x"); code == 0 {
		t.Errorf("after rm and up the old anonymous volume came back: %q", out)
	}
	if vs := projectVolumes(t, cp); len(vs) != 2 {
		t.Errorf("volumes after rm (one dangling, one in use): %v", vs)
	}
	cp.must("stop", "-t", "0")
	cp.must("rm", "-f", "-v")
	if vs := projectVolumes(t, cp); len(vs) != 1 {
		t.Errorf("volumes after rm -v (only the dangling one of the first rm): %v", vs)
	}
}
