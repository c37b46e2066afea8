package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/berth-dev/berth/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// registriesFile mirrors the shape of berth's registries.yaml (owned by
// runtime/image, RegistryConfig); a test checks that berth parses what this
// writes.
type registriesFile struct {
	Registries map[string]registryEntry `yaml:"registries"`
}

type registryEntry struct {
	Mirrors  []string `yaml:"mirrors,omitempty"`
	Insecure bool     `yaml:"insecure,omitempty"`
}

const registriesHeader = "# berth registries.yaml: mirrors are tried in order before the registry itself.\n" +
	"# Written by examples/images/registry.sh; see examples/images/README.md.\n"

// runMirror makes mirror the first mirror of registry in a registries.yaml,
// keeping every other entry. The file is written only when it changes.
func runMirror(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	file := fs.String("file", "", "registries.yaml to create or update")
	registry := fs.String("registry", "docker.io", "registry host the mirror stands in for")
	mirror := fs.String("mirror", "", "mirror, as [http://]host:port")
	remove := fs.Bool("remove", false, "remove the mirror instead of adding it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || *mirror == "" || fs.NArg() != 0 {
		return errors.New("mirror needs -file and -mirror\n" + usage)
	}
	changed, err := setMirror(*file, *registry, *mirror, *remove)
	if err != nil {
		return err
	}
	state := "unchanged"
	if changed {
		state = "written"
	}
	_, err = fmt.Fprintf(stdout, "%s %s\n", *file, state)
	return err
}

func setMirror(file, registry, mirror string, remove bool) (bool, error) {
	var rf registriesFile
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("registries file: %w", err)
	default:
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil && !errors.Is(err, io.EOF) {
			return false, fmt.Errorf("registries file %s: %w", file, err)
		}
	}
	if rf.Registries == nil {
		rf.Registries = map[string]registryEntry{}
	}
	e := rf.Registries[registry]
	i := slices.Index(e.Mirrors, mirror)
	switch {
	case remove && i < 0, !remove && i == 0:
		return false, nil
	case remove:
		e.Mirrors = slices.Delete(e.Mirrors, i, i+1)
	default:
		if i > 0 {
			e.Mirrors = slices.Delete(e.Mirrors, i, i+1)
		}
		e.Mirrors = append([]string{mirror}, e.Mirrors...)
	}
	if len(e.Mirrors) == 0 && !e.Insecure {
		delete(rf.Registries, registry)
	} else {
		rf.Registries[registry] = e
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(rf); err != nil {
		return false, fmt.Errorf("registries file %s: %w", file, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return false, fmt.Errorf("registries file: %w", err)
	}
	if err := atomicfile.WriteFile(file, append([]byte(registriesHeader), out.Bytes()...), 0o644); err != nil {
		return false, err
	}
	return true, nil
}
