package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
	"github.com/berth-dev/berth/volumes"
)

// berthInProcess runs `berth --root root args...` in this process, with
// the argument rewriting of main (so `-f` before the command is the global
// --file), and returns what it printed (stdout and stderr together).
func berthInProcess(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(globalFileFirst(append([]string{"--root", root}, args...)))
	err := cmd.Execute()
	return out.String(), err
}

func TestRunDir(t *testing.T) {
	g := &globalOptions{Root: "/r"}
	t.Setenv("BERTH_RUN_DIR", "")
	if got := g.runDir(); got != "/run/berth" {
		t.Errorf("runDir without BERTH_RUN_DIR = %q", got)
	}
	t.Setenv("BERTH_RUN_DIR", "/tmp/x")
	if got := g.runDir(); got != "/tmp/x" {
		t.Errorf("runDir with BERTH_RUN_DIR = %q", got)
	}
	if got := g.stateDir("volumes"); got != "/r/volumes" {
		t.Errorf("stateDir = %q", got)
	}
}

func TestOpenNetworksPool(t *testing.T) {
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	g := &globalOptions{Root: root}
	t.Setenv("BERTH_NETWORK_POOL", "10.250.0.0/16, 10.251.0.0/16")
	if _, err := g.openNetworks(); err != nil {
		t.Fatalf("openNetworks with a pool: %v", err)
	}
	t.Setenv("BERTH_NETWORK_POOL", "10.250.0.0/16,nope")
	if _, err := g.openNetworks(); err == nil || !strings.Contains(err.Error(), `BERTH_NETWORK_POOL: "nope"`) {
		t.Fatalf("openNetworks with a bad pool: %v", err)
	}
}

// Asking whether anything uses an image or volume must not create the
// container state dir (nor open the runtime) when no container ever was.
func TestContainerStatesWithoutContainers(t *testing.T) {
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	g := &globalOptions{Root: root}
	states, err := g.containerStates()()
	if err != nil || states != nil {
		t.Fatalf("containerStates = %v, %v", states, err)
	}
	for _, d := range []string{"containers", "run"} {
		if _, err := os.Stat(filepath.Join(root, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s created by an in-use question: %v", d, err)
		}
	}
}

// loadTestImage loads busybox as ref into the image store of g.
func loadTestImage(t *testing.T, g *globalOptions, ref string) {
	t.Helper()
	img := testBusybox(t, nil)
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	var tar bytes.Buffer
	if err := tarball.Write(tag, img, &tar); err != nil {
		t.Fatal(err)
	}
	s, err := g.openImages()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), &tar, image.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The stores opened from the global options share one view of the
// containers: an image or volume is in use while a container (created,
// not even started) holds it, and free again once it is removed, without
// reopening the stores.
func TestStoresInUseFollowContainers(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	g := &globalOptions{Root: root}
	const ref = "berth.test/busy:1"
	loadTestImage(t, g, ref)
	imgs, err := g.openImages()
	if err != nil {
		t.Fatal(err)
	}
	vols, err := g.openVolumes()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := vols.Ensure(ctx, volumes.Spec{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	rt, rtImages, err := g.openRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if rtImages == nil {
		t.Fatal("openRuntime returned no image store")
	}
	st, err := rt.Create(ctx, runtime.Spec{Image: ref, Cmd: []string{"true"},
		Mounts: []runtime.Mount{{Type: "bind", Source: v.Mountpoint, Target: "/data"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Remove(context.Background(), st.ID, true) })

	if _, err := imgs.Remove(ctx, ref, image.RemoveOptions{}); !errors.Is(err, image.ErrInUse) {
		t.Errorf("remove an image a container uses: %v", err)
	}
	if err := vols.Remove(ctx, "data", false); !errors.Is(err, volumes.ErrInUse) {
		t.Errorf("remove a volume a container mounts: %v", err)
	}
	if err := rt.Remove(ctx, st.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := imgs.Remove(ctx, ref, image.RemoveOptions{}); err != nil {
		t.Errorf("remove the image after its container: %v", err)
	}
	if err := vols.Remove(ctx, "data", false); err != nil {
		t.Errorf("remove the volume after its container: %v", err)
	}
}

func TestInitPathOption(t *testing.T) {
	for _, c := range []struct{ env, err string }{
		{"", ""},
		{"builtin", ""},
		{"/bin/ls", "BERTH_INIT_PATH: invalid argument: init /bin/ls: dynamically linked"},
		{"/no/such/init", "BERTH_INIT_PATH: invalid argument: init /no/such/init"},
	} {
		t.Setenv("BERTH_INIT_PATH", c.env)
		got, err := initPathOption()
		if c.err == "" {
			if err != nil || got != c.env {
				t.Errorf("%q: %q, %v", c.env, got, err)
			}
		} else if err == nil || !strings.HasPrefix(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.env, err, c.err)
		}
	}
}
