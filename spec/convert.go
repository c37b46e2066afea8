package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
)

// convertProject turns compose-go's project into berth's model. Errors are
// returned with a key path (located later); warnings are collected on the
// project.
func convertProject(cp *types.Project, loc *locator) (*Project, []*Error) {
	c := &converter{loc: loc}
	p := &Project{
		Name:        cp.Name,
		WorkingDir:  cp.WorkingDir,
		Environment: map[string]string(cp.Environment),
	}
	for _, f := range loc.files {
		p.ConfigFiles = append(p.ConfigFiles, f.path)
	}
	for _, name := range sortedKeys(cp.Services) {
		svc := c.service(cp.Services[name])
		svc.Files = c.files("services."+name, cp, cp.Services[name])
		p.Services = append(p.Services, svc)
	}
	p.DisabledServices = sortedKeys(cp.DisabledServices)
	p.ActiveProfiles = sortedCopy(cp.Profiles)
	declared := map[string]bool{}
	for _, svcs := range []types.Services{cp.Services, cp.DisabledServices} {
		for _, s := range svcs {
			for _, pr := range s.Profiles {
				declared[pr] = true
			}
		}
	}
	p.DeclaredProfiles = sortedKeys(declared)
	for _, key := range sortedKeys(cp.Networks) {
		p.Networks = append(p.Networks, c.network(key, cp.Networks[key]))
	}
	for _, key := range sortedKeys(cp.Volumes) {
		p.Volumes = append(p.Volumes, c.volume(key, cp.Volumes[key]))
	}
	for _, what := range []struct {
		key string
		n   int
	}{{"models", len(cp.Models)}, {"jobs", len(cp.Jobs) + len(cp.DisabledJobs)}} {
		if what.n > 0 {
			c.warn(what.key, "not supported by berth; ignored")
		}
	}
	p.Pods = c.pods(cp.Extensions[podsExtension])
	p.Warnings = c.warnings
	return p, c.errs
}

type converter struct {
	loc      *locator
	errs     []*Error
	warnings []Warning
}

