package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testregistry"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
)

// builtBerth builds the berth binary into the test's temp dir (removed
// with it): the image integration tests run the real CLI, as a user would.
// The build cache makes every build after the first one a link only.
func builtBerth(t *testing.T) string {
	t.Helper()
	if p, ok := builtBins.Load(t.Name()); ok {
		return p.(string)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "berth")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	builtBins.Store(t.Name(), bin)
	t.Cleanup(func() { builtBins.Delete(t.Name()) })
	return bin
}

// builtBins maps a test name to its binary, so that one test builds once.
var builtBins sync.Map

// berthCLI runs the built binary with --root root. Proxy variables point at
// a dead loopback port, so nothing can reach a registry on the internet
// (loopback is never proxied).
func berthCLI(t *testing.T, root string, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(builtBerth(t), append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "DOCKER_CONFIG="+filepath.Join(root, "docker-config"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run berth: %v", err)
	}
	return o.String(), e.String(), code
}

func mustBerth(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, errOut, code := berthCLI(t, root, nil, args...)
	if code != 0 {
		t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func testBusybox(t *testing.T, cfg func(*v1.Config), files ...[]testimage.File) v1.Image {
	t.Helper()
	testenv.RequireFile(t, testimage.BusyboxPath, "apt-get install busybox-static")
	var layers []v1.Layer
	for _, f := range files {
		l, err := testimage.Layer(f)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := testimage.Busybox(cfg, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImageCLIWithDockerRegistry(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.Start(t)
	app := testBusybox(t, func(c *v1.Config) { c.Cmd = []string{"echo", "app"} }, []testimage.File{{Name: "srv/", Mode: 0o755}, {Name: "srv/hello", Body: "hi"}})
	reg.Push(t, "test/app:1", app)
	root := t.TempDir()
	ref := reg.Ref("test/app:1")

	out := mustBerth(t, root, "image", "pull", ref)
	if !strings.Contains(out, "Pulled "+ref) || !strings.Contains(out, "downloading") {
		t.Errorf("pull output (plain, not a tty):\n%s", out)
	}
	if out := mustBerth(t, root, "image", "pull", "-q", ref); strings.TrimSpace(out) != ref {
		t.Errorf("pull -q printed %q", out)
	}
	ls := mustBerth(t, root, "image", "ls")
	if !strings.Contains(ls, reg.Ref("test/app")) || !strings.Contains(ls, " 1 ") {
		t.Errorf("ls:\n%s", ls)
	}
	var inspected []image.Image
	if err := json.Unmarshal([]byte(mustBerth(t, root, "image", "inspect", ref)), &inspected); err != nil {
		t.Fatal(err)
	}
	if len(inspected) != 1 || strings.Join(inspected[0].Config.Cmd, " ") != "echo app" || len(inspected[0].Layers) != 2 {
		t.Fatalf("inspect: %+v", inspected)
	}
	if b, err := os.ReadFile(filepath.Join(inspected[0].Layers[1].Dir, "srv/hello")); err != nil || string(b) != "hi" {
		t.Errorf("unpacked layer: %q %v", b, err)
	}

	// tag + push to the registry, then pull the copy into a fresh root.
	mustBerth(t, root, "image", "tag", ref, reg.Ref("copy/app:2"))
	mustBerth(t, root, "image", "push", reg.Ref("copy/app:2"))
	root2 := t.TempDir()
	mustBerth(t, root2, "image", "pull", reg.Ref("copy/app:2"))
	if out := mustBerth(t, root2, "image", "ls", "-q"); strings.TrimSpace(out) != inspected[0].ShortID() {
		t.Errorf("pushed copy has another ID: %q vs %s", out, inspected[0].ShortID())
	}

	// save → load (file and stdin) round trip.
	archive := filepath.Join(t.TempDir(), "app.tar")
	mustBerth(t, root, "image", "save", "-o", archive, ref)
	root3 := t.TempDir()
	if out := mustBerth(t, root3, "image", "load", "-i", archive); !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("load -i: %q", out)
	}
	data, _ := os.ReadFile(archive)
	root4 := t.TempDir()
	if out, e, code := berthCLI(t, root4, data, "image", "load"); code != 0 || !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("load from stdin: exit %d %q %q", code, out, e)
	}

	// rm refuses an image a container uses (state file as the runtime writes
	// it). The in-use check opens the runtime, which keeps files in the run dir.
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	cdir := filepath.Join(root, "containers", "c1")
	os.MkdirAll(cdir, 0o700)
	os.WriteFile(filepath.Join(cdir, "state.json"), []byte(fmt.Sprintf(`{"version":1,"id":"c1","image":{"ref":%q,"id":%q}}`, ref, inspected[0].ID)), 0o600)
	mustBerth(t, root, "image", "rm", reg.Ref("copy/app:2")) // only untags
	_, e, code := berthCLI(t, root, nil, "image", "rm", ref)
	if code == 0 || !strings.Contains(e, "in use") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("rm of an image in use: exit %d, %q", code, e)
	}
	if out := mustBerth(t, root, "image", "prune", "-a"); !strings.Contains(out, "reclaimed space: 0B") {
		t.Errorf("prune -a removed an image in use: %q", out)
	}
	// Forced while in use: untagged only; the image goes once the container does.
	if out := mustBerth(t, root, "image", "rm", "--force", ref); !strings.Contains(out, "Untagged: "+ref) || strings.Contains(out, "Deleted") {
		t.Errorf("rm -f of an image in use: %q", out)
	}
	os.RemoveAll(cdir)
	if out := mustBerth(t, root, "image", "prune"); !strings.Contains(out, "deleted: "+inspected[0].ID) {
		t.Errorf("prune after the container is gone: %q", out)
	}
	for _, sub := range []string{"images/layers", "images/blobs/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(root, sub)); len(ents) != 0 {
			t.Errorf("%s not empty after rm of the last image: %d entries", sub, len(ents))
		}
	}
}

func TestImageCLIBadInput(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.Start(t)
	reg.Push(t, "test/app:1", testBusybox(t, nil))
	root := t.TempDir()
	mustBerth(t, root, "image", "pull", reg.Ref("test/app:1"))
	before := mustBerth(t, root, "image", "ls")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "pull", reg.Ref("test/app:nope")}, "manifest unknown"},
		{[]string{"image", "pull", "127.0.0.1:1/test/app:1"}, "connection refused"},
		{[]string{"image", "pull", "Bad/Name:x"}, "Bad/Name"},
		{[]string{"image", "inspect", "nothing:here"}, "nothing:here"},
		{[]string{"image", "rm", "nothing:here"}, "nothing:here"},
		{[]string{"image", "load", "-i", "/nonexistent.tar"}, "/nonexistent.tar"},
		{[]string{"image", "pull", "--platform", "linux/s390x", reg.Ref("test/app:1")}, "linux/s390x"},
	} {
		out, e, code := berthCLI(t, root, nil, tc.args...)
		if code == 0 {
			t.Errorf("%v: exit 0\n%s", tc.args, out)
			continue
		}
		lines := strings.Split(strings.TrimSpace(e), "\n")
		if !strings.Contains(lines[len(lines)-1], tc.want) || !strings.HasPrefix(lines[len(lines)-1], "berth: ") {
			t.Errorf("%v: last stderr line %q should be one line mentioning %q", tc.args, lines[len(lines)-1], tc.want)
		}
	}
	if after := mustBerth(t, root, "image", "ls"); after != before {
		t.Errorf("store changed:\n%s\n%s", before, after)
	}
}

