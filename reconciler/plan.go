package reconciler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/spec"
)

// Kind is what an Action does.
type Kind int

const (
	CreateNetwork Kind = iota
	CreateVolume
	PullImage
	RemoveContainer
	CreateContainer
	RecreateContainer
	StartContainer
)

var kindWords = [...]string{
	CreateNetwork:     "create network",
	CreateVolume:      "create volume",
	PullImage:         "pull image",
	RemoveContainer:   "remove container",
	CreateContainer:   "create container",
	RecreateContainer: "recreate container",
	StartContainer:    "start container",
}

func (k Kind) String() string {
	if int(k) < len(kindWords) {
		return kindWords[k]
	}
	return "action(" + strconv.Itoa(int(k)) + ")"
}

// Action is one step of a plan.
type Action struct {
	Kind Kind
	// Object names what is acted on: the network, volume or image name,
	// or the container name.
	Object  string
	Service string // "" for networks and volumes
	Number  int    // replica number for container actions
	// Old is the existing container for RemoveContainer, RecreateContainer
	// and StartContainer.
	Old *Container
	// Cause says why, for --dry-run and logs.
	Cause string
}

func (a Action) String() string { return a.Kind.String() + " " + a.Object + ": " + a.Cause }

// Edge says that service After waits for service Before, and how.
type Edge struct {
	Before    string
	Condition string // spec.Condition*; "" for ordering only (links, network_mode...)
	Required  bool
}

// ServiceStep is one node of the plan's DAG: the container actions of one
// service, run after the steps of the services it depends on.
type ServiceStep struct {
	Service string
	Deps    []Edge // sorted by Before
	Actions []Action
}

// Plan is an ordered list of actions. Prepare (networks, volumes, images)
// runs first, then Remove (orphans, scale-down), then the service steps in
// dependency order; Services is topologically sorted with ties by name.
type Plan struct {
	Project  string
	Prepare  []Action
	Remove   []Action
	Services []ServiceStep
	Warnings []string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	if len(p.Prepare) > 0 || len(p.Remove) > 0 {
		return false
	}
	for _, s := range p.Services {
		if len(s.Actions) > 0 {
			return false
		}
	}
	return true
}

// Actions returns every action in execution order.
func (p *Plan) Actions() []Action {
	out := append(append([]Action(nil), p.Prepare...), p.Remove...)
	for _, s := range p.Services {
		out = append(out, s.Actions...)
	}
	return out
}

// String prints the plan one action per line, in execution order, with the
// dependency edges of each service that has actions. Golden tests compare it.
func (p *Plan) String() string {
	var b strings.Builder
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	for _, a := range p.Prepare {
		b.WriteString(a.String() + "\n")
	}
	for _, a := range p.Remove {
		b.WriteString(a.String() + "\n")
	}
	for _, s := range p.Services {
		if len(s.Actions) == 0 {
			continue
		}
		if len(s.Deps) > 0 {
			var deps []string
			for _, e := range s.Deps {
				d := e.Before
				if e.Condition != "" {
					d += " (" + e.Condition + ")"
				}
				deps = append(deps, d)
			}
			fmt.Fprintf(&b, "service %s after %s:\n", s.Service, strings.Join(deps, ", "))
		} else {
			fmt.Fprintf(&b, "service %s:\n", s.Service)
		}
		for _, a := range s.Actions {
			b.WriteString("  " + a.String() + "\n")
		}
	}
	if b.Len() == 0 {
		return "nothing to do\n"
	}
	return b.String()
}

// PlanOptions are the knobs of `berth up`.
type PlanOptions struct {
	// Services limits the plan to these services (and, unless NoDeps, what
	// they depend on). Empty means all.
	Services []string
	NoDeps   bool
	// Scale overrides replicas per service (--scale svc=n).
	Scale         map[string]int
	RemoveOrphans bool
	ForceRecreate bool
	NoRecreate    bool
	// NoStart creates containers without starting them (up --no-start,
	// create).
	NoStart bool
	// Pull overrides every service's pull_policy ("always", "missing",
	// "never"); "" keeps each service's.
	Pull string
}

