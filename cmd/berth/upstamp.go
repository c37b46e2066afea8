package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/upstamp"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/spec"
)

// upStampKey is the key berth's launcher computed for this invocation
// (internal/upstamp); empty when berth was started some other way.
var upStampKey string

// takeUpStampKey reads the launcher's key and removes it from the
// environment, so that no supervisor or container inherits it.
func takeUpStampKey() {
	if k, ok := os.LookupEnv(upstamp.EnvKey); ok {
		os.Unsetenv(upstamp.EnvKey)
		if upstamp.ValidKey(k) {
			upStampKey = k
		}
	}
}

// manifestWarned is set when loading printed a warning: a run that prints
// something is not one the launcher may answer silently.
var manifestWarned atomic.Bool

// convergedFacts is called by `up -d` under the project lock, once the
// project is converged (a no-op, or an apply that succeeded). It returns
// the facts of a stamp that lets the launcher answer the same invocation
// again without the full CLI (all but the supervisor's: see
// writeUpStamp), or nil when:
//   - the launcher did not ask for one (upStampKey), some input of the
//     manifest is unknown, or loading printed a warning;
//   - a fresh observation plans something or warns of something, or a
//     repeated up would test host ports;
//   - the facts taken before that observation differ from those taken
//     after it: the plan must have been made on the state the stamp
//     describes.
//
// obs, when not nil, is an observation just made (it names the containers
// whose files the first snapshot covers). Failing to stamp is never an
// error: the next up just runs in full.
func (c *composeEnv) convergedFacts(ctx context.Context, p *spec.Project, popts reconciler.PlanOptions, obs *reconciler.Observed) *upstamp.Stamp {
	if upStampKey == "" || !p.InputsComplete || len(p.Warnings) > 0 || manifestWarned.Load() {
		return nil
	}
	observe := func() (*reconciler.Observed, error) {
		return reconciler.Observe(ctx, c.deps, p.Name, reconciler.ObserveOptions{Images: imageRefs(p), Store: c.store})
	}
	var err error
	if obs == nil {
		if obs, err = observe(); err != nil {
			return nil
		}
	}
	before, err := c.upFacts(p, obs.Containers)
	if err != nil {
		c.log.Debug("no up stamp", "err", err)
		return nil
	}
	if obs, err = observe(); err != nil {
		return nil
	}
	plan, err := reconciler.PlanUp(p, obs, popts)
	if err != nil || !plan.Empty() || len(plan.Warnings) > 0 || portsChecked(p, popts, obs) || !sameProject(c.store, p) {
		return nil
	}
	after, err := c.upFacts(p, obs.Containers)
	if err != nil || !before.Equal(after) {
		return nil
	}
	return after
}

// writeUpStamp adds the supervisor to st (the stamp holds only while the
// supervisor that runs this manifest lives) and writes it.
func (c *composeEnv) writeUpStamp(st *upstamp.Stamp) {
	if st == nil {
		return
	}
	pid := c.store.SupervisorPid()
	if pid == 0 {
		return
	}
	for _, f := range [][2]string{{upstamp.KindFile, c.store.PidFile()}, {upstamp.KindProc, strconv.Itoa(pid)}} {
		if err := st.Add(f[0], f[1]); err != nil {
			return
		}
	}
	if st.Facts[len(st.Facts)-1].Value == upstamp.Absent {
		return // the supervisor just ended
	}
	if err := upstamp.Write(filepath.Join(c.g.Root, upstamp.DirName), upStampKey, st); err != nil {
		c.log.Debug("no up stamp", "err", err)
	}
}

// portsChecked reports whether a repeated up would test its host ports
// (checkHostPorts does for services in scope with no running container):
// that test's answer depends on other programs, so no stamp can hold it.
func portsChecked(p *spec.Project, popts reconciler.PlanOptions, obs *reconciler.Observed) bool {
	scope, err := reconciler.Scope(p, popts.Services, popts.NoDeps)
	if err != nil {
		return true
	}
	running := map[string]bool{}
	for _, c := range obs.Containers {
		if c.Running() {
			running[c.Service()] = true
		}
	}
	for _, s := range p.Services {
		if scope[s.Name] && len(s.Ports) > 0 && !running[s.Name] {
			return true
		}
	}
	return false
}

