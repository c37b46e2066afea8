package testregistry

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func roundTrip(t *testing.T, r *Registry) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	r.Push(t, "probe/img:1", img)
	ref, _ := name.ParseReference(r.Ref("probe/img:1"))
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("digest %s, want %s", d, want)
	}
	if !strings.HasPrefix(r.Host, "127.0.0.1:") {
		t.Errorf("Host %q not on loopback", r.Host)
	}
}

func TestDockerRegistry(t *testing.T) {
	r := Start(t)
	roundTrip(t, r)
	resp, err := http.Get("http://" + r.Host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "probe/img") {
		t.Errorf("catalog %s", b)
	}
}

func TestInProcess(t *testing.T) {
	var hits atomic.Int64
	r := StartInProcess(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { hits.Add(1); h.ServeHTTP(w, req) })
	})
	roundTrip(t, r)
	if hits.Load() == 0 {
		t.Error("wrapper not used")
	}
}
