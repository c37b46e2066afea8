package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/upstamp"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/spec"
)

// appliedDir holds, per project, the record that lets `down` take the
// project as up applied it (project.json) instead of loading the
// manifest again: compose-go's load costs ≈ 30 ms, a tenth of a down.
// The record is an upstamp.Stamp keyed by the load's invocation (working
// directory, the global flags that choose and load the manifest, the
// environment, the binary), with the manifest's inputs and project.json
// as facts: while they all hold, a load would give the project up saved.
const appliedDir = "applied"

// loadKey hashes what decides a load besides the files' contents.
func (g *globalOptions) loadKey() (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	args := []string{"load", "--project-name", g.ProjectName, "--project-directory", g.ProjectDirectory}
	for _, f := range g.Files {
		args = append(args, "--file", f)
	}
	for _, p := range g.Profiles {
		args = append(args, "--profile", p)
	}
	for _, e := range g.EnvFiles {
		args = append(args, "--env-file", e)
	}
	return upstamp.Key(cwd, args, os.Environ(), exe)
}

// recordApplied is called by up once project.json holds p. A load that
// warned, or whose inputs are not all known, is not recorded: down must
// then load (and warn) as before.
func (c *composeEnv) recordApplied(p *spec.Project) {
	dir := filepath.Join(c.g.Root, appliedDir)
	upstamp.Remove(dir, p.Name)
	if !p.InputsComplete || len(p.Warnings) > 0 || manifestWarned.Load() {
		return
	}
	key, err := c.g.loadKey()
	if err != nil {
		return
	}
	st := &upstamp.Stamp{Project: p.Name, Lock: filepath.Join(c.store.Dir(), "lock")}
	for _, in := range p.Inputs {
		if upstamp.Settled(in, p.LoadStarted) != nil || st.Add(upstamp.KindFile, in) != nil {
			return
		}
	}
	if st.Add(upstamp.KindFile, filepath.Join(c.store.Dir(), "project.json")) != nil {
		return
	}
	if err := upstamp.Write(dir, key, st); err != nil {
		c.log.Debug("no applied record", "err", err)
	}
}

// appliedProject returns the project as up last applied it, when the
// manifest would load to it again: same invocation, same inputs, and
// project.json unchanged since.
func (g *globalOptions) appliedProject() (*spec.Project, bool) {
	key, err := g.loadKey()
	if err != nil {
		return nil, false
	}
	st, err := upstamp.Find(filepath.Join(g.Root, appliedDir), key)
	if err != nil || st.Changed() != nil {
		return nil, false
	}
	store, err := reconciler.OpenStore(g.Root, st.Project)
	if err != nil {
		return nil, false
	}
	p, err := store.LoadProject()
	if err != nil || p.Name != st.Project {
		return nil, false
	}
	if os.Getenv(upstamp.EnvKey+"_DEBUG") != "" {
		fmt.Fprintln(os.Stderr, "berth: the project as applied, not loaded again")
	}
	return p, true
}

// forgetApplied drops the project's record (down removed what it names).
func (c *composeEnv) forgetApplied() {
	upstamp.Remove(filepath.Join(c.g.Root, appliedDir), c.project.Name)
}
