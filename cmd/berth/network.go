package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
)

// The network commands follow `docker network`. As for volumes, -f is the
// global --file flag, so prune's force is --force only.
func init() {
	registerCommand(func(g *globalOptions) *cobra.Command {
		c := &cobra.Command{
			Use:   "network",
			Short: "Manage networks",
			Args:  cobra.NoArgs,
		}
		c.AddCommand(networkLsCmd(g), networkCreateCmd(g), networkInspectCmd(g), networkRmCmd(g), networkPruneCmd(g))
		return c
	})
}

// openNetworks opens the network state under the global --root.
func openNetworks(g *globalOptions) (*netplug.Manager, error) {
	runDir := os.Getenv("BERTH_RUN_DIR")
	if runDir == "" {
		runDir = "/run/berth"
	}
	return netplug.New(netplug.Options{
		Root:   filepath.Join(g.Root, "networks"),
		RunDir: runDir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// networkCreateOptions are the flags of `network create`.
type networkCreateOptions struct {
	Driver   string
	Subnet   string
	Gateway  string
	IPRange  string
	Internal bool
	IPv6     bool
	Labels   []string
	Opts     []string
}

// spec turns the flags into a NetworkSpec; bad flags are errors naming
// the flag.
func (o networkCreateOptions) spec(name string) (netplug.NetworkSpec, error) {
	s := netplug.NetworkSpec{Name: name, Subnet: o.Subnet, Gateway: o.Gateway, IPRange: o.IPRange, Internal: o.Internal, EnableIPv6: o.IPv6}
	if o.Driver != "" && o.Driver != "bridge" {
		return s, fmt.Errorf("--driver %q: only the bridge driver is supported", o.Driver)
	}
	labels, err := networkKeyValues("--label", o.Labels)
	if err != nil {
		return s, err
	}
	s.Labels = labels
	opts, err := networkKeyValues("--opt", o.Opts)
	if err != nil {
		return s, err
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		switch k {
		case "mtu", "com.docker.network.driver.mtu":
			mtu, err := strconv.Atoi(opts[k])
			if err != nil {
				return s, fmt.Errorf("--opt %s=%s: not a number", k, opts[k])
			}
			s.MTU = mtu
		default:
			return s, fmt.Errorf("--opt %s: unknown option (supported: mtu)", k)
		}
	}
	return s, nil
}

func networkKeyValues(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func networkCreateCmd(g *globalOptions) *cobra.Command {
	var o networkCreateOptions
	c := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := o.spec(args[0])
			if err != nil {
				return err
			}
			m, err := openNetworks(g)
			if err != nil {
				return err
			}
			if _, err := m.InspectNetwork(cmd.Context(), spec.Name); err == nil {
				return fmt.Errorf("network with name %s already exists", spec.Name)
			}
			n, err := m.EnsureNetwork(cmd.Context(), spec)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Driver, "driver", "d", "bridge", "driver to manage the network (bridge only)")
	f.StringVar(&o.Subnet, "subnet", "", "subnet in CIDR format")
	f.StringVar(&o.Gateway, "gateway", "", "IPv4 gateway for the subnet")
	f.StringVar(&o.IPRange, "ip-range", "", "allocate container addresses from a sub-range")
	f.BoolVar(&o.Internal, "internal", false, "restrict external access to the network")
	f.BoolVar(&o.IPv6, "ipv6", false, "enable IPv6 (not implemented yet)")
	f.StringArrayVar(&o.Labels, "label", nil, "set metadata on the network (key=value)")
	f.StringArrayVarP(&o.Opts, "opt", "o", nil, "driver options (mtu=N)")
	return c
}

// networkRow is a network as `ls` shows it.
type networkRow struct {
	ID       string `json:"ID"`
	Name     string `json:"Name"`
	Driver   string `json:"Driver"`
	Scope    string `json:"Scope"`
	Subnet   string `json:"Subnet"`
	Internal bool   `json:"Internal"`
	Labels   string `json:"Labels"`
}

func networkRowOf(n netplug.Network) networkRow {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
		kv = append(kv, k+"="+n.Labels[k])
	}
	return networkRow{ID: shortNetworkID(n.ID), Name: n.Name, Driver: "bridge", Scope: "local", Subnet: n.Subnet.String(), Internal: n.Internal, Labels: strings.Join(kv, ",")}
}

func shortNetworkID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func networkLsCmd(g *globalOptions) *cobra.Command {
	var format string
	var quiet bool
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := openNetworks(g)
			if err != nil {
				return err
			}
			nets, err := m.ListNetworks(cmd.Context())
			if err != nil {
				return err
			}
			return writeNetworkList(cmd.OutOrStdout(), nets, format, quiet)
		},
	}
	c.Flags().StringVar(&format, "format", "", `output format: "table" (default) or "json" (one object per line)`)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network names")
	return c
}

