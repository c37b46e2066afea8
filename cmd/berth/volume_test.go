package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/volumes"
)

// berthVolume runs `berth --root root volume args...` in-process and
// returns its output.
func berthVolume(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	return berthInProcess(t, root, stdin, append([]string{"volume"}, args...)...)
}

func TestVolumeCommands(t *testing.T) {
	root := t.TempDir()
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := berthVolume(t, root, stdin, args...)
		if err != nil {
			t.Fatalf("volume %v: %v\n%s", args, err, out)
		}
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := berthVolume(t, root, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("volume %v: err = %v, want it to contain %q\n%s", args, err, want, out)
		}
	}

	if out := must("", "create", "--label", "com.docker.compose.project=demo", "--label", "tier", "demo_db"); out != "demo_db\n" {
		t.Fatalf("create = %q", out)
	}
	must("", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "fast")
	anon := strings.TrimSpace(must("", "create"))
	if len(anon) != 64 {
		t.Fatalf("create without a name gave %q", anon)
	}

	rows := []string{"local     " + anon, "local     demo_db", "local     fast"}
	slices.Sort(rows)
	if out := must("", "ls"); out != "DRIVER    VOLUME NAME\n"+strings.Join(rows, "\n")+"\n" {
		t.Fatalf("ls =\n%s", out)
	}
	if out := must("", "ls", "-q", "--filter", "label=com.docker.compose.project=demo"); out != "demo_db\n" {
		t.Fatalf("ls -q --filter = %q", out)
	}
	if out := must("", "ls", "--format", "{{.Name}} {{.Label \"tier\"}}|{{.Labels}}", "--filter", "name=demo"); out != "demo_db |com.docker.compose.project=demo,tier=\n" {
		t.Fatalf("ls --format template = %q", out)
	}
	var row map[string]string
	out := must("", "ls", "--format", "json", "--filter", "name=fast")
	if err := json.Unmarshal([]byte(out), &row); err != nil || row["Name"] != "fast" || row["Driver"] != "local" || row["Mountpoint"] != filepath.Join(root, "volumes", "fast", "_data") {
		t.Fatalf("ls --format json = %q (%v)", out, err)
	}

	var insp []map[string]any
	out = must("", "inspect", "fast")
	if err := json.Unmarshal([]byte(out), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect = %q (%v)", out, err)
	}
	if o := insp[0]["Options"].(map[string]any); o["type"] != "tmpfs" || o["o"] != "size=1m" || insp[0]["Scope"] != "local" || insp[0]["CreatedAt"] == "" {
		t.Fatalf("inspect = %v", insp[0])
	}
	if out := must("", "inspect", "--format", "{{.Mountpoint}}", "demo_db"); out != filepath.Join(root, "volumes", "demo_db", "_data")+"\n" {
		t.Fatalf("inspect --format = %q", out)
	}
	fails(`volume "nope": not found`, "inspect", "nope")

	// Bad input.
	fails(`invalid driver option "bogus"`, "create", "-o", "bogus=1", "v1")
	fails(`missing required option "device"`, "create", "-o", "type=tmpfs", "v1")
	fails(`driver "nfs"`, "create", "-d", "nfs", "v1")
	fails(`volume name "a/b"`, "create", "a/b")
	fails(`--opt "type": want key=value`, "create", "-o", "type", "v1")
	fails(`invalid filter "bogus=1"`, "ls", "--filter", "bogus=1")
	fails("exists with driver options", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "fast")

	// prune asks first; default is anonymous volumes only.
	if out := must("n\n", "prune"); !strings.Contains(out, "Are you sure") || strings.Contains(out, "Deleted") {
		t.Fatalf("prune answered no = %q", out)
	}
	if out := must("", "prune", "--force"); out != "Deleted Volumes:\n"+anon+"\n\nTotal reclaimed space: 0B\n" {
		t.Fatalf("prune --force = %q", out)
	}
	if err := os.WriteFile(filepath.Join(root, "volumes", "demo_db", "_data", "f"), make([]byte, 1500), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := must("y\n", "prune", "-a", "--filter", "label=tier"); !strings.HasSuffix(out, "Deleted Volumes:\ndemo_db\n\nTotal reclaimed space: 1.5kB\n") {
		t.Fatalf("prune -a = %q", out)
	}

	if out := must("", "rm", "fast"); out != "fast\n" {
		t.Fatalf("rm = %q", out)
	}
	fails(`volume "fast": not found`, "rm", "fast")
	must("", "rm", "--force", "fast")
	if out := must("", "ls", "-q"); out != "" {
		t.Fatalf("ls after removing everything = %q", out)
	}
}

type volumeTestImages struct{}

func (volumeTestImages) Resolve(ctx context.Context, ref string) (runtime.Image, error) {
	return runtime.Image{Ref: ref, ID: "sha256:x", LowerDirs: []string{"/nonexistent-layer"}}, nil
}

