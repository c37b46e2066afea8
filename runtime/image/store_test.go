package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testregistry"
)

// testLogger routes the store's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(filepath.Join(t.TempDir(), "images"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func busybox(t *testing.T, configure func(*v1.Config), extra ...[]F) v1.Image {
	t.Helper()
	testenv.RequireFile(t, testimage.BusyboxPath, "apt-get install busybox-static")
	var layers []v1.Layer
	for _, files := range extra {
		l, err := testimage.Layer(files)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := testimage.Busybox(configure, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// snapshot lists everything in the store except lock files and tmp/, with
// sizes, to prove a failed operation left the store unchanged.
func snapshot(t *testing.T, s *Store) string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		if strings.HasSuffix(rel, ".lock") || strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) {
			return nil
		}
		fi, _ := d.Info()
		out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestPullGetAndShareLayers(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	app := busybox(t, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sh", "-c"}
		c.Cmd = []string{"echo hi"}
		c.WorkingDir = "/srv"
		c.User = "app"
		c.StopSignal = "SIGQUIT"
		c.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "53/udp": {}}
		c.Volumes = map[string]struct{}{"/data": {}}
		c.Labels = map[string]string{"org.example": "yes"}
		c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5e9, Retries: 3}
	}, []F{{Name: "srv/", Mode: 0o755}, {Name: "srv/index.html", Body: "hello"}})
	other := busybox(t, nil, []F{{Name: "etc/other", Body: "o"}})
	reg.Push(t, "test/app:1", app)
	reg.Push(t, "test/other:latest", other)

	s := openStore(t, Options{})
	ctx := context.Background()
	var events []Progress
	img, err := s.Pull(ctx, reg.Ref("test/app:1"), PullOptions{Progress: func(p Progress) { events = append(events, p) }})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	cfgDigest, _ := app.ConfigName()
	if img.ID != cfgDigest.String() {
		t.Errorf("ID %s, want config digest %s", img.ID, cfgDigest)
	}
	if want := reg.Ref("test/app:1"); len(img.RepoTags) != 1 || img.RepoTags[0] != want {
		t.Errorf("RepoTags %v, want %s", img.RepoTags, want)
	}
	md, _ := app.Digest()
	if want := reg.Ref("test/app") + "@" + md.String(); len(img.RepoDigests) != 1 || img.RepoDigests[0] != want {
		t.Errorf("RepoDigests %v, want %s", img.RepoDigests, want)
	}
	c := img.Config
	if strings.Join(c.Entrypoint, " ") != "/bin/sh -c" || strings.Join(c.Cmd, " ") != "echo hi" || c.WorkingDir != "/srv" ||
		c.User != "app" || c.StopSignal != "SIGQUIT" || strings.Join(c.ExposedPorts, ",") != "53/udp,8080/tcp" ||
		strings.Join(c.Volumes, ",") != "/data" || c.Labels["org.example"] != "yes" || c.Healthcheck == nil ||
		c.Healthcheck.Retries != 3 || c.Healthcheck.Interval != 5e9 || len(c.Env) != 1 {
		t.Errorf("config not exposed faithfully: %+v", c)
	}
	if len(img.Layers) != 2 || img.Size <= 0 {
		t.Fatalf("layers %+v size %d", img.Layers, img.Size)
	}
	lower := img.LowerDirs()
	if lower[0] != img.Layers[1].Dir || !filepath.IsAbs(lower[0]) {
		t.Errorf("LowerDirs not top first / absolute: %v", lower)
	}
	if b, err := os.ReadFile(filepath.Join(lower[0], "srv/index.html")); err != nil || string(b) != "hello" {
		t.Errorf("top layer content: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(lower[1], "bin/busybox")); err != nil {
		t.Errorf("base layer: %v", err)
	}
	sawBytes, sawComplete := false, false
	for _, e := range events {
		sawBytes = sawBytes || (e.Phase == PhaseDownloading && e.Current > 0 && e.Total > 0)
		sawComplete = sawComplete || e.Phase == PhaseComplete
	}
	if !sawBytes || !sawComplete {
		t.Errorf("progress events missing bytes or completion: %+v", events)
	}

	// Lookups.
	for _, ref := range []string{reg.Ref("test/app:1"), img.ID, trimAlgo(img.ID), img.ShortID(), img.RepoDigests[0]} {
		got, err := s.Get(ctx, ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	for _, ref := range []string{"busybox", reg.Ref("test/app:2"), "0123456789ab"} {
		if _, err := s.Get(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) err = %v, want ErrNotFound", ref, err)
		}
	}

	// A second image with the same base layer reuses its directory.
	events = nil
	img2, err := s.Pull(ctx, reg.Ref("test/other"), PullOptions{Progress: func(p Progress) { events = append(events, p) }})
	if err != nil {
		t.Fatalf("pull other: %v", err)
	}
	if img2.Layers[0].Dir != img.Layers[0].Dir {
		t.Errorf("base layer not shared: %s vs %s", img2.Layers[0].Dir, img.Layers[0].Dir)
	}
	exists := 0
	for _, e := range events {
		if e.Phase == PhaseExists {
			exists++
		}
	}
	if exists != 1 {
		t.Errorf("want 1 layer reported as existing, events %+v", events)
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "layers"))
	dirs := 0
	for _, e := range ents {
		if e.IsDir() {
			dirs++
		}
	}
	if dirs != 3 {
		t.Errorf("want 3 layer dirs (shared base + 2 tops), got %d", dirs)
	}

	// Pulling again changes nothing.
	before := snapshot(t, s)
	if _, err := s.Pull(ctx, reg.Ref("test/app:1"), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, s); after != before {
		t.Errorf("re-pull changed the store:\n%s\n---\n%s", before, after)
	}
	list, _ := s.List(ctx)
	if len(list) != 2 {
		t.Errorf("List: %d images", len(list))
	}
}

