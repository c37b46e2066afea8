package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/netplug"
)

// The network commands follow `docker network`.
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
	labels, err := parseKeyValues("--label", o.Labels, false)
	if err != nil {
		return s, err
	}
	s.Labels = labels
	opts, err := parseKeyValues("--opt", o.Opts, false)
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
			m, err := g.openNetworks()
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

var networkTable = listTable[networkRow]{
	Header: "NETWORK ID\tNAME\tDRIVER\tSCOPE\tSUBNET\tINTERNAL",
	Cells: func(r networkRow) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%v", r.ID, r.Name, r.Driver, r.Scope, r.Subnet, r.Internal)
	},
	Quiet: func(r networkRow) string { return r.Name },
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
	var filters []string
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			match, err := parseNetworkFilters(filters)
			if err != nil {
				return err
			}
			m, err := g.openNetworks()
			if err != nil {
				return err
			}
			nets, err := m.ListNetworks(cmd.Context())
			if err != nil {
				return err
			}
			var rows []networkRow
			for _, n := range nets {
				if match(n) {
					rows = append(rows, networkRowOf(n))
				}
			}
			return writeList(cmd.OutOrStdout(), rows, format, quiet, networkTable)
		},
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output (name=, id=, label=<key>[=<value>], driver=, scope=)")
	c.Flags().StringVar(&format, "format", "", listFormatHelp)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network names")
	return c
}

// parseNetworkFilters reads Docker's network ls filters: name= and id=
// (substrings, as Docker matches them), label=KEY[=VALUE], driver= and
// scope=.
func parseNetworkFilters(fs []string) (func(netplug.Network) bool, error) {
	f, err := parseListFilter(fs, "name", "id", "label", "driver", "scope")
	if err != nil {
		return nil, err
	}
	return func(n netplug.Network) bool {
		return f.match(func(k, v string) bool {
			switch k {
			case "name":
				return strings.Contains(n.Name, v)
			case "id":
				return strings.Contains(n.ID, v)
			case "label":
				return matchLabel(n.Labels, v)
			case "driver":
				return v == "bridge"
			default: // scope
				return v == "local"
			}
		})
	}, nil
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
			m, err := g.openNetworks()
			if err != nil {
				return err
			}
			return inspectAll(cmd.OutOrStdout(), args, format, func(name string) (networkInspect, error) {
				n, err := m.InspectNetwork(cmd.Context(), name)
				if err != nil {
					return networkInspect{}, err
				}
				return networkInspectOf(n), nil
			})
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
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
			m, err := g.openNetworks()
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
	c.Flags().BoolVarP(&force, "force", "f", false, "do not error if the network does not exist")
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
				if !confirm(cmd, "WARNING! This will remove all networks not used by at least one container.") {
					return nil
				}
			}
			m, err := g.openNetworks()
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
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "provide filter values (label=KEY[=VALUE])")
	return c
}
