package image

import (
	"errors"
	"testing"
)

func TestParseReference(t *testing.T) {
	t.Parallel()
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		in, want, familiar string
	}{
		{"mariadb", "docker.io/library/mariadb:latest", "mariadb:latest"},
		{"mariadb:11", "docker.io/library/mariadb:11", "mariadb:11"},
		{"user/app:1", "docker.io/user/app:1", "user/app:1"},
		{"docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"host:5000/x@" + dgst, "host:5000/x@" + dgst, "host:5000/x@" + dgst},
		{"host:5000/x:t@" + dgst, "host:5000/x:t@" + dgst, "host:5000/x:t@" + dgst},
		{"localhost/app", "localhost/app:latest", "localhost/app:latest"},
		{"127.0.0.1:5000/a/b/c:v", "127.0.0.1:5000/a/b/c:v", "127.0.0.1:5000/a/b/c:v"},
		{"ghcr.io/o/r:1.2.3", "ghcr.io/o/r:1.2.3", "ghcr.io/o/r:1.2.3"},
	}
	for _, tc := range cases {
		r, err := ParseReference(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, r.String(), tc.want)
		}
		if r.Familiar() != tc.familiar {
			t.Errorf("%q: familiar %q, want %q", tc.in, r.Familiar(), tc.familiar)
		}
	}
	for _, bad := range []string{"", "Busybox", "busybox:", "a//b", "busybox@sha256:123", ":tag", "busybox:la test", "-x/y"} {
		if _, err := ParseReference(bad); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("%q: err = %v, want ErrInvalidReference", bad, err)
		} else if len(err.Error()) < len(bad) || err.Error() == "" {
			t.Errorf("%q: unhelpful error %q", bad, err)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Platform{
		"linux/amd64":    {OS: "linux", Architecture: "amd64"},
		"linux/arm64/v8": {OS: "linux", Architecture: "arm64", Variant: "v8"},
	} {
		got, err := ParsePlatform(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