func TestPullBadInputLeavesStoreUnchanged(t *testing.T) {
	testenv.RequireRoot(t)
	good := busybox(t, nil, []F{{Name: "a", Body: "a"}})
	base := busybox(t, nil)
	hostileLayer, err := testimage.Layer([]F{{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../.."}, {Name: "up/pwned", Body: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	hostile, _ := mutate.AppendLayers(base, hostileLayer)
	oddLayer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		b, _ := testimage.Tar([]F{{Name: "x", Body: "x"}})
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType("application/vnd.example.unknown.layer"))
	if err != nil {
		t.Fatal(err)
	}
	odd, _ := mutate.AppendLayers(base, oddLayer)

	// Blob of the top layer of good, to be broken by the handler wrappers.
	goodLayers, _ := good.Layers()
	topDigest, _ := goodLayers[1].Digest()
	var mode string
	var mu sync.Mutex
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			m := mode
			mu.Unlock()
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+topDigest.String()) && m != "" {
				rec := &bufferedResponse{header: http.Header{}}
				h.ServeHTTP(rec, r)
				body := rec.body.Bytes()
				switch m {
				case "corrupt":
					body = append([]byte(nil), body...)
					body[len(body)/2] ^= 0xff
				case "truncate":
					body = body[:len(body)/2]
					rec.header.Set("Content-Length", fmt.Sprint(len(body)))
				}
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.code)
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := testregistry.StartInProcess(t, wrap)
	reg.Push(t, "t/good:1", good)
	reg.Push(t, "t/hostile:1", hostile)
	reg.Push(t, "t/odd:1", odd)

	cases := []struct {
		name, ref, mode string
		want            error
		msg             string
	}{
		{"unknown tag", reg.Ref("t/good:nope"), "", ErrNotFound, "manifest unknown"},
		{"unknown repo", reg.Ref("t/none:1"), "", ErrNotFound, "manifest unknown"},
		{"unreachable registry", "127.0.0.1:1/t/good:1", "", nil, "127.0.0.1:1"},
		{"digest mismatch", reg.Ref("t/good:1"), "corrupt", ErrDigestMismatch, "sha256"},
		{"truncated blob", reg.Ref("t/good:1"), "truncate", nil, topDigest.String()},
		{"unsupported media type", reg.Ref("t/odd:1"), "", ErrUnsupported, "application/vnd.example.unknown.layer"},
		{"hostile layer", reg.Ref("t/hostile:1"), "", ErrHostileLayer, "up/pwned"},
		{"bad reference", "Busybox", "", ErrInvalidReference, "Busybox"},
		{"bad platform", reg.Ref("t/good:1"), "", ErrUnsupported, "linux/arm64"},
	}
	s := openStore(t, Options{})
	// A previously pulled image with the same base layer must stay intact.
	reg.Push(t, "t/base:1", base)
	if _, err := s.Pull(context.Background(), reg.Ref("t/base:1"), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			mode = tc.mode
			mu.Unlock()
			before := snapshot(t, s)
			o := PullOptions{}
			if tc.name == "bad platform" {
				o.Platform = "linux/arm64"
			}
			_, err := s.Pull(context.Background(), tc.ref, o)
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Logf("error: %v", err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.msg) {
				t.Errorf("error should be one line containing %q: %q", tc.msg, msg)
			}
			if tc.name != "bad reference" {
				if r, _ := ParseReference(tc.ref); !strings.Contains(msg, r.String()) {
					t.Errorf("error does not name the image %s: %q", r, msg)
				}
			}
			if after := snapshot(t, s); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
			if ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp")); len(ents) != 0 {
				t.Errorf("tmp not cleaned: %v", ents)
			}
		})
	}
	mu.Lock()
	mode = ""
	mu.Unlock()
	if _, err := s.Pull(context.Background(), reg.Ref("t/good:1"), PullOptions{}); err != nil {
		t.Errorf("pull after failures: %v", err)
	}
}

