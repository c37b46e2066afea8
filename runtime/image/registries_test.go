package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testregistry"
)

func TestRegistryConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseRegistryConfig([]byte(`
registries:
  index.docker.io:
    mirrors: ["127.0.0.1:5000", "http://10.0.0.9:5000", "https://mirror.example.com/"]
  10.0.0.8:5000:
    insecure: true
  127.0.0.1:5000:
    insecure: true
`))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.Endpoints("docker.io"))
	want := "[{127.0.0.1:5000 true true} {10.0.0.9:5000 true true} {mirror.example.com false true} {docker.io false false}]"
	if got != want {
		t.Errorf("endpoints\n got %s\nwant %s", got, want)
	}
	if got := fmt.Sprint(c.Endpoints("10.0.0.8:5000")); got != "[{10.0.0.8:5000 true false}]" {
		t.Errorf("insecure registry endpoints: %s", got)
	}
	if got := fmt.Sprint(c.Endpoints("quay.io")); got != "[{quay.io false false}]" {
		t.Errorf("unconfigured: %s", got)
	}
	for _, bad := range []struct{ yaml, msg string }{
		{"registries:\n  docker.io:\n    mirrorz: [a]\n", "mirrorz"},
		{"registry: {}\n", "registry"},
		{"registries:\n  docker.io:\n    mirrors: [\"a b\"]\n", "mirror 1"},
		{"registries:\n  docker.io:\n    mirrors: [\"host/path\"]\n", "host/path"},
		{"registries: [1]\n", "line 1"},
	} {
		if _, err := ParseRegistryConfig([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: err = %v, want mention of %q", bad.yaml, err, bad.msg)
		}
	}
	// The first existing file wins; none is an empty config; errors name the file.
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(b, []byte("registries:\n  docker.io:\n    mirrors: [m:1]\n"), 0o600)
	c, err = LoadRegistryConfig(a, b)
	if err != nil || c.File != b || len(c.Endpoints("docker.io")) != 2 {
		t.Errorf("LoadRegistryConfig: %+v %v", c, err)
	}
	os.WriteFile(a, []byte("bogus: 1\n"), 0o600)
	if _, err := LoadRegistryConfig(a, b); err == nil || !strings.Contains(err.Error(), a) {
		t.Errorf("bad file: %v", err)
	}
}

// loopbackOnly fails every request to a host outside 127.0.0.0/8, so that a
// broken mirror test can never reach Docker Hub.
type loopbackOnly struct {
	mu    sync.Mutex
	hosts []string
}

func (l *loopbackOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.hosts = append(l.hosts, r.URL.Host)
	l.mu.Unlock()
	if !strings.HasPrefix(r.URL.Host, "127.") {
		return nil, fmt.Errorf("test transport: refusing non-loopback host %s", r.URL.Host)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func writeRegistries(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMirrorForDockerHub(t *testing.T) {
	testenv.RequireRoot(t)
	empty := testregistry.StartInProcess(t, nil)
	mirror := testregistry.StartInProcess(t, nil)
	mirror.Push(t, "library/busybox:latest", busybox(t, nil))
	cfg := writeRegistries(t, fmt.Sprintf("registries:\n  docker.io:\n    mirrors: [\"127.0.0.1:1\", %q, %q]\n", empty.Host, mirror.Host))
	tr := &loopbackOnly{}
	s := openStore(t, Options{RegistryConfigFiles: []string{cfg}, Transport: tr})
	var fallbacks []string
	img, err := s.Pull(context.Background(), "busybox", PullOptions{Progress: func(p Progress) {
		if p.Phase == PhaseFallback {
			fallbacks = append(fallbacks, p.Message)
		}
	}})
	if err != nil {
		t.Fatalf("pull busybox through the mirror: %v", err)
	}
	if fmt.Sprint(img.RepoTags) != "[docker.io/library/busybox:latest]" || !strings.HasPrefix(img.RepoDigests[0], "docker.io/library/busybox@sha256:") {
		t.Errorf("names: %v %v", img.RepoTags, img.RepoDigests)
	}
	if len(fallbacks) != 2 || !strings.Contains(fallbacks[0], "127.0.0.1:1") || !strings.Contains(fallbacks[1], empty.Host) {
		t.Errorf("fallbacks: %q", fallbacks)
	}
	for _, h := range tr.hosts {
		if !strings.HasPrefix(h, "127.") {
			t.Errorf("contacted %s", h)
		}
	}
}

func TestMirrorFallsBackToOrigin(t *testing.T) {
	testenv.RequireRoot(t)
	origin := testregistry.StartInProcess(t, nil)
	broken := testregistry.StartInProcess(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) })
	})
	origin.Push(t, "app/x:1", busybox(t, nil))
	cfg := writeRegistries(t, fmt.Sprintf("registries:\n  %s:\n    mirrors: [%q, \"127.0.0.1:1\"]\n", origin.Host, broken.Host))
	s := openStore(t, Options{RegistryConfigFiles: []string{cfg}, Transport: &loopbackOnly{}})
	img, err := s.Pull(context.Background(), origin.Ref("app/x:1"), PullOptions{})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if img.RepoTags[0] != origin.Ref("app/x:1") {
		t.Errorf("tags %v", img.RepoTags)
	}
	// Everything failing: one error naming the image, the origin's failure
	// and the mirrors'.
	_, err = s.Pull(context.Background(), origin.Ref("app/missing:1"), PullOptions{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{origin.Ref("app/missing:1"), broken.Host, "127.0.0.1:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
