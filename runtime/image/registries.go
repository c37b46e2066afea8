package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"
)

// RegistryConfig is registries.yaml: mirrors and insecure (plain HTTP)
// registries, as Docker's registry-mirrors and insecure-registries.
//
//	registries:
//	  docker.io:
//	    mirrors: ["127.0.0.1:5000", "https://mirror.example.com"]
//	  registry.internal:5000:
//	    insecure: true
//
// A mirror is tried in order before the registry itself; a mirror that fails
// (unreachable, error status, missing image, bad content) falls back to the
// next and finally to the registry. A mirror written with "http://" is
// spoken to over plain HTTP; otherwise its own entry's insecure flag applies.
// go-containerregistry already uses plain HTTP for localhost, 127.0.0.0/8
// and private addresses.
type RegistryConfig struct {
	// File is the file the configuration came from ("" for none).
	File       string                         `yaml:"-"`
	Registries map[string]RegistryConfigEntry `yaml:"registries"`
}

// RegistryConfigEntry configures one registry host (docker.io for Hub).
type RegistryConfigEntry struct {
	Mirrors  []string `yaml:"mirrors"`
	Insecure bool     `yaml:"insecure"`
}

// Endpoint is one place to fetch a repository from.
type Endpoint struct {
	Host     string // host[:port]
	Insecure bool   // plain HTTP
	Mirror   bool   // false for the registry itself
}

// LoadRegistryConfig reads the first of files that exists. None existing is
// an empty configuration.
func LoadRegistryConfig(files ...string) (*RegistryConfig, error) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registry config: %w", err)
		}
		c, err := ParseRegistryConfig(b)
		if err != nil {
			return nil, fmt.Errorf("registry config %s: %w", f, err)
		}
		c.File = f
		return c, nil
	}
	return &RegistryConfig{Registries: map[string]RegistryConfigEntry{}}, nil
}

// ParseRegistryConfig parses registries.yaml. Unknown keys are errors naming
// the line.
func ParseRegistryConfig(b []byte) (*RegistryConfig, error) {
	c := &RegistryConfig{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if c.Registries == nil {
		c.Registries = map[string]RegistryConfigEntry{}
	}
	norm := map[string]RegistryConfigEntry{}
	for host, e := range c.Registries {
		h := canonicalHost(host)
		if _, err := name.NewRegistry(h); err != nil || strings.ContainsAny(h, "/ ") {
			return nil, fmt.Errorf("registries: %q is not a registry host[:port]", host)
		}
		for i, m := range e.Mirrors {
			mh := strings.TrimPrefix(strings.TrimPrefix(m, "https://"), "http://")
			mh = strings.TrimSuffix(mh, "/")
			if _, err := name.NewRegistry(mh); err != nil || mh == "" || strings.ContainsAny(mh, "/ ") {
				return nil, fmt.Errorf("registries: %s: mirror %d %q is not [http[s]://]host[:port]", host, i+1, m)
			}
		}
		norm[h] = e
	}
	c.Registries = norm
	return c, nil
}

// canonicalHost maps Docker Hub's aliases to docker.io.
func canonicalHost(h string) string {
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// Endpoints lists where to fetch from for registry host, mirrors first.
func (c *RegistryConfig) Endpoints(host string) []Endpoint {
	host = canonicalHost(host)
	var out []Endpoint
	e := c.Registries[host]
	for _, m := range e.Mirrors {
		ep := Endpoint{Mirror: true}
		switch {
		case strings.HasPrefix(m, "http://"):
			ep.Insecure = true
		case strings.HasPrefix(m, "https://"):
		default:
			ep.Insecure = c.Registries[canonicalHost(strings.TrimSuffix(m, "/"))].Insecure
		}
		ep.Host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "https://"), "http://"), "/")
		out = append(out, ep)
	}
	return append(out, Endpoint{Host: host, Insecure: e.Insecure})
}

// Insecure reports whether host is configured for plain HTTP.
func (c *RegistryConfig) Insecure(host string) bool {
	return c.Registries[canonicalHost(host)].Insecure
}