// ContainerName is the name of replica number of svc in project.
func ContainerName(project string, svc *spec.Service, number int) string {
	if svc.ContainerName != "" {
		return svc.ContainerName
	}
	return project + "-" + svc.Name + "-" + strconv.Itoa(number)
}

// Dependencies returns the ordering edges of svc: depends_on (with its
// condition), links, network_mode/pid/ipc service:x, volumes_from service, and
// the first member of its pod (the others join its namespaces). Edges to
// services not in p are dropped.
func Dependencies(p *spec.Project, svc *spec.Service) []Edge {
	m := map[string]Edge{}
	add := func(name, cond string, required bool) {
		if name == svc.Name {
			return
		}
		if _, ok := p.Service(name); !ok {
			return
		}
		e, ok := m[name]
		if !ok || (e.Condition == "" && cond != "") {
			e = Edge{Before: name, Condition: cond, Required: required}
		}
		e.Required = e.Required || required
		m[name] = e
	}
	for _, name := range svc.DependencyNames() {
		d := svc.DependsOn[name]
		cond := d.Condition
		if cond == "" {
			cond = spec.ConditionStarted
		}
		add(name, cond, d.Required)
	}
	for _, l := range svc.Links {
		name, _, _ := strings.Cut(l, ":")
		add(name, "", true)
	}
	for _, j := range namespaceJoins(svc) {
		add(j.service, "", true)
	}
	for _, v := range svc.VolumesFrom {
		if strings.HasPrefix(v, "container:") {
			continue
		}
		name, _, _ := strings.Cut(v, ":")
		add(name, "", true)
	}
	if svc.Pod != "" {
		if pod, ok := p.Pod(svc.Pod); ok && len(pod.Services) > 0 && pod.Services[0] != svc.Name {
			add(pod.Services[0], "", true)
		}
	}
	out := make([]Edge, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before < out[j].Before })
	return out
}

// namespaceJoin is one namespace a service joins by naming another
// service (network_mode, pid or ipc set to service:<name>).
type namespaceJoin struct{ kind, service string }

// namespaceJoins lists the service: joins of s, network first. A joiner
// starts after the service it joins and is recreated with it: the
// namespace it holds dies with the old container.
func namespaceJoins(s *spec.Service) []namespaceJoin {
	var out []namespaceJoin
	for _, j := range []struct{ kind, mode string }{{"network", s.NetworkMode}, {"pid", s.Pid}, {"IPC", s.Ipc}} {
		if x, ok := strings.CutPrefix(j.mode, "service:"); ok {
			out = append(out, namespaceJoin{j.kind, x})
		}
	}
	return out
}

// renewed says whether a step gives replica 1 of its service (the one
// joiners join) new namespaces without recreating it: "started" or
// "created"; "" otherwise.
func renewed(step *ServiceStep) string {
	if step == nil {
		return ""
	}
	for _, a := range step.Actions {
		if a.Number != 1 {
			continue
		}
		switch a.Kind {
		case StartContainer:
			return "started"
		case CreateContainer:
			return "created"
		}
	}
	return ""
}

// TopoOrder returns the names of services in p (restricted to only when it
// is non-nil) so that each comes after its dependencies; ties are broken by
// name so that the order is stable. A cycle is an error naming it.
func TopoOrder(p *spec.Project, only map[string]bool) ([]string, error) {
	indeg := map[string]int{}
	next := map[string][]string{}
	for i := range p.Services {
		s := &p.Services[i]
		if only != nil && !only[s.Name] {
			continue
		}
		indeg[s.Name] += 0
		for _, e := range Dependencies(p, s) {
			if only != nil && !only[e.Before] {
				continue
			}
			indeg[s.Name]++
			next[e.Before] = append(next[e.Before], s.Name)
		}
	}
	var ready, out []string
	for n, d := range indeg {
		if d == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, m := range next[n] {
			indeg[m]--
			if indeg[m] == 0 {
				ready = append(ready, m)
			}
		}
	}
	if len(out) != len(indeg) {
		var cyc []string
		for n, d := range indeg {
			if d > 0 {
				cyc = append(cyc, n)
			}
		}
		sort.Strings(cyc)
		return nil, fmt.Errorf("services %s depend on each other in a cycle: %w", strings.Join(cyc, ", "), ErrInvalidArgument)
	}
	return out, nil
}