func (c *converter) fail(path, format string, args ...any) {
	c.errs = append(c.errs, &Error{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *converter) warn(path, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{Path: path, Message: fmt.Sprintf(format, args...)})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedCopy(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// keepNil copies a command, keeping nil (image default) apart from empty
// (cleared).
func keepNil(in []string) []string {
	if in == nil {
		return nil
	}
	return append([]string{}, in...)
}

func durationPtr(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

func (c *converter) service(s types.ServiceConfig) Service {
	base := "services." + s.Name
	out := Service{
		Name:          s.Name,
		ContainerName: s.ContainerName,
		Image:         s.Image,
		Platform:      s.Platform,
		PullPolicy:    s.PullPolicy,
		Profiles:      sortedCopy(s.Profiles),
		Entrypoint:    keepNil(s.Entrypoint),
		Command:       keepNil(s.Command),
		WorkingDir:    s.WorkingDir,
		User:          s.User,
		GroupAdd:      append([]string(nil), s.GroupAdd...),
		Hostname:      s.Hostname,
		Domainname:    s.DomainName,
		Tty:           s.Tty,
		StdinOpen:     s.StdinOpen,
		Init:          s.Init != nil && *s.Init,
		ReadOnly:      s.ReadOnly,
		Privileged:    s.Privileged,
		CapAdd:        sortedCopy(s.CapAdd),
		CapDrop:       sortedCopy(s.CapDrop),
		SecurityOpt:   sortedCopy(s.SecurityOpt),
		Sysctls:       cloneMap(s.Sysctls),
		ShmSize:       int64(s.ShmSize),
		StopSignal:    s.StopSignal,
		Links:         append([]string(nil), s.Links...),
		VolumesFrom:   append([]string(nil), s.VolumesFrom...),
		NetworkMode:   s.NetworkMode,
		Pid:           s.Pid,
		Ipc:           s.Ipc,
		Expose:        append([]string(nil), s.Expose...),
		DNS:           append([]string(nil), s.DNS...),
		DNSSearch:     append([]string(nil), s.DNSSearch...),
		DNSOpt:        append([]string(nil), s.DNSOpts...),
		Tmpfs:         append([]string(nil), s.Tmpfs...),
		Labels:        cloneMap(s.Labels),
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		out.StopGracePeriod = &d
	}

	// environment: resolved by compose-go (env_file merged); a nil value is
	// a variable that was named but not found.
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil {
			out.Environment = append(out.Environment, k+"="+*v)
		}
	}

	for _, o := range s.SecurityOpt {
		name, val, hasVal := strings.Cut(o, ":")
		if !hasVal {
			name, val, hasVal = strings.Cut(o, "=")
		}
		if name != "no-new-privileges" {
			c.warn(base+".security_opt", "%q not supported by berth; ignored", o)
			continue
		}
		b := true
		if hasVal {
			var err error
			if b, err = strconv.ParseBool(val); err != nil {
				c.fail(base+".security_opt", "invalid no-new-privileges value %q", val)
			}
		}
		out.NoNewPrivileges = &b
	}

	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		if u == nil {
			continue
		}
		ul := Ulimit{Name: name, Soft: int64(u.Soft), Hard: int64(u.Hard)}
		if u.Single != 0 {
			ul.Soft, ul.Hard = int64(u.Single), int64(u.Single)
		}
		if ul.Soft > ul.Hard {
			c.fail(base+".ulimits."+name, "soft limit %d above hard limit %d", ul.Soft, ul.Hard)
		}
		out.Ulimits = append(out.Ulimits, ul)
	}

	out.Resources = c.resources(base, s)
	out.Replicas = 1
	if s.Scale != nil {
		out.Replicas = *s.Scale
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		out.Replicas = *s.Deploy.Replicas
	}
	if out.Replicas < 0 {
		c.fail(base+".deploy.replicas", "replicas must not be negative, got %d", out.Replicas)
	}
	out.Restart = c.restart(base, s)
	out.Healthcheck = c.healthcheck(base, s.HealthCheck)

	if len(s.DependsOn) > 0 {
		out.DependsOn = map[string]Dependency{}
		for name, d := range s.DependsOn {
			cond := d.Condition
			if cond == "" {
				cond = ConditionStarted
			}
			out.DependsOn[name] = Dependency{Condition: cond, Required: d.Required, Restart: d.Restart}
		}
	}

	for name, n := range s.Networks {
		sn := ServiceNetwork{Name: name}
		if n != nil {
			sn.Aliases = sortedCopy(n.Aliases)
			sn.IPv4Address = n.Ipv4Address
			sn.IPv6Address = n.Ipv6Address
			sn.MacAddress = n.MacAddress
			sn.Priority = n.Priority
		}
		out.Networks = append(out.Networks, sn)
	}
	sortNetworks(out.Networks)
	if s.MacAddress != "" {
		c.warn(base+".mac_address", "set mac_address on the service's network instead; ignored")
	}

	for i, p := range s.Ports {
		path := fmt.Sprintf("%s.ports[%d]", base, i)
		pr, err := parsePortRange(p.Published)
		if err != nil {
			c.fail(path, "invalid published port %q: %v", p.Published, err)
			continue
		}
		if p.Target == 0 || p.Target > 65535 {
			c.fail(path, "invalid target port %d: out of range 1-65535", p.Target)
			continue
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			c.fail(path, "protocol %q not supported (tcp or udp)", p.Protocol)
			continue
		}
		out.Ports = append(out.Ports, PortMapping{HostIP: p.HostIP, Published: pr, Target: uint16(p.Target), Protocol: proto})
	}

	if out.Replicas > 1 {
		for i, p := range out.Ports {
			if !p.Published.IsZero() && p.Published.Start == p.Published.End {
				c.warn(fmt.Sprintf("%s.ports[%d]", base, i), "host port %d can be published by one of the %d replicas only: use a range or leave it empty", p.Published.Start, out.Replicas)
			}
		}
	}
	for _, host := range sortedKeys(s.ExtraHosts) {
		ips := append([]string(nil), s.ExtraHosts[host]...)
		sort.Strings(ips)
		for _, ip := range ips {
			out.ExtraHosts = append(out.ExtraHosts, HostEntry{Host: host, IP: ip})
		}
	}

	for i, v := range s.Volumes {
		out.Mounts = append(out.Mounts, c.mount(fmt.Sprintf("%s.volumes[%d]", base, i), v))
	}
	for i, d := range s.Devices {
		if dv, ok := c.device(fmt.Sprintf("%s.devices[%d]", base, i), d); ok {
			out.Devices = append(out.Devices, dv)
		}
	}
	out.Logging = c.logging(base, s)
	c.unsupported(base, s)
	return out
}

// sortNetworks orders attachments as Docker does: highest priority first,
// then by name.
func sortNetworks(ns []ServiceNetwork) {
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].Priority != ns[j].Priority {
			return ns[i].Priority > ns[j].Priority
		}
		return ns[i].Name < ns[j].Name
	})
}