func TestImagePullBusyboxThroughDockerHubMirror(t *testing.T) {
	testenv.RequireRoot(t)
	mirror := testregistry.Start(t)
	mirror.Push(t, "library/busybox:latest", testBusybox(t, nil))
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "registries.yaml"), []byte(fmt.Sprintf("registries:\n  docker.io:\n    mirrors: [%q]\n", mirror.Host)), 0o600)
	out := mustBerth(t, root, "image", "pull", "busybox")
	if !strings.Contains(out, "Pulled docker.io/library/busybox:latest") {
		t.Errorf("pull busybox:\n%s", out)
	}
	ls := mustBerth(t, root, "image", "ls")
	if !strings.Contains(ls, "busybox ") || !strings.Contains(ls, "latest") {
		t.Errorf("ls:\n%s", ls)
	}
	// A mirror without the image falls back to Docker Hub itself, which the
	// test's proxy settings make unreachable: the error names both.
	_, e, code := berthCLI(t, root, nil, "image", "pull", "alpine")
	if code == 0 || !strings.Contains(e, "docker.io/library/alpine:latest") || !strings.Contains(e, mirror.Host) {
		t.Errorf("pull alpine: exit %d %q", code, e)
	}
}

func TestPullProgressRendering(t *testing.T) {
	t.Parallel()
	clock := time.Unix(0, 0)
	events := []image.Progress{
		{Image: "x", Phase: image.PhaseResolving, Message: "from r"},
		{Image: "x", Layer: "sha256:aaaaaaaaaaaaaaaa", Phase: image.PhaseWaiting, Total: 2000000},
		{Image: "x", Layer: "sha256:bbbbbbbbbbbbbbbb", Phase: image.PhaseExists, Current: 10, Total: 10},
		{Image: "x", Layer: "sha256:aaaaaaaaaaaaaaaa", Phase: image.PhaseDownloading, Current: 1000000, Total: 2000000},
		{Image: "x", Layer: "sha256:aaaaaaaaaaaaaaaa", Phase: image.PhaseDownloading, Current: 2000000, Total: 2000000},
		{Image: "x", Layer: "sha256:aaaaaaaaaaaaaaaa", Phase: image.PhaseDone, Current: 2000000, Total: 2000000},
	}
	render := func(quiet, tty bool) string {
		var b bytes.Buffer
		now := clock
		p := newPullProgress(&b, quiet, tty)
		p.now = func() time.Time { return now }
		for _, ev := range events {
			p.update(ev)
			now = now.Add(time.Second)
		}
		p.finish()
		return b.String()
	}
	plain := render(false, false)
	want := "x: resolving from r\nbbbbbbbbbbbb: already present\naaaaaaaaaaaa: downloading 2MB\naaaaaaaaaaaa: done 2MB 1MB/s\n"
	if plain != want {
		t.Errorf("plain:\n%s\nwant:\n%s", plain, want)
	}
	tty := render(false, true)
	if !strings.Contains(tty, "\x1b[2A") || !strings.Contains(tty, "downloading 1MB/2MB  50%") || !strings.Contains(tty, "100% 2MB/s") || strings.Count(tty, "done 2MB") < 1 {
		t.Errorf("tty output lacks redraws, bytes or rate: %q", tty)
	}
	if q := render(true, false); q != "" {
		t.Errorf("quiet printed %q", q)
	}
}