func writeNetworkList(w io.Writer, nets []netplug.Network, format string, quiet bool) error {
	switch {
	case quiet:
		for _, n := range nets {
			fmt.Fprintln(w, n.Name)
		}
	case format == "json":
		enc := json.NewEncoder(w)
		for _, n := range nets {
			if err := enc.Encode(networkRowOf(n)); err != nil {
				return err
			}
		}
	case format == "" || format == "table":
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE\tSUBNET\tINTERNAL")
		for _, n := range nets {
			r := networkRowOf(n)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", r.ID, r.Name, r.Driver, r.Scope, r.Subnet, r.Internal)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("--format %q: want table or json", format)
	}
	return nil
}

// networkInspect is a network in the shape of `docker network inspect`.
type networkInspect struct {
	Name       string                      `json:"Name"`
	ID         string                      `json:"Id"`
	Created    string                      `json:"Created"`
	Scope      string                      `json:"Scope"`
	Driver     string                      `json:"Driver"`
	EnableIPv6 bool                        `json:"EnableIPv6"`
	IPAM       networkInspectIPAM          `json:"IPAM"`
	Internal   bool                        `json:"Internal"`
	Containers map[string]networkInspectEP `json:"Containers"`
	Options    map[string]string           `json:"Options"`
	Labels     map[string]string           `json:"Labels"`
}

type networkInspectIPAM struct {
	Driver string              `json:"Driver"`
	Config []map[string]string `json:"Config"`
}

type networkInspectEP struct {
	Name        string   `json:"Name"`
	MacAddress  string   `json:"MacAddress"`
	IPv4Address string   `json:"IPv4Address"`
	Aliases     []string `json:"Aliases,omitempty"`
}

func networkInspectOf(n *netplug.Network) networkInspect {
	cfg := map[string]string{"Subnet": n.Subnet.String(), "Gateway": n.Gateway.String()}
	if n.IPRange.IsValid() {
		cfg["IPRange"] = n.IPRange.String()
	}
	opts := map[string]string{"com.docker.network.bridge.name": n.Bridge}
	if n.MTU != 0 {
		opts["com.docker.network.driver.mtu"] = strconv.Itoa(n.MTU)
	}
	eps := map[string]networkInspectEP{}
	for _, ep := range n.Endpoints {
		eps[ep.Sandbox] = networkInspectEP{Name: ep.Sandbox, MacAddress: ep.MacAddress, IPv4Address: fmt.Sprintf("%s/%d", ep.IPv4, ep.PrefixLen), Aliases: ep.Aliases}
	}
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return networkInspect{
		Name: n.Name, ID: n.ID, Created: n.Created.Format("2006-01-02T15:04:05Z07:00"), Scope: "local", Driver: "bridge",
		EnableIPv6: n.EnableIPv6, IPAM: networkInspectIPAM{Driver: "default", Config: []map[string]string{cfg}},
		Internal: n.Internal, Containers: eps, Options: opts, Labels: labels,
	}
}

func networkInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "" && format != "json" {
				return fmt.Errorf("--format %q: only json is supported", format)
			}
			m, err := openNetworks(g)
			if err != nil {
				return err
			}
			out := []networkInspect{}
			var errs []error
			for _, name := range args {
				n, err := m.InspectNetwork(cmd.Context(), name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out = append(out, networkInspectOf(n))
			}
			b, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return errors.Join(errs...)
		},
	}
	c.Flags().StringVar(&format, "format", "", `output format: "json" (the default)`)
	return c
}

func networkRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := openNetworks(g)
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				err := m.RemoveNetwork(cmd.Context(), name)
				if force && errors.Is(err, netplug.ErrNotFound) {
					continue
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "do not error if the network does not exist")
	return c
}

func networkPruneCmd(g *globalOptions) *cobra.Command {
	var force bool
	var filters []string
	c := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			labels := map[string]string{}
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k != "label" || v == "" {
					return fmt.Errorf("--filter %q: only label=KEY or label=KEY=VALUE is supported", f)
				}
				lk, lv, _ := strings.Cut(v, "=")
				labels[lk] = lv
			}
			if !force {
				fmt.Fprint(cmd.OutOrStdout(), "WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
				if !confirmNetworkPrune(cmd.InOrStdin()) {
					return nil
				}
			}
			m, err := openNetworks(g)
			if err != nil {
				return err
			}
			removed, err := m.PruneNetworks(context.WithoutCancel(cmd.Context()), labels)
			if len(removed) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
				for _, n := range removed {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return err
		},
	}
	c.Flags().BoolVar(&force, "force", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "provide filter values (label=KEY[=VALUE])")
	return c
}

func confirmNetworkPrune(r io.Reader) bool {
	var answer string
	fmt.Fscanln(r, &answer)
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}