// `volume rm` and `prune` refuse a volume that a container mounts, even a
// container that is not running (as Docker does).
func TestVolumeRmRefusesVolumeOfAContainer(t *testing.T) {
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	for _, args := range [][]string{{"create", "used"}, {"create", "free"}} {
		if out, err := berthVolume(t, root, "", args...); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	rt, err := runtime.New(runtime.Options{Root: filepath.Join(root, "containers"), RunDir: filepath.Join(root, "run"), Images: volumeTestImages{}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Create(context.Background(), runtime.Spec{Image: "x", Mounts: []runtime.Mount{
		{Type: "bind", Source: filepath.Join(root, "volumes", "used", "_data"), Target: "/data"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := berthVolume(t, root, "", "rm", "used"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("rm of a volume a container mounts: %v", err)
	}
	if out, err := berthVolume(t, root, "", "ls", "-q", "--filter", "dangling=true"); err != nil || out != "free\n" {
		t.Fatalf("ls dangling = %q, %v", out, err)
	}
	if out, err := berthVolume(t, root, "", "prune", "-a", "--force"); err != nil || !strings.Contains(out, "Deleted Volumes:\nfree\n") {
		t.Fatalf("prune = %q, %v", out, err)
	}
	if err := rt.Remove(context.Background(), st.ID, true); err != nil {
		t.Fatal(err)
	}
	if out, err := berthVolume(t, root, "", "rm", "used"); err != nil || out != "used\n" {
		t.Fatalf("rm after the container is gone = %q, %v", out, err)
	}
}

// The reconciler adapter turns a loaded manifest's mounts into runtime
// mounts: named (with `name:`), anonymous, relative binds, tmpfs.
func TestReconcilerVolumesAdapter(t *testing.T) {
	dir := t.TempDir()
	manifest := `
name: demo
services:
  db:
    image: busybox
    volumes:
      - data:/var/lib/db
      - ./conf:/etc/db:ro
      - /cache
      - type: volume
        source: other
        target: /other
        volume:
          nocopy: true
    tmpfs:
      - /run:size=1m,noexec
volumes:
  data: {}
  other:
    name: custom-other
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{Files: []string{filepath.Join(dir, "compose.yaml")}}
	p, err := g.loadProject(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := volumes.New(volumes.Options{Root: filepath.Join(dir, "state", "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	a := reconcilerVolumes{m}
	for _, v := range p.Volumes {
		if err := a.EnsureVolume(context.Background(), p.Name, v); err != nil {
			t.Fatal(err)
		}
	}
	svc := &p.Services[0]
	mounts, err := a.Mounts(context.Background(), reconciler.MountRequest{Project: p, Service: svc, Number: 1, ImageVolumes: []string{"/img"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]runtime.Mount{}
	for _, mt := range mounts {
		got[mt.Target] = mt
	}
	vdir := func(name string) string { return filepath.Join(dir, "state", "volumes", name, "_data") }
	want := map[string]runtime.Mount{
		"/var/lib/db": {Type: "bind", Source: vdir("demo_data"), Target: "/var/lib/db", CopyUp: true},
		"/etc/db":     {Type: "bind", Source: filepath.Join(dir, "conf"), Target: "/etc/db", ReadOnly: true},
		"/cache":      {Type: "bind", Source: vdir(volumes.AnonymousName("demo", "db", 1, "/cache")), Target: "/cache", CopyUp: true},
		"/img":        {Type: "bind", Source: vdir(volumes.AnonymousName("demo", "db", 1, "/img")), Target: "/img", CopyUp: true},
		"/other":      {Type: "bind", Source: vdir("custom-other"), Target: "/other"},
		"/run":        {Type: "tmpfs", Target: "/run", TmpfsSize: 1 << 20, Options: []string{"noexec"}},
	}
	if len(got) != len(want) {
		t.Fatalf("mounts = %+v", mounts)
	}
	for k, w := range want {
		if g := got[k]; g.Type != w.Type || g.Source != w.Source || g.ReadOnly != w.ReadOnly || g.CopyUp != w.CopyUp ||
			g.TmpfsSize != w.TmpfsSize || strings.Join(g.Options, ",") != strings.Join(w.Options, ",") {
			t.Errorf("mount %s = %+v, want %+v", k, g, w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "conf")); err != nil {
		t.Errorf("short-syntax bind source not created: %v", err)
	}
	names, err := a.ListVolumes(context.Background(), "demo")
	if err != nil || len(names) != 4 {
		t.Fatalf("ListVolumes = %v, %v", names, err)
	}
	removed, err := a.RemoveProjectVolumes(context.Background(), "demo", nil)
	if err != nil || len(removed) != 4 {
		t.Fatalf("RemoveProjectVolumes = %v, %v", removed, err)
	}
}

// Docker's short flags of the volume commands: -f is force for rm and
// prune, filter for ls and format for inspect; -f before the command is
// still the global --file.
func TestVolumeShortFlags(t *testing.T) {
	root := t.TempDir()
	must := func(want string, args ...string) {
		t.Helper()
		out, err := berthInProcess(t, root, "", args...)
		if err != nil || out != want {
			t.Fatalf("berth %v = %q, %v; want %q", args, out, err, want)
		}
	}
	must("keep\n", "volume", "create", "--label", "tier=db", "keep")
	must("va\n", "volume", "create", "va")
	must("vb\n", "volume", "create", "vb")
	must("keep\n", "-f", "/nonexistent/compose.yaml", "volume", "ls", "-q", "-f", "label=tier")
	must("va\n", "volume", "ls", "-qf", "name=va")
	must("keep db\n", "volume", "inspect", "-f", `{{.Name}} {{index .Labels "tier"}}`, "keep")
	must("va\nmissing\n", "-f", "/nonexistent/compose.yaml", "volume", "rm", "-f", "va", "missing") // as Docker: named even when missing
	if _, err := berthInProcess(t, root, "", "volume", "rm", "missing"); err == nil {
		t.Fatal("rm of a missing volume without -f succeeded")
	}
	must("Deleted Volumes:\nvb\n\nTotal reclaimed space: 0B\n", "volume", "prune", "-f", "-a", "--filter", "name=vb")
	must("keep\n", "volume", "ls", "--format", "{{.Name}}")
}