// Scope returns the services a command acts on: names (all when empty) and,
// unless noDeps, everything they depend on, transitively. Unknown names are
// an error.
func Scope(p *spec.Project, names []string, noDeps bool) (map[string]bool, error) {
	out := map[string]bool{}
	if len(names) == 0 {
		for _, s := range p.Services {
			out[s.Name] = true
		}
		return out, nil
	}
	var visit func(string)
	visit = func(n string) {
		if out[n] {
			return
		}
		out[n] = true
		if noDeps {
			return
		}
		s, _ := p.Service(n)
		for _, e := range Dependencies(p, s) {
			visit(e.Before)
		}
	}
	for _, n := range names {
		if _, ok := p.Service(n); !ok {
			return nil, fmt.Errorf("no such service: %s: %w", n, ErrNotFound)
		}
		visit(n)
	}
	return out, nil
}

// PlanUp computes what `berth up` must do to make obs match p. It is pure:
// same inputs, same plan.
func PlanUp(p *spec.Project, obs *Observed, o PlanOptions) (*Plan, error) {
	scope, err := Scope(p, o.Services, o.NoDeps)
	if err != nil {
		return nil, err
	}
	order, err := TopoOrder(p, scope)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Project: p.Name}

	// Networks and volumes used by services in scope.
	usedNets := map[string]bool{}
	usedVols := map[string]bool{}
	for _, name := range order {
		s, _ := p.Service(name)
		nets := s.Networks
		if s.Pod != "" {
			if pod, ok := p.Pod(s.Pod); ok {
				nets = pod.Networks
			}
		}
		for _, n := range nets {
			usedNets[n.Name] = true
		}
		for _, m := range s.Mounts {
			if m.Type == spec.MountVolume && m.Source != "" {
				usedVols[m.Source] = true
			}
		}
	}
	for _, n := range p.Networks {
		if usedNets[n.Key] && !n.External && !obs.Networks[n.Name] {
			plan.Prepare = append(plan.Prepare, Action{Kind: CreateNetwork, Object: n.Name, Cause: "missing"})
		}
	}
	for _, v := range p.Volumes {
		if usedVols[v.Key] && !v.External && !obs.Volumes[v.Name] {
			plan.Prepare = append(plan.Prepare, Action{Kind: CreateVolume, Object: v.Name, Cause: "missing"})
		}
	}
	pulled := map[string]bool{}
	for _, name := range order {
		s, _ := p.Service(name)
		policy := s.PullPolicy
		if o.Pull != "" {
			policy = o.Pull
		}
		_, present := obs.Images[s.Image]
		if pulled[s.Image] {
			continue
		}
		switch {
		case policy == "always":
			pulled[s.Image] = true
			plan.Prepare = append(plan.Prepare, Action{Kind: PullImage, Object: s.Image, Service: s.Name, Cause: "pull_policy always"})
		case present:
		case policy == "never":
			return nil, fmt.Errorf("service %s: image %s is not present and pull_policy is never: %w", s.Name, s.Image, ErrNotFound)
		default:
			pulled[s.Image] = true
			plan.Prepare = append(plan.Prepare, Action{Kind: PullImage, Object: s.Image, Service: s.Name, Cause: "not present"})
		}
	}

	// Group existing service containers; one-off containers are not ours.
	byService := map[string][]*Container{}
	var orphans []*Container
	disabled := map[string]bool{}
	for _, n := range p.DisabledServices {
		disabled[n] = true
	}
	for i := range obs.Containers {
		c := &obs.Containers[i]
		if c.Oneoff() {
			continue
		}
		svc := c.Service()
		if _, ok := p.Service(svc); ok {
			byService[svc] = append(byService[svc], c)
		} else if !disabled[svc] {
			orphans = append(orphans, c)
		}
	}
	if len(orphans) > 0 {
		if o.RemoveOrphans {
			for _, c := range orphans {
				plan.Remove = append(plan.Remove, Action{Kind: RemoveContainer, Object: c.Name, Service: c.Service(), Number: c.Number(), Old: c,
					Cause: fmt.Sprintf("service %s not in the manifest", c.Service())})
			}
		} else {
			names := make([]string, len(orphans))
			for i, c := range orphans {
				names[i] = c.Name
			}
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("Found orphan containers ([%s]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, " ")))
		}
	}

	// Per service: keep, recreate, start, create, remove.
	steps := map[string]*ServiceStep{}
	recreated := map[string]string{} // service -> why, when any replica is recreated
	for _, name := range order {
		s, _ := p.Service(name)
		step := &ServiceStep{Service: name}
		for _, e := range Dependencies(p, s) {
			if scope[e.Before] {
				step.Deps = append(step.Deps, e)
			}
		}
		steps[name] = step
		want := s.Replicas
		if n, ok := o.Scale[name]; ok {
			want = n
		}
		if want < 0 {
			return nil, fmt.Errorf("service %s: scale %d: %w", name, want, ErrInvalidArgument)
		}
		if s.ContainerName != "" && want > 1 {
			return nil, fmt.Errorf("service %s: container_name %q cannot be used with %d replicas: %w", name, s.ContainerName, want, ErrInvalidArgument)
		}
		have := byService[name]
		sort.SliceStable(have, func(i, j int) bool {
			if have[i].Number() != have[j].Number() {
				return have[i].Number() < have[j].Number()
			}
			// Prefer a running one among duplicates.
			return have[i].Running() && !have[j].Running()
		})
		var keep []*Container
		seen := map[int]bool{}
		for _, c := range have {
			if seen[c.Number()] || c.Number() <= 0 {
				plan.Remove = append(plan.Remove, Action{Kind: RemoveContainer, Object: c.Name, Service: name, Number: c.Number(), Old: c, Cause: "duplicate replica number"})
				continue
			}
			seen[c.Number()] = true
			keep = append(keep, c)
		}
		// Scale down: highest numbers go first.
		if len(keep) > want {
			for _, c := range keep[want:] {
				plan.Remove = append(plan.Remove, Action{Kind: RemoveContainer, Object: c.Name, Service: name, Number: c.Number(), Old: c, Cause: fmt.Sprintf("scale %s to %d", name, want)})
			}
			keep = keep[:want]
		}
		for _, c := range keep {
			why := recreateCause(s, c, obs, o)
			switch {
			case why != "":
				step.Actions = append(step.Actions, Action{Kind: RecreateContainer, Object: ContainerName(p.Name, s, c.Number()), Service: name, Number: c.Number(), Old: c, Cause: why})
				if _, ok := recreated[name]; !ok {
					recreated[name] = why
				}
			case !c.Running() && !o.NoStart && !completed(s, c, obs):
				step.Actions = append(step.Actions, Action{Kind: StartContainer, Object: c.Name, Service: name, Number: c.Number(), Old: c, Cause: string(c.Status)})
			}
		}
		for n := 1; len(keep) < want; n++ {
			if seen[n] {
				continue
			}
			seen[n] = true
			keep = append(keep, nil)
			step.Actions = append(step.Actions, Action{Kind: CreateContainer, Object: ContainerName(p.Name, s, n), Service: name, Number: n, Cause: "missing"})
		}
	}

	// Recreating a service recreates those that share its namespaces.
	if !o.NoRecreate {
		for _, name := range order {
			s, _ := p.Service(name)
			var why string
			for _, j := range namespaceJoins(s) {
				if _, r := recreated[j.service]; r {
					why = fmt.Sprintf("joins the %s namespace of %s, which is recreated", j.kind, j.service)
					break
				}
				// pid and IPC are joined through the running process
				// (/proc/<pid>/ns), not a sandbox that outlives it: a
				// target that starts or is created anew has new ones.
				if verb := renewed(steps[j.service]); verb != "" && j.kind != "network" {
					why = fmt.Sprintf("joins the %s namespace of %s, which is %s", j.kind, j.service, verb)
					break
				}
			}
			if s.Pod != "" && why == "" {
				if pod, ok := p.Pod(s.Pod); ok {
					for _, m := range pod.Services {
						if _, r := recreated[m]; r && m != name {
							why = fmt.Sprintf("pod %s member %s is recreated", pod.Name, m)
							break
						}
					}
				}
			}
			if why == "" {
				continue
			}
			step := steps[name]
			for i := range step.Actions {
				if step.Actions[i].Kind == StartContainer {
					step.Actions[i].Kind = RecreateContainer
					step.Actions[i].Object = ContainerName(p.Name, s, step.Actions[i].Number)
					step.Actions[i].Cause = why
				}
			}
			for _, c := range byService[name] {
				if hasAction(step.Actions, c.Number()) || isRemoved(plan.Remove, c) {
					continue
				}
				step.Actions = append(step.Actions, Action{Kind: RecreateContainer, Object: ContainerName(p.Name, s, c.Number()), Service: name, Number: c.Number(), Old: c, Cause: why})
			}
			sort.SliceStable(step.Actions, func(i, j int) bool { return step.Actions[i].Number < step.Actions[j].Number })
			if _, ok := recreated[name]; !ok {
				recreated[name] = why
			}
		}
	}
	for _, name := range order {
		plan.Services = append(plan.Services, *steps[name])
	}
	sort.SliceStable(plan.Remove, func(i, j int) bool { return plan.Remove[i].Object < plan.Remove[j].Object })
	return plan, nil
}