func (c *converter) resources(base string, s types.ServiceConfig) Resources {
	r := Resources{
		Memory:            int64(s.MemLimit),
		MemorySwap:        int64(s.MemSwapLimit),
		MemoryReservation: int64(s.MemReservation),
		CPUs:              float64(s.CPUS),
		CPUShares:         uint64(max(s.CPUShares, 0)),
		CPUSetCPUs:        s.CPUSet,
		PidsLimit:         s.PidsLimit,
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.NanoCPUs != 0 {
				r.CPUs = float64(l.NanoCPUs)
			}
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.Pids != 0 {
				r.PidsLimit = l.Pids
			}
			if len(l.Devices) > 0 || len(l.GenericResources) > 0 {
				c.warn(base+".deploy.resources.limits", "devices and generic resources not supported by berth; ignored")
			}
		}
		if rs := s.Deploy.Resources.Reservations; rs != nil {
			if rs.MemoryBytes != 0 {
				r.MemoryReservation = int64(rs.MemoryBytes)
			}
			if rs.NanoCPUs != 0 || len(rs.Devices) > 0 || len(rs.GenericResources) > 0 {
				c.warn(base+".deploy.resources.reservations", "only memory reservations are supported by berth; the rest is ignored")
			}
		}
	}
	if r.CPUs < 0 {
		c.fail(base+".cpus", "cpus must not be negative")
	}
	// Round to whole milli-CPUs so that float32 noise does not change the hash.
	r.NanoCPUs = int64(r.CPUs*1000+0.5) * 1e6
	if r.Memory < 0 {
		r.Memory = 0
	}
	if r.PidsLimit < 0 {
		r.PidsLimit = 0 // -1 means unlimited in Compose
	}
	if r.MemorySwap != 0 && r.MemorySwap != -1 && r.Memory != 0 && r.MemorySwap < r.Memory {
		c.fail(base+".memswap_limit", "memswap_limit (%d) must be at least mem_limit (%d), or -1", r.MemorySwap, r.Memory)
	}
	return r
}

func (c *converter) restart(base string, s types.ServiceConfig) RestartPolicy {
	rp := RestartPolicy{Name: RestartNo}
	if s.Restart != "" {
		name, count, hasCount := strings.Cut(s.Restart, ":")
		switch name {
		case RestartNo, RestartAlways, RestartUnlessStopped:
			if hasCount {
				c.fail(base+".restart", "invalid restart policy %q: only on-failure takes a retry count", s.Restart)
			}
		case RestartOnFailure:
			if hasCount {
				n, err := strconv.Atoi(count)
				if err != nil || n < 0 {
					c.fail(base+".restart", "invalid restart policy %q: retry count must be a non-negative integer", s.Restart)
				}
				rp.MaxRetries = n
			}
		default:
			c.fail(base+".restart", "invalid restart policy %q: want no, always, on-failure[:N] or unless-stopped", s.Restart)
		}
		rp.Name = name
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		d := s.Deploy.RestartPolicy
		if s.Restart == "" {
			switch d.Condition {
			case "", "any":
				rp.Name = RestartAlways
			case "on-failure":
				rp.Name = RestartOnFailure
			case "none":
				rp.Name = RestartNo
			default:
				c.fail(base+".deploy.restart_policy.condition", "invalid condition %q: want none, on-failure or any", d.Condition)
			}
		}
		if d.MaxAttempts != nil {
			rp.MaxRetries = int(min(*d.MaxAttempts, 1<<31-1))
		}
		rp.Delay = durationPtr(d.Delay)
		rp.Window = durationPtr(d.Window)
		if rp.Delay < 0 || rp.Window < 0 {
			c.fail(base+".deploy.restart_policy", "durations must not be negative")
		}
	}
	return rp
}

func (c *converter) healthcheck(base string, h *types.HealthCheckConfig) *Healthcheck {
	if h == nil {
		return nil
	}
	path := base + ".healthcheck"
	out := &Healthcheck{
		Test:          keepNil(h.Test),
		Interval:      durationPtr(h.Interval),
		Timeout:       durationPtr(h.Timeout),
		StartPeriod:   durationPtr(h.StartPeriod),
		StartInterval: durationPtr(h.StartInterval),
		Disable:       h.Disable,
	}
	if h.Retries != nil {
		out.Retries = int(min(*h.Retries, 1<<31-1))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", out.Interval}, {"timeout", out.Timeout}, {"start_period", out.StartPeriod}, {"start_interval", out.StartInterval}} {
		if d.v < 0 {
			c.fail(path+"."+d.key, "duration must not be negative, got %s", d.v)
		}
	}
	if len(out.Test) > 0 {
		switch out.Test[0] {
		case HealthNone:
			out.Disable = true
		case HealthCmd, HealthCmdShell:
			if len(out.Test) < 2 {
				c.fail(path+".test", "%s needs a command", out.Test[0])
			}
		default:
			c.fail(path+".test", "test must start with CMD, CMD-SHELL or NONE, got %q", out.Test[0])
		}
	}
	if out.Disable {
		out.Test = []string{HealthNone}
	}
	return out
}

