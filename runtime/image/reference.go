package image

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Reference is a parsed, normalized image reference as Docker understands it:
// "mariadb" is docker.io/library/mariadb:latest, "user/app:1" is
// docker.io/user/app:1, "host:5000/x@sha256:..." keeps its host.
type Reference struct {
	Domain string // registry host[:port], "docker.io" for Docker Hub
	Path   string // repository path inside the registry, e.g. library/mariadb
	Tag    string // "" when pinned by digest only
	Digest string // "" unless pinned, e.g. sha256:...
}

// ParseReference normalizes s the way the docker CLI does. A reference with
// neither tag nor digest gets the tag "latest".
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("image reference %q: empty: %w", s, ErrInvalidReference)
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("image reference %q: %v: %w", s, err, ErrInvalidReference)
	}
	n = reference.TagNameOnly(n)
	r := Reference{Domain: reference.Domain(n), Path: reference.Path(n)}
	if t, ok := n.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := n.(reference.Digested); ok {
		r.Digest = d.Digest().String()
		// Docker pulls name:tag@digest by digest; the tag is informational.
	}
	return r, nil
}

// Name is the repository without tag or digest: docker.io/library/busybox.
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String is the full normalized form: name:tag, name@digest or name:tag@digest.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Familiar is the short form Docker prints: busybox:latest, user/app:1,
// host:5000/x:y.
func (r Reference) Familiar() string {
	n, err := reference.ParseNormalizedNamed(r.String())
	if err != nil {
		return r.String()
	}
	return reference.FamiliarString(n)
}

// TagString is name:tag (empty when the reference has no tag): the key under
// which a tag is stored.
func (r Reference) TagString() string {
	if r.Tag == "" {
		return ""
	}
	return r.Name() + ":" + r.Tag
}

// looksLikeID reports whether s could be an image ID or ID prefix rather than
// a name: hex only, optionally with "sha256:".
func looksLikeID(s string) (hex string, ok bool) {
	s = strings.TrimPrefix(s, "sha256:")
	if s == "" || len(s) > 64 {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return s, true
}