func TestRuntimeImagesAdapter(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	reg.Push(t, "a/b:1", testBusybox(t, func(c *v1.Config) { c.Entrypoint = []string{"/bin/sh"}; c.User = "app" }, []testimage.File{{Name: "x", Body: "x"}}))
	root := t.TempDir()
	s, err := (&globalOptions{Root: root}).openImages()
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(context.Background(), reg.Ref("a/b:1"), image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ri := runtimeImages{store: s}
	got, err := ri.Resolve(context.Background(), reg.Ref("a/b:1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != img.ID || strings.Join(got.LowerDirs, ":") != strings.Join(img.LowerDirs(), ":") || got.Config.User != "app" || got.Config.Entrypoint[0] != "/bin/sh" {
		t.Errorf("Resolve = %+v", got)
	}
	if _, err := ri.Resolve(context.Background(), "missing:1"); !errors.Is(err, runtime.ErrNotFound) || !errors.Is(err, image.ErrNotFound) {
		t.Errorf("missing image: %v", err)
	}
}

func TestTwoBerthProcessesPullTheSameImage(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.Start(t)
	reg.Push(t, "two/app:1", testBusybox(t, nil, []testimage.File{{Name: "big", Body: strings.Repeat("z", 4<<20)}}))
	root := t.TempDir()
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, e, code := berthCLI(t, root, nil, "image", "pull", reg.Ref("two/app:1"))
			if code != 0 {
				results[i] = fmt.Sprintf("exit %d: %s%s", code, out, e)
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r != "" {
			t.Errorf("pull %d: %s", i, r)
		}
	}
	var inspected []image.Image
	json.Unmarshal([]byte(mustBerth(t, root, "image", "inspect", reg.Ref("two/app:1"))), &inspected)
	if len(inspected) != 1 {
		t.Fatal("image missing")
	}
	for _, l := range inspected[0].Layers {
		if _, err := os.Stat(filepath.Join(l.Dir, "..", "layer.json")); err != nil {
			t.Errorf("layer %s: %v", l.DiffID, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(inspected[0].Layers[1].Dir, "big")); err != nil || len(b) != 4<<20 {
		t.Errorf("big file: %d bytes, %v", len(b), err)
	}
}

// TestKilledPullLeavesNoHalfLayer kills `berth image pull` while a layer is
// half downloaded, then checks that nothing counts as complete and that the
// next pull repairs the store.
func TestKilledPullLeavesNoHalfLayer(t *testing.T) {
	testenv.RequireRoot(t)
	img := testBusybox(t, nil, []testimage.File{{Name: "big", Body: strings.Repeat("k", 8<<20)}})
	ls, _ := img.Layers()
	top, _ := ls[1].Digest()
	halfSent := make(chan struct{}, 1)
	release := make(chan struct{})
	var stall atomic.Bool
	stall.Store(true)
	reg := testregistry.StartInProcess(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+top.String()) || !stall.Load() {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(200)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			halfSent <- struct{}{}
			<-release
		})
	})
	t.Cleanup(func() { close(release) })
	reg.Push(t, "kill/app:1", img)
	root := t.TempDir()
	cmd := exec.Command(builtBerth(t), "--root", root, "image", "pull", reg.Ref("kill/app:1"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-halfSent:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the pull never reached the stalled layer")
	}
	time.Sleep(200 * time.Millisecond) // let it write what it got
	cmd.Process.Kill()                 // the process this test started
	cmd.Wait()

	if ents, _ := os.ReadDir(filepath.Join(root, "images", "tmp")); len(ents) == 0 {
		t.Errorf("expected the killed pull's half layer in tmp/ (was it killed mid-layer?)")
	}
	diff, _ := ls[1].DiffID()
	if _, err := os.Stat(filepath.Join(root, "images", "layers", diff.Hex)); err == nil {
		t.Errorf("half-downloaded layer counted as complete")
	}
	if out := mustBerth(t, root, "image", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("killed pull left an image: %q", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "images", "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ not cleaned by the next run: %v", ents)
	}
	stall.Store(false)
	mustBerth(t, root, "image", "pull", reg.Ref("kill/app:1"))
	if ents, _ := os.ReadDir(filepath.Join(root, "images", "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ not cleaned after the next run: %v", ents)
	}
	var inspected []image.Image
	json.Unmarshal([]byte(mustBerth(t, root, "image", "inspect", reg.Ref("kill/app:1"))), &inspected)
	if len(inspected) != 1 {
		t.Fatal("image missing after re-pull")
	}
	if b, err := os.ReadFile(filepath.Join(inspected[0].Layers[1].Dir, "big")); err != nil || len(b) != 8<<20 {
		t.Errorf("re-pulled big file: %d bytes, %v", len(b), err)
	}
}

// Docker's short flags of the image commands: -f is force for rm and
// prune, format for inspect; -f before the command is still the global
// --file.
func TestImageShortFlags(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	g := &globalOptions{Root: root}
	loadTestImage(t, g, "berth.test/short:1")
	must := func(args ...string) string {
		t.Helper()
		out, err := berthInProcess(t, root, "", args...)
		if err != nil {
			t.Fatalf("berth %v: %v\n%s", args, err, out)
		}
		return out
	}
	must("image", "tag", "berth.test/short:1", "berth.test/short:2")
	id := strings.TrimSpace(must("image", "inspect", "-f", "{{.ID}}", "berth.test/short:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("inspect -f {{.ID}} = %q", id)
	}
	if out := must("image", "ls", "-q"); out != strings.TrimPrefix(id, "sha256:")[:12]+"\n" {
		t.Errorf("ls -q of one image with two tags = %q", out)
	}
	if out := must("image", "ls", "--format", "{{.Repository}}:{{.Tag}}"); out != "berth.test/short:1\nberth.test/short:2\n" {
		t.Errorf("ls --format = %q", out)
	}
	if out := must("-f", "/nonexistent/compose.yaml", "image", "ls", "-f", "reference=*/short:2", "--format", "{{.Tag}}"); out != "2\n" {
		t.Errorf("ls -f reference = %q", out)
	}

	// A container uses the image: rm refuses, rm -f only untags it.
	rt, _, err := g.openRuntime()
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Create(context.Background(), runtime.Spec{Image: "berth.test/short:1", Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Remove(context.Background(), st.ID, true) })
	if out := must("image", "rm", "berth.test/short:2"); out != "Untagged: berth.test/short:2\n" {
		t.Errorf("rm of one of two names = %q", out)
	}
	if out, err := berthInProcess(t, root, "", "image", "rm", "berth.test/short:1"); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("rm of an image in use: %v\n%s", err, out)
	}
	if out := must("-f", "/nonexistent/compose.yaml", "image", "prune", "-f", "-a"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune -f -a removed an image in use: %q", out)
	}
	// Forced while in use: untagged only, the image stays for the container (as Docker).
	if out := must("-f", "/nonexistent/compose.yaml", "image", "rm", "-f", id); out != "Untagged: berth.test/short:1\n" {
		t.Errorf("rm -f of an image in use = %q", out)
	}

	loadTestImage(t, g, "berth.test/short:1")
	if err := rt.Remove(context.Background(), st.ID, true); err != nil {
		t.Fatal(err)
	}
	if out := must("image", "prune", "-fa"); !strings.Contains(out, "deleted: "+id) {
		t.Errorf("prune -fa = %q", out)
	}
}

// Each command has Docker's meaning of -f (and the global --file hidden
// beside it, which the root adds).
func TestDockerShortFlagF(t *testing.T) {
	t.Parallel()
	root := newRootCmd()
	for path, want := range map[string]string{
		"image rm": "force", "image prune": "force", "image inspect": "format", "image ls": "filter",
		"volume rm": "force", "volume prune": "force", "volume ls": "filter", "volume inspect": "format",
		"network rm": "force", "network prune": "force", "network ls": "filter", "network inspect": "format",
	} {
		c, _, err := root.Find(strings.Fields(path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f := c.Flags().ShorthandLookup("f")
		if f == nil || f.Name != want {
			t.Errorf("%s -f = %v, want --%s", path, f, want)
		}
		if c.Flags().Lookup("file") == nil {
			t.Errorf("%s has no --file beside its own -f", path)
		}
		if strings.Contains(c.Flags().FlagUsages(), "global") {
			t.Errorf("%s help still speaks of the global -f:\n%s", path, c.Flags().FlagUsages())
		}
	}
}

func TestImageFilters(t *testing.T) {
	t.Parallel()
	rows := []imageRow{
		{Repository: "busybox", Tag: "latest", labels: map[string]string{"tier": "base"}},
		{Repository: "example.com/app", Tag: "1"},
		{Repository: "<none>", Tag: "<none>", labels: map[string]string{"tier": "tmp"}},
	}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "busybox,example.com/app,<none>"},
		{[]string{"dangling=true"}, "<none>"},
		{[]string{"dangling=false"}, "busybox,example.com/app"},
		{[]string{"label=tier"}, "busybox,<none>"},
		{[]string{"label=tier=base"}, "busybox"},
		{[]string{"reference=busybox"}, "busybox"},
		{[]string{"reference=busy*:latest"}, "busybox"},
		{[]string{"reference=*/app"}, "example.com/app"},
		{[]string{"reference=busybox", "reference=*/app"}, "busybox,example.com/app"},
		{[]string{"reference=busybox", "label=tier=tmp"}, ""},
	} {
		match, err := parseImageFilters(tc.filters)
		if err != nil {
			t.Errorf("%v: %v", tc.filters, err)
			continue
		}
		var got []string
		for _, r := range rows {
			if match(r) {
				got = append(got, r.Repository)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%v matched %v, want %s", tc.filters, got, tc.want)
		}
	}
	for _, bad := range []string{"dangling=maybe", "reference=[", "before=x", "label"} {
		if _, err := parseImageFilters([]string{bad}); err == nil || !strings.Contains(err.Error(), "invalid filter") {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
}