var propagations = map[string]bool{"": true, "private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true}

func (c *converter) mount(path string, v types.ServiceVolumeConfig) Mount {
	m := Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
	switch v.Type {
	case MountVolume:
		if v.Volume != nil {
			m.NoCopy = v.Volume.NoCopy
			if v.Volume.Subpath != "" {
				c.fail(path+".volume.subpath", "volume subpath not supported by berth")
			}
		}
	case MountBind:
		m.CreateHostPath = true
		if v.Bind != nil {
			m.CreateHostPath = bool(v.Bind.CreateHostPath)
			m.Propagation = v.Bind.Propagation
			if !propagations[m.Propagation] {
				c.fail(path+".bind.propagation", "invalid propagation %q", m.Propagation)
			}
			if v.Bind.SELinux != "" {
				c.warn(path, "SELinux relabeling (%s) not supported by berth; ignored", v.Bind.SELinux)
			}
		}
		if m.Source == "" {
			c.fail(path, "bind mount needs a source")
		}
	case MountTmpfs:
		if v.Tmpfs != nil {
			m.TmpfsSize = int64(v.Tmpfs.Size)
			m.TmpfsMode = v.Tmpfs.Mode
		}
		if m.Source != "" {
			c.fail(path+".source", "tmpfs mounts take no source")
		}
	default:
		c.fail(path+".type", "mount type %q not supported by berth (volume, bind or tmpfs)", v.Type)
	}
	if !strings.HasPrefix(m.Target, "/") {
		c.fail(path, "mount target %q must be an absolute path", m.Target)
	}
	return m
}

// device normalizes one `devices:` entry (compose-go has already split the
// short syntax): Target defaults to Source, Permissions to "rwm" and is
// put in r, w, m order so that "wr" and "rw" hash alike. The host path is
// not looked at here: the manifest may be loaded on another machine; the
// runtime checks it when the container is created.
func (c *converter) device(path string, d types.DeviceMapping) (Device, bool) {
	out := Device{Source: d.Source, Target: d.Target, Permissions: d.Permissions}
	if out.Target == "" {
		out.Target = out.Source
	}
	if out.Permissions == "" {
		out.Permissions = "rwm"
	}
	ok := true
	if !strings.HasPrefix(out.Source, "/") {
		c.fail(path, "device %q: the source must be an absolute host path such as /dev/ttyUSB0 (CDI device names are not supported by berth)", d.Source)
		ok = false
	}
	if !strings.HasPrefix(out.Target, "/") {
		c.fail(path, "device %q: the target %q must be an absolute path in the container", d.Source, out.Target)
		ok = false
	}
	perms, valid := devicePermissions(out.Permissions)
	if !valid {
		c.fail(path, "device %q: invalid permissions %q: want a combination of r, w and m", d.Source, out.Permissions)
		ok = false
	}
	out.Permissions = perms
	return out, ok
}

// devicePermissions puts a cgroup permission string in r, w, m order and
// reports whether it is a non-empty set of those letters.
func devicePermissions(p string) (string, bool) {
	var seen [3]bool
	for _, r := range p {
		i := strings.IndexRune("rwm", r)
		if i < 0 || seen[i] {
			return p, false
		}
		seen[i] = true
	}
	var b strings.Builder
	for i, on := range seen {
		if on {
			b.WriteByte("rwm"[i])
		}
	}
	return b.String(), b.Len() > 0
}

func (c *converter) logging(base string, s types.ServiceConfig) Logging {
	var l Logging
	switch {
	case s.Logging != nil:
		l.Driver = s.Logging.Driver
		l.Options = cloneMap(s.Logging.Options)
	case s.LogDriver != "" || len(s.LogOpt) > 0:
		l.Driver = s.LogDriver
		l.Options = cloneMap(s.LogOpt)
	}
	switch l.Driver {
	case "", "json-file", "local":
	default:
		c.warn(base+".logging.driver", "log driver %q not supported by berth; json-file is used", l.Driver)
	}
	if v, ok := l.Options["max-size"]; ok && v != "-1" {
		n, err := units.RAMInBytes(v)
		if err != nil || n < 0 {
			c.fail(base+".logging.options.max-size", "invalid size %q", v)
		}
		l.MaxSize = n
	}
	if v, ok := l.Options["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(base+".logging.options.max-file", "invalid file count %q: want a positive integer", v)
		}
		l.MaxFiles = n
	}
	return l
}