// completed reports whether c is a finished job: it exited 0 on its own
// under a policy that does not restart it. up leaves it alone, so that a
// second up changes nothing; a container the user stopped is started.
func completed(s *spec.Service, c *Container, obs *Observed) bool {
	if c.Status != "exited" || c.ExitCode != 0 || obs.StoppedByUser[c.Name] {
		return false
	}
	return s.Restart.Name != spec.RestartAlways && s.Restart.Name != spec.RestartUnlessStopped
}

func hasAction(as []Action, number int) bool {
	for _, a := range as {
		if a.Number == number {
			return true
		}
	}
	return false
}

func isRemoved(as []Action, c *Container) bool {
	for _, a := range as {
		if a.Old != nil && a.Old.ID == c.ID {
			return true
		}
	}
	return false
}

// recreateCause says why c must be recreated to match s, "" when it need not.
func recreateCause(s *spec.Service, c *Container, obs *Observed, o PlanOptions) string {
	if o.NoRecreate {
		return ""
	}
	if o.ForceRecreate {
		return "--force-recreate"
	}
	if c.Status == "dead" {
		return "container is dead"
	}
	old := c.Labels[LabelConfigHash]
	if old != s.ConfigHash {
		return describeChange(obs.Configs[old], s)
	}
	if img, ok := obs.Images[s.Image]; ok && c.Labels[LabelImage] != "" && c.Labels[LabelImage] != img.ID {
		return fmt.Sprintf("image %s changed (%s -> %s)", s.Image, shortDigest(c.Labels[LabelImage]), shortDigest(img.ID))
	}
	if want := ContainerNameFor(s, c); want != c.Name {
		return fmt.Sprintf("name changed to %s", want)
	}
	return ""
}

// ContainerNameFor is the name c's replica should have; the project is
// taken from c's label.
func ContainerNameFor(s *spec.Service, c *Container) string {
	return ContainerName(c.Labels[LabelProject], s, c.Number())
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
