// Package testregistry starts container registries on 127.0.0.1 for tests:
// Debian's docker-registry (the reference registry server, what CI installs)
// with a temporary config and storage, or go-containerregistry's in-process
// registry for unit tests that must not need root or packages. Both are
// stopped and their storage removed when the test ends.
package testregistry

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testenv"
)

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:PORT"; go-containerregistry and berth speak plain
	// HTTP to it without configuration (loopback).
	Host string
	// Dir is the storage directory (docker-registry only).
	Dir string
}

// Start runs Debian's docker-registry on a free loopback port with storage
// in t.TempDir() and deletes enabled, and stops it in t.Cleanup. It fails in
// CI and skips elsewhere when docker-registry is not installed.
func Start(t testing.TB) *Registry {
	t.Helper()
	bin := testenv.RequireCommand(t, "docker-registry", "apt-get install docker-registry")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	storage := filepath.Join(dir, "storage")
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: berth-test-secret
`, storage, host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Keep the registry away from any proxy settings of the test's env.
	cmd.Env = append(os.Environ(), "REGISTRY_STORAGE_DELETE_ENABLED=true")
	if err := cmd.Start(); err != nil {
		t.Fatalf("testregistry: start docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // only the process this test started
		<-exited
		logf.Close()
	})
	r := &Registry{Host: host, Dir: storage}
	if err := waitReady(host, exited); err != nil {
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("testregistry: docker-registry on %s: %v\nlog:\n%s", host, err, b)
	}
	return r
}

// StartInProcess serves go-containerregistry's in-memory registry on a
// loopback port. wrap, if not nil, wraps its handler (tests use it to
// corrupt or break responses). It stops in t.Cleanup.
func StartInProcess(t testing.TB, wrap func(http.Handler) http.Handler) *Registry {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Ref returns the reference of path ("repo/name:tag") in this registry.
func (r *Registry) Ref(path string) string {
	return r.Host + "/" + strings.TrimPrefix(path, "/")
}

// Push uploads img as ref. ref is either a path in this registry
// ("library/busybox:latest") or a full reference starting with r.Host.
func (r *Registry) Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	if !strings.HasPrefix(ref, r.Host+"/") {
		ref = r.Ref(ref)
	}
	nr, err := name.ParseReference(ref)
	if err != nil {
		t.Fatalf("testregistry: push %s: %v", ref, err)
	}
	if err := remote.Write(nr, img); err != nil {
		t.Fatalf("testregistry: push %s: %v", ref, err)
	}
}

// PushIndex uploads a multi-platform index as ref (see Push for ref).
func (r *Registry) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	if !strings.HasPrefix(ref, r.Host+"/") {
		ref = r.Ref(ref)
	}
	nr, err := name.ParseReference(ref)
	if err != nil {
		t.Fatalf("testregistry: push %s: %v", ref, err)
	}
	if err := remote.WriteIndex(nr, idx); err != nil {
		t.Fatalf("testregistry: push %s: %v", ref, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(host string, exited <-chan struct{}) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited during start")
		default:
		}
		resp, err := c.Get("http://" + host + "/v2/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 15s")
}