// upFacts lists what a no-op `up` of p reads: the manifest's inputs, and
// the state files behind reconciler.Observe, the supervisor check and the
// plan (see upstamp's doc). Keep it in step with what those read.
func (c *composeEnv) upFacts(p *spec.Project, cs []reconciler.Container) (*upstamp.Stamp, error) {
	st := &upstamp.Stamp{Project: p.Name, Lock: filepath.Join(c.store.Dir(), "lock")}
	var facts [][2]string
	for _, in := range p.Inputs {
		// The manifest was read at LoadStarted; its inputs are hashed now.
		if err := upstamp.Settled(in, p.LoadStarted); err != nil {
			return nil, err
		}
		facts = append(facts, [2]string{upstamp.KindFile, in})
	}
	facts = append(facts, [2]string{upstamp.KindFile, "/proc/sys/kernel/random/boot_id"})

	// Containers: the set (any container added shows in the listing), and
	// for each of the project's its state, exit record and process.
	containers := c.g.stateDir("containers")
	facts = append(facts, [2]string{upstamp.KindList, containers})
	for _, ct := range cs {
		dir := filepath.Join(containers, ct.ID)
		for _, f := range []string{"state.json", "exit.json"} {
			facts = append(facts, [2]string{upstamp.KindFile, filepath.Join(dir, f)})
		}
		if ct.Pid > 0 {
			facts = append(facts, [2]string{upstamp.KindProc, strconv.Itoa(ct.Pid)})
		}
		// Listing a container checks that its shim lives (runtime.refresh).
		if shim := shimPid(filepath.Join(dir, "state.json")); shim > 0 {
			facts = append(facts, [2]string{upstamp.KindProc, strconv.Itoa(shim)})
		}
	}

	// Images, networks and volumes: the image index, and every network's
	// and volume's record (their labels say which project owns them).
	facts = append(facts, [2]string{upstamp.KindFile, filepath.Join(c.g.stateDir("images"), "index.json")})
	for _, kind := range []struct{ dir, file string }{{"networks", "network.json"}, {"volumes", "meta.json"}} {
		dir := c.g.stateDir(kind.dir)
		facts = append(facts, [2]string{upstamp.KindList, dir})
		ents, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				facts = append(facts, [2]string{upstamp.KindFile, filepath.Join(dir, e.Name(), kind.file)})
			}
		}
	}

	// The project's own state: what up last applied, the configs and
	// user-stop markers the planner reads, its sandboxes. (The supervisor
	// is added by writeUpStamp.)
	pdir := c.store.Dir()
	facts = append(facts,
		[2]string{upstamp.KindFile, filepath.Join(pdir, "project.json")},
		[2]string{upstamp.KindList, filepath.Join(pdir, "configs")},
		[2]string{upstamp.KindList, filepath.Join(pdir, "stopped")},
		[2]string{upstamp.KindList, filepath.Join(pdir, "sandboxes")},
	)
	for _, f := range facts {
		if err := st.Add(f[0], f[1]); err != nil {
			return nil, err
		}
		// The observation saw these processes alive; gone now, the state
		// it planned on is gone too.
		if last := st.Facts[len(st.Facts)-1]; last.Kind == upstamp.KindProc && last.Value == upstamp.Absent {
			return nil, fmt.Errorf("process %s ended", last.Path)
		}
	}
	return st, nil
}

// shimPid reads the shim's pid from a container's state.json; 0 when
// there is none.
func shimPid(stateFile string) int {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return 0
	}
	var st runtime.State
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.ShimPid
}

// dropUpStamps removes the project's stamps: called by every command that
// takes the project lock, before it changes anything.
func (c *composeEnv) dropUpStamps() {
	if err := upstamp.Remove(filepath.Join(c.g.Root, upstamp.DirName), c.project.Name); err != nil {
		c.log.Debug("drop up stamps", "err", err)
	}
}
