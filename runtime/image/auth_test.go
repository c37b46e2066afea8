package image

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/internal/testregistry"
)

// TestPullWithDockerConfigCredentials: a registry that demands basic auth
// is pulled from with the credentials in $DOCKER_CONFIG/config.json, read
// through authn.DefaultKeychain (the store's default).
func TestPullWithDockerConfigCredentials(t *testing.T) {
	testenv.RequireRoot(t)
	const user, pass = "berth", "s3cret"
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	var pushing atomic.Bool
	pushing.Store(true)
	reg := testregistry.StartInProcess(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !pushing.Load() && r.Header.Get("Authorization") != want {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	reg.Push(t, "private/app:1", busybox(t, nil))
	pushing.Store(false)

	s := openStore(t, Options{})
	ctx := context.Background()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := s.Pull(ctx, reg.Ref("private/app:1"), PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), reg.Ref("private/app:1")) {
		t.Fatalf("pull without credentials: %v", err)
	}
	cfgDir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfgDir)
	if _, err := s.Pull(ctx, reg.Ref("private/app:1"), PullOptions{}); err != nil {
		t.Fatalf("pull with credentials from config.json: %v", err)
	}
}
