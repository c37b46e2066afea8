package main

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
	"github.com/berth-dev/berth/reconciler"
	"github.com/berth-dev/berth/runtime"
)

// containerInspect is `docker container inspect`'s shape, with what berth
// knows: scripts written for Docker (`-f '{{.State.Pid}}'`,
// `{{.State.Health.Status}}`, `{{.NetworkSettings.Networks}}`) work
// unchanged. Berth holds what Docker has no field for (the process start
// times that tell a reused pid from ours, the shim, the state dir).
type containerInspect struct {
	ID              string            `json:"Id"`
	Created         time.Time         `json:"Created"`
	Path            string            `json:"Path"`
	Args            []string          `json:"Args"`
	State           inspectState      `json:"State"`
	Image           string            `json:"Image"`
	ResolvConfPath  string            `json:"ResolvConfPath"`
	HostnamePath    string            `json:"HostnamePath"`
	HostsPath       string            `json:"HostsPath"`
	LogPath         string            `json:"LogPath"`
	Name            string            `json:"Name"`
	RestartCount    int               `json:"RestartCount"`
	Driver          string            `json:"Driver"`
	Mounts          []inspectMount    `json:"Mounts"`
	Config          inspectConfig     `json:"Config"`
	HostConfig      inspectHostConfig `json:"HostConfig"`
	NetworkSettings *networkSettings  `json:"NetworkSettings"`
	Berth           inspectBerth      `json:"Berth"`
}

type inspectState struct {
	Status     string                   `json:"Status"`
	Running    bool                     `json:"Running"`
	Paused     bool                     `json:"Paused"`
	Restarting bool                     `json:"Restarting"`
	OOMKilled  bool                     `json:"OOMKilled"`
	Dead       bool                     `json:"Dead"`
	Pid        int                      `json:"Pid"`
	ExitCode   int                      `json:"ExitCode"`
	Error      string                   `json:"Error"`
	StartedAt  time.Time                `json:"StartedAt"`
	FinishedAt time.Time                `json:"FinishedAt"`
	Health     *reconciler.HealthStatus `json:"Health,omitempty"`
}