// unsupported warns about service settings berth accepts but ignores.
func (c *converter) unsupported(base string, s types.ServiceConfig) {
	set := map[string]bool{
		"build":               s.Build != nil,
		"gpus":                len(s.Gpus) > 0,
		"uts":                 s.Uts != "",
		"cgroup":              s.Cgroup != "",
		"cgroup_parent":       s.CgroupParent != "",
		"blkio_config":        s.BlkioConfig != nil,
		"develop":             s.Develop != nil,
		"runtime":             s.Runtime != "",
		"isolation":           s.Isolation != "",
		"oom_kill_disable":    s.OomKillDisable,
		"oom_score_adj":       s.OomScoreAdj != 0,
		"mem_swappiness":      s.MemSwappiness != 0,
		"cpu_count":           s.CPUCount != 0,
		"cpu_percent":         s.CPUPercent != 0,
		"cpu_period":          s.CPUPeriod != 0,
		"cpu_quota":           s.CPUQuota != 0,
		"cpu_rt_period":       s.CPURTPeriod != 0,
		"cpu_rt_runtime":      s.CPURTRuntime != 0,
		"device_cgroup_rules": len(s.DeviceCgroupRules) > 0,
		"external_links":      len(s.ExternalLinks) > 0,
		"storage_opt":         len(s.StorageOpt) > 0,
		"userns_mode":         s.UserNSMode != "",
		"credential_spec":     s.CredentialSpec != nil,
		"annotations":         len(s.Annotations) > 0,
		"post_start":          len(s.PostStart) > 0,
		"pre_stop":            len(s.PreStop) > 0,
		"pre_start":           len(s.PreStart) > 0,
		"provider":            s.Provider != nil,
		"models":              len(s.Models) > 0,
		"volume_driver":       s.VolumeDriver != "",
		"use_api_socket":      s.UseAPISocket,
		"umask":               s.Umask != nil,
	}
	for _, k := range sortedKeys(set) {
		if !set[k] {
			continue
		}
		if k == "build" {
			if s.Image != "" {
				c.warn(base+".build", "building images is not supported by berth; build is ignored and image %q is used", s.Image)
			}
			continue
		}
		c.warn(base+"."+k, "not supported by berth; ignored")
	}
	if s.Deploy != nil && s.Deploy.Mode != "" && s.Deploy.Mode != "replicated" {
		c.warn(base+".deploy.mode", "mode %q not supported by berth; replicated is used", s.Deploy.Mode)
	}
}

func (c *converter) network(key string, n types.NetworkConfig) Network {
	path := "networks." + key
	out := Network{
		Key:        key,
		Name:       n.Name,
		Driver:     n.Driver,
		DriverOpts: cloneMap(n.DriverOpts),
		Internal:   n.Internal,
		EnableIPv6: n.EnableIPv6 != nil && *n.EnableIPv6,
		External:   bool(n.External),
		Attachable: n.Attachable,
		Labels:     cloneMap(n.Labels),
		IPAM:       IPAM{Driver: n.Ipam.Driver},
	}
	if out.Name == "" {
		out.Name = key
	}
	if out.Driver == "" {
		out.Driver = "bridge"
	}
	if out.Driver != "bridge" && !out.External {
		c.fail(path+".driver", "network driver %q not supported by berth (bridge)", out.Driver)
	}
	if out.IPAM.Driver != "" && out.IPAM.Driver != "default" {
		c.fail(path+".ipam.driver", "IPAM driver %q not supported by berth (default)", out.IPAM.Driver)
	}
	for _, pool := range n.Ipam.Config {
		if pool == nil {
			continue
		}
		out.IPAM.Config = append(out.IPAM.Config, IPAMPool{
			Subnet: pool.Subnet, Gateway: pool.Gateway, IPRange: pool.IPRange,
			AuxAddresses: cloneMap(pool.AuxiliaryAddresses),
		})
	}
	return out
}

func (c *converter) volume(key string, v types.VolumeConfig) Volume {
	out := Volume{
		Key:        key,
		Name:       v.Name,
		Driver:     v.Driver,
		DriverOpts: cloneMap(v.DriverOpts),
		External:   bool(v.External),
		Labels:     cloneMap(v.Labels),
	}
	if out.Name == "" {
		out.Name = key
	}
	if out.Driver == "" {
		out.Driver = "local"
	}
	if out.Driver != "local" && !out.External {
		c.fail("volumes."+key+".driver", "volume driver %q not supported by berth (local)", out.Driver)
	}
	return out
}