type bufferedResponse struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = 200
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(c int) { b.code = c }

func TestPlatformResolution(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	amd := busybox(t, func(c *v1.Config) { c.Labels = map[string]string{"arch": "amd64"} })
	armBase := busybox(t, func(c *v1.Config) { c.Labels = map[string]string{"arch": "arm64"} })
	cf, _ := armBase.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture, cf.Variant = "arm64", "v8"
	arm, _ := mutate.ConfigFile(armBase, cf)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	reg.PushIndex(t, "multi/app:1", idx)
	s := openStore(t, Options{Platform: "linux/amd64"})
	ctx := context.Background()
	for _, tc := range []struct{ platform, want string }{{"", "amd64"}, {"linux/arm64", "arm64"}, {"linux/arm64/v8", "arm64"}} {
		img, err := s.Pull(ctx, reg.Ref("multi/app:1"), PullOptions{Platform: tc.platform})
		if err != nil {
			t.Fatalf("platform %q: %v", tc.platform, err)
		}
		if img.Config.Labels["arch"] != tc.want || img.Platform.Architecture != tc.want {
			t.Errorf("platform %q: got %v", tc.platform, img.Platform)
		}
		idxDigest, _ := idx.Digest()
		if !contains(img.RepoDigests, reg.Ref("multi/app")+"@"+idxDigest.String()) {
			t.Errorf("RepoDigests %v should hold the index digest", img.RepoDigests)
		}
	}
	_, err := s.Pull(ctx, reg.Ref("multi/app:1"), PullOptions{Platform: "linux/s390x"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8") {
		t.Errorf("missing platform: %v", err)
	}
}

func TestConcurrentPullsOfTheSameImage(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	img := busybox(t, nil, []F{{Name: "a", Body: strings.Repeat("a", 1<<20)}}, []F{{Name: "b", Body: "b"}})
	reg.Push(t, "c/app:1", img)
	dir := filepath.Join(t.TempDir(), "images")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	ids := make([]string, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate Stores on one dir behave like separate processes:
			// every lock is a separately opened file.
			s, err := Open(dir, Options{Logger: testLogger(t)})
			if err != nil {
				errs[i] = err
				return
			}
			got, err := s.Pull(context.Background(), reg.Ref("c/app:1"), PullOptions{})
			errs[i] = err
			if got != nil {
				ids[i] = got.ID
				for _, l := range got.Layers {
					if _, err := os.Stat(filepath.Join(l.Dir, "..", "layer.json")); err != nil {
						errs[i] = fmt.Errorf("layer %s incomplete: %v", l.DiffID, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Errorf("pull %d: id %s vs %s", i, ids[i], ids[0])
		}
	}
	s, _ := Open(dir, Options{})
	list, _ := s.List(context.Background())
	if len(list) != 1 || len(list[0].RepoTags) != 1 {
		t.Errorf("index after concurrent pulls: %+v", list)
	}
}

func TestOpenCleansInterruptedWork(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "images")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What a killed pull leaves: a half layer and a half blob in tmp/.
	half := filepath.Join(dir, "tmp", "layer-0123456789ab-1")
	os.MkdirAll(filepath.Join(half, "diff", "usr"), 0o755)
	os.WriteFile(filepath.Join(half, "blob"), []byte("partial"), 0o600)
	// While another store (process) holds a pull, nothing is removed.
	busy, err := lock(filepath.Join(dir, "gc.lock"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); err != nil {
		t.Fatalf("work of a running pull removed: %v", err)
	}
	busy.unlock()
	if _, err := Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover not removed: %v", err)
	}
	list, _ := s.List(context.Background())
	if len(list) != 0 {
		t.Errorf("leftover counted as an image: %v", list)
	}
}

func TestTagRemovePrune(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	a := busybox(t, nil, []F{{Name: "a", Body: "a"}})
	b := busybox(t, nil, []F{{Name: "b", Body: "b"}})
	reg.Push(t, "r/a:1", a)
	reg.Push(t, "r/b:1", b)
	used := map[string]bool{}
	s := openStore(t, Options{InUse: func(id string) (bool, error) { return used[id], nil }})
	ctx := context.Background()
	ia, err := s.Pull(ctx, reg.Ref("r/a:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := s.Pull(ctx, reg.Ref("r/b:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, reg.Ref("r/a:1"), "myapp:v1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "docker.io/library/myapp:v1")
	if err != nil || got.ID != ia.ID {
		t.Fatalf("tag: %v %v", got, err)
	}
	// Moving a tag takes it from the other image.
	if err := s.Tag(ctx, ib.ID, "myapp:v1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "myapp:v1"); got.ID != ib.ID {
		t.Errorf("tag not moved")
	}
	if got, _ := s.Get(ctx, ia.ID); contains(got.RepoTags, "docker.io/library/myapp:v1") {
		t.Errorf("old image keeps the moved tag: %v", got.RepoTags)
	}
	// b has two names: removing by ID needs force; removing one name untags.
	if _, err := s.Remove(ctx, ib.ID, RemoveOptions{}); !errors.Is(err, ErrConflict) {
		t.Errorf("rm by ID of a multi-name image: %v", err)
	}
	res, err := s.Remove(ctx, "myapp:v1", RemoveOptions{})
	if err != nil || len(res.Untagged) != 1 || len(res.Deleted) != 0 {
		t.Errorf("untag: %+v %v", res, err)
	}
	// In use: refused without force.
	used[ia.ID] = true
	before := snapshot(t, s)
	if _, err := s.Remove(ctx, reg.Ref("r/a:1"), RemoveOptions{}); !errors.Is(err, ErrInUse) {
		t.Errorf("rm of an image in use: %v", err)
	}
	if snapshot(t, s) != before {
		t.Errorf("refused rm changed the store")
	}
	if res, err := s.Prune(ctx, PruneOptions{All: true}); err != nil || len(res.Deleted) != 1 || res.Deleted[0] != ib.ID {
		t.Errorf("prune -a should delete only b: %+v %v", res, err)
	}
	if _, err := os.Stat(ib.Layers[1].Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("b's own layer kept after prune: %v", err)
	}
	if _, err := os.Stat(ia.Layers[0].Dir); err != nil {
		t.Errorf("shared base layer removed: %v", err)
	}
	// Forced while in use: untagged, but the image and its layers stay for
	// the container, as with Docker; prune takes it once it is unused.
	res, err = s.Remove(ctx, reg.Ref("r/a:1"), RemoveOptions{Force: true})
	if err != nil || len(res.Deleted) != 0 || len(res.Untagged) == 0 {
		t.Fatalf("rm -f of an image in use: %+v %v", res, err)
	}
	if got, err := s.Get(ctx, ia.ID); err != nil || len(got.RepoTags) != 0 {
		t.Fatalf("rm -f of an image in use: want it kept untagged, got %+v %v", got, err)
	}
	if _, err := os.Stat(ia.Layers[0].Dir); err != nil {
		t.Fatalf("rm -f removed a layer a container uses: %v", err)
	}
	if res, err := s.Prune(ctx, PruneOptions{}); err != nil || len(res.Deleted) != 0 {
		t.Fatalf("prune removed an image in use: %+v %v", res, err)
	}
	used[ia.ID] = false
	if pr, err := s.Prune(ctx, PruneOptions{}); err != nil || len(pr.Deleted) != 1 {
		t.Fatalf("prune of the unused dangling image: %+v %v", pr, err)
	}
	for _, sub := range []string{"layers", "blobs/sha256"} {
		ents, _ := os.ReadDir(filepath.Join(s.dir, sub))
		for _, e := range ents {
			t.Errorf("%s/%s left after removing every image", sub, e.Name())
		}
	}
	if _, err := s.Remove(ctx, "nothing:here", RemoveOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("rm unknown: %v", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	testenv.RequireRoot(t)
	reg := testregistry.StartInProcess(t, nil)
	img := busybox(t, func(c *v1.Config) { c.Cmd = []string{"echo", "saved"} }, []F{{Name: "etc/.wh.group"}, {Name: "x/", Mode: 0o750}})
	reg.Push(t, "s/app:1", img)
	src := openStore(t, Options{})
	ctx := context.Background()
	orig, err := src.Pull(ctx, reg.Ref("s/app:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, orig.ID, "app:saved"); err != nil {
		t.Fatal(err)
	}
	for _, format := range []SaveFormat{FormatDocker, FormatOCI} {
		t.Run(string(format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := src.Save(ctx, &buf, []string{"app:saved"}, SaveOptions{Format: format}); err != nil {
				t.Fatalf("save: %v", err)
			}
			dst := openStore(t, Options{})
			imgs, err := dst.Load(ctx, &buf, LoadOptions{})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(imgs) != 1 || imgs[0].ID != orig.ID {
				t.Fatalf("loaded %+v, want ID %s", imgs, orig.ID)
			}
			got, err := dst.Get(ctx, "app:saved")
			if err != nil {
				t.Fatalf("loaded image not named: %v", err)
			}
			if strings.Join(got.Config.Cmd, " ") != "echo saved" {
				t.Errorf("config: %+v", got.Config)
			}
			if _, err := os.Lstat(filepath.Join(got.LowerDirs()[0], "etc/group")); err != nil {
				t.Errorf("whiteout not unpacked: %v", err)
			}
		})
	}
	// A docker save tarball from another tool (ggcr's writer, uncompressed).
	var buf bytes.Buffer
	tag := mustTag(t, "other/tool:1")
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, Options{})
	if _, err := dst.Load(ctx, &buf, LoadOptions{}); err != nil {
		t.Fatalf("load foreign tarball: %v", err)
	}
	if _, err := dst.Get(ctx, "other/tool:1"); err != nil {
		t.Error(err)
	}
	// Garbage in: a clear error and an unchanged store.
	before := snapshot(t, dst)
	_, err = dst.Load(ctx, strings.NewReader("not a tar at all, not at all, not at all..........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), LoadOptions{})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("garbage load: %v", err)
	}
	if snapshot(t, dst) != before {
		t.Error("failed load changed the store")
	}
}

// TestSameLayerDifferentCompression: two images carry the same layer content
// compressed differently (same DiffID, different blob digests). The second
// pull adds only the blob and shares the unpacked dir.
func TestSameLayerDifferentCompression(t *testing.T) {
	testenv.RequireRoot(t)
	data, err := testimage.Tar([]F{{Name: "same/", Mode: 0o755}, {Name: "same/file", Body: strings.Repeat("content ", 4096)}})
	if err != nil {
		t.Fatal(err)
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	fast, err := tarball.LayerFromOpener(opener, tarball.WithCompressionLevel(1))
	if err != nil {
		t.Fatal(err)
	}
	best, err := tarball.LayerFromOpener(opener, tarball.WithCompressionLevel(9))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := fast.Digest()
	d2, _ := best.Digest()
	if d1 == d2 {
		t.Fatal("test needs two different compressed digests")
	}
	a, _ := mutate.AppendLayers(empty.Image, fast)
	b, _ := mutate.AppendLayers(empty.Image, best)
	cf, _ := b.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"variant": "b"}
	b, _ = mutate.ConfigFile(b, cf)
	for _, img := range []*v1.Image{&a, &b} {
		cf, _ := (*img).ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		*img, _ = mutate.ConfigFile(*img, cf)
	}
	reg := testregistry.StartInProcess(t, nil)
	reg.Push(t, "c/a:1", a)
	reg.Push(t, "c/b:1", b)
	s := openStore(t, Options{})
	ctx := context.Background()
	ia, err := s.Pull(ctx, reg.Ref("c/a:1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := s.Pull(ctx, reg.Ref("c/b:1"), PullOptions{})
	if err != nil {
		t.Fatalf("second image with the same DiffID: %v", err)
	}
	if ia.Layers[0].Dir != ib.Layers[0].Dir || ia.Layers[0].Digest == ib.Layers[0].Digest {
		t.Errorf("layers %+v vs %+v", ia.Layers[0], ib.Layers[0])
	}
	for _, d := range []v1.Hash{d1, d2} {
		if _, err := os.Stat(s.blobPath(d.String())); err != nil {
			t.Errorf("blob %s: %v", d, err)
		}
	}
	// Removing one keeps the shared dir and the other's blob.
	if _, err := s.Remove(ctx, reg.Ref("c/a:1"), RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ib.Layers[0].Dir); err != nil {
		t.Errorf("shared layer dir removed: %v", err)
	}
	if _, err := os.Stat(s.blobPath(d1.String())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a's blob kept: %v", err)
	}
	var buf bytes.Buffer
	if err := s.Save(ctx, &buf, []string{reg.Ref("c/b:1")}, SaveOptions{}); err != nil {
		t.Errorf("save after removing the sibling: %v", err)
	}
}