type inspectMount struct {
	Type        string `json:"Type"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

type inspectConfig struct {
	Hostname   string            `json:"Hostname"`
	Domainname string            `json:"Domainname"`
	User       string            `json:"User"`
	Tty        bool              `json:"Tty"`
	OpenStdin  bool              `json:"OpenStdin"`
	Env        []string          `json:"Env"`
	Cmd        []string          `json:"Cmd"`
	Image      string            `json:"Image"`
	WorkingDir string            `json:"WorkingDir"`
	Entrypoint []string          `json:"Entrypoint"`
	Labels     map[string]string `json:"Labels"`
	StopSignal string            `json:"StopSignal,omitempty"`
}

type inspectHostConfig struct {
	NetworkMode    string   `json:"NetworkMode"`
	AutoRemove     bool     `json:"AutoRemove"`
	Privileged     bool     `json:"Privileged"`
	ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
	CapAdd         []string `json:"CapAdd"`
	CapDrop        []string `json:"CapDrop"`
	Init           bool     `json:"Init"`
	ShmSize        int64    `json:"ShmSize"`
	Memory         int64    `json:"Memory"`
	MemorySwap     int64    `json:"MemorySwap"`
	NanoCpus       int64    `json:"NanoCpus"`
	CPUShares      int64    `json:"CpuShares"`
	CpusetCpus     string   `json:"CpusetCpus"`
	PidsLimit      int64    `json:"PidsLimit"`
}

type inspectBerth struct {
	PidStart   uint64            `json:"PidStart,omitempty"`
	ShimPid    int               `json:"ShimPid,omitempty"`
	ShimStart  uint64            `json:"ShimStart,omitempty"`
	BootID     string            `json:"BootID,omitempty"`
	CgroupPath string            `json:"CgroupPath"`
	StateDir   string            `json:"StateDir"`
	Namespaces map[string]string `json:"Namespaces,omitempty"`
	ImageRef   string            `json:"ImageRef"`
}

// inspectContainer builds the Docker-shaped view of st.
func inspectContainer(ctx context.Context, g *globalOptions, nets *netplug.Manager, st *runtime.State) containerInspect {
	s := &st.Spec
	argv, _ := runtime.CommandLine(s, st.Image.Config)
	ci := containerInspect{
		ID: st.ID, Created: st.Created, Image: st.Image.ID, Name: "/" + st.Name,
		RestartCount: st.RestartCount, Driver: "overlay", LogPath: st.LogPath,
		HostnamePath: filepath.Join(st.Dir, "hostname"), HostsPath: s.HostsPath, ResolvConfPath: s.ResolvConfPath,
		State: inspectState{
			Status: string(st.Status), Running: st.Status == runtime.StatusRunning || st.Status == runtime.StatusPaused,
			Paused: st.Status == runtime.StatusPaused, Dead: st.Status == runtime.StatusDead,
			OOMKilled: st.OOMKilled, Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
		},
		Config: inspectConfig{
			Hostname: s.Hostname, Domainname: s.Domainname, User: s.User, Tty: s.Tty, OpenStdin: s.OpenStdin,
			Env: s.Env, Cmd: s.Cmd, Image: s.Image, WorkingDir: s.WorkingDir, Entrypoint: s.Entrypoint,
			Labels: s.Labels, StopSignal: s.StopSignal,
		},
		HostConfig: inspectHostConfig{
			AutoRemove: s.AutoRemove, Privileged: s.Privileged, ReadonlyRootfs: s.ReadOnly,
			CapAdd: s.CapAdd, CapDrop: s.CapDrop, Init: s.Init, ShmSize: s.ShmSize,
			Memory: s.Resources.Memory, MemorySwap: s.Resources.MemorySwap, NanoCpus: s.Resources.NanoCPUs,
			CPUShares: int64(s.Resources.CPUShares), CpusetCpus: s.Resources.CPUSetCPUs, PidsLimit: s.Resources.PidsLimit,
		},
		NetworkSettings: inspectNetwork(ctx, nets, st),
		Berth: inspectBerth{
			PidStart: st.PidStart, ShimPid: st.ShimPid, ShimStart: st.ShimStart, BootID: st.BootID,
			CgroupPath: st.CgroupPath, StateDir: st.Dir, Namespaces: st.Namespaces, ImageRef: st.Image.Ref,
		},
	}
	ci.HostConfig.NetworkMode = networkModeOf(s, ci.NetworkSettings)
	if len(argv) > 0 {
		ci.Path, ci.Args = argv[0], argv[1:]
	}
	if ci.Config.Env == nil {
		ci.Config.Env = []string{}
	}
	if ci.HostsPath == "" {
		ci.HostsPath = filepath.Join(st.Dir, "hosts")
	}
	if ci.ResolvConfPath == "" {
		ci.ResolvConfPath = filepath.Join(st.Dir, "resolv.conf")
	}
	for _, m := range s.Mounts {
		typ := m.Type
		if m.Type == "bind" && m.CopyUp {
			typ = "volume" // volumes arrive as binds of their directory
		}
		ci.Mounts = append(ci.Mounts, inspectMount{Type: typ, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: m.Propagation})
	}
	if ci.Mounts == nil {
		ci.Mounts = []inspectMount{}
	}
	// Health is kept by the project's supervisor, for the current run.
	if project := s.Labels[reconciler.LabelProject]; project != "" && ci.State.Running {
		if store, err := reconciler.OpenStore(g.Root, project); err == nil {
			if h, err := store.Health(st.Name); err == nil && h.ContainerStarted.Equal(st.StartedAt) {
				ci.State.Health = &h
			}
		}
	}
	return ci
}

// networkModeOf is Docker's HostConfig.NetworkMode: host, none, the
// first network the container is on, or container:<ns> for a joined one.
func networkModeOf(s *runtime.Spec, ns *networkSettings) string {
	switch n := s.Namespaces.Network; {
	case n == "host":
		return "host"
	case n == "":
		return "none"
	}
	if ns != nil {
		names := slices.Sorted(maps.Keys(ns.Networks))
		if len(names) > 0 {
			return names[0]
		}
	}
	return "container:" + s.Namespaces.Network
}

func containerInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect CONTAINER...",
		Short: "Show containers in Docker's inspect format (JSON, or --format)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, nets, err := g.openRuntimeNets()
			if err != nil {
				return berthErr(err)
			}
			var out []containerInspect
			for _, ref := range args {
				st, err := rt.Inspect(cmd.Context(), ref)
				if err != nil {
					return berthErr(err)
				}
				out = append(out, inspectContainer(cmd.Context(), g, nets, st))
			}
			return writeInspect(cmd.OutOrStdout(), out, format)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return c
}
