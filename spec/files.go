package spec

import (
	"path"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// File kinds: Compose's top-level secrets and configs, as a service mounts
// them.
const (
	FileSecret = "secret"
	FileConfig = "config"
)

// Default mount directories, as Docker Compose uses outside Swarm: a
// secret without a target is /run/secrets/<name>, a config /<name>; a
// relative target is taken under the same directory.
const (
	secretsDir = "/run/secrets"
	configsDir = "/"
)

// FileMount is one secret or config mounted into a service's containers,
// resolved against the project's top-level secrets/configs. Its content
// comes from File (a host file, bind-mounted read-only) or, for
// `environment:` and `content:` sources, from Content (written to a file
// the container gets read-only).
type FileMount struct {
	Kind   string `yaml:"kind" json:"kind"`     // FileSecret or FileConfig
	Source string `yaml:"source" json:"source"` // key of the top-level secret/config
	Target string `yaml:"target" json:"target"` // absolute path in the container
	// File is the absolute host path for a `file:` source.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// Content is the value of an `environment:` or `content:` source. It is
	// kept out of `berth config` output (it may be a secret).
	Content    string `yaml:"-" json:"content,omitempty"`
	HasContent bool   `yaml:"-" json:"has_content,omitempty"`
	// UID and GID own the file in the container, Mode its permissions;
	// unset means root:root and 0444.
	UID  string  `yaml:"uid,omitempty" json:"uid,omitempty"`
	GID  string  `yaml:"gid,omitempty" json:"gid,omitempty"`
	Mode *uint32 `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// files resolves a service's `secrets:` and `configs:` against the
// project's definitions (compose-go has already refused references to
// undefined ones).
func (c *converter) files(base string, cp *types.Project, s types.ServiceConfig) []FileMount {
	var out []FileMount
	for i, ref := range s.Secrets {
		def, ok := cp.Secrets[ref.Source]
		out = c.fileMount(out, base+".secrets["+strconv.Itoa(i)+"]", FileSecret, types.FileReferenceConfig(ref), types.FileObjectConfig(def), ok, cp.Environment)
	}
	for i, ref := range s.Configs {
		def, ok := cp.Configs[ref.Source]
		out = c.fileMount(out, base+".configs["+strconv.Itoa(i)+"]", FileConfig, types.FileReferenceConfig(ref), types.FileObjectConfig(def), ok, cp.Environment)
	}
	return out
}

func (c *converter) fileMount(out []FileMount, key, kind string, ref types.FileReferenceConfig, def types.FileObjectConfig, found bool, env types.Mapping) []FileMount {
	top := kind + "s." + ref.Source
	if !found {
		c.fail(key, "%s %q is not defined in the top-level %ss", kind, ref.Source, kind)
		return out
	}
	fm := FileMount{Kind: kind, Source: ref.Source, UID: ref.UID, GID: ref.GID}
	if ref.Mode != nil {
		m := uint32(*ref.Mode)
		fm.Mode = &m
	}
	dir := secretsDir
	if kind == FileConfig {
		dir = configsDir
	}
	switch t := ref.Target; {
	case t == "":
		fm.Target = path.Join(dir, ref.Source)
	case path.IsAbs(t):
		fm.Target = path.Clean(t)
	default:
		fm.Target = path.Join(dir, t)
	}
	switch {
	case bool(def.External):
		c.fail(top+".external", "external %ss live in a Swarm cluster; berth runs without one: use file:, environment: or content:", kind)
		return out
	case def.File != "":
		fm.File = def.File
	case def.Environment != "":
		v, ok := env[def.Environment]
		if !ok {
			c.fail(top+".environment", "variable %s is not set", def.Environment)
			return out
		}
		fm.Content, fm.HasContent = v, true
	case def.Content != "":
		fm.Content, fm.HasContent = def.Content, true
	default:
		c.fail(top, "needs one of file:, environment: or content:")
		return out
	}
	return append(out, fm)
}
