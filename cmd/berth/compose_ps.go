package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
)

func init() { registerCommand(newPsCmd) }

// psRow is one line of `ps`, with Docker Compose's JSON field names.
type psRow struct {
	ID         string        `json:"ID"`
	Name       string        `json:"Name"`
	Image      string        `json:"Image"`
	Command    string        `json:"Command"`
	Project    string        `json:"Project"`
	Service    string        `json:"Service"`
	Created    int64         `json:"Created"`
	State      string        `json:"State"`
	Status     string        `json:"Status"`
	Health     string        `json:"Health"`
	ExitCode   int           `json:"ExitCode"`
	Publishers []psPublisher `json:"Publishers"`
	Ports      string        `json:"Ports"`
}

type psPublisher struct {
	URL           string `json:"URL"`
	TargetPort    uint16 `json:"TargetPort"`
	PublishedPort uint16 `json:"PublishedPort"`
	Protocol      string `json:"Protocol"`
}

func formatPorts(ps []reconciler.PublishedPort) string {
	var out []string
	for _, p := range ps {
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

func newPsCmd(g *globalOptions) *cobra.Command {
	var all, quiet, services bool
	var format string
	var status []string
	c := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			cs, err := env.selectServices(ctx, args, true)
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []psRow
			for _, ct := range cs {
				if !all && !ct.Running() && len(status) == 0 {
					continue
				}
				if len(status) > 0 && !hasString(status, string(ct.Status)) {
					continue
				}
				health := env.health(ct)
				row := psRow{ID: ct.ID, Name: ct.Name, Image: ct.Image, Project: env.project.Name, Service: ct.Service(),
					Created: ct.Created.Unix(), State: string(ct.Status), Status: composeStatus(ct, health, now), Health: health, ExitCode: ct.ExitCode}
				if st, err := env.rt.Inspect(ctx, ct.ID); err == nil {
					row.Command = strconv.Quote(commandOf(st))
					if st.Image.Ref != "" {
						row.Image = st.Image.Ref
					}
				}
				if ct.Running() {
					ports, _ := machineNetworks(env).Ports(ctx, ct.Name)
					row.Ports = formatPorts(ports)
					for _, p := range ports {
						row.Publishers = append(row.Publishers, psPublisher{URL: p.HostIP, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
					}
				}
				rows = append(rows, row)
			}
			out := cmd.OutOrStdout()
			switch {
			case services:
				seen := map[string]bool{}
				var names []string
				for _, r := range rows {
					if !seen[r.Service] {
						seen[r.Service] = true
						names = append(names, r.Service)
					}
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(out, n)
				}
			case quiet:
				for _, r := range rows {
					fmt.Fprintln(out, r.ID)
				}
			case format == "json":
				enc := json.NewEncoder(out)
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
			case format == "table" || format == "":
				tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\t%s\n", r.Name, r.Image, r.Command, r.Service, humanDuration(now.Sub(time.Unix(r.Created, 0))), r.Status, r.Ports)
				}
				tw.Flush()
			default:
				return fmt.Errorf("--format %q: want table or json", format)
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all stopped containers (including those created by the run command)")
	f.BoolVarP(&quiet, "quiet", "q", false, "only display IDs")
	f.BoolVar(&services, "services", false, "display services")
	f.StringVar(&format, "format", "table", "format the output: table or json")
	f.StringArrayVar(&status, "status", nil, "filter services by status (created, running, paused, exited, dead)")
	return c
}

func hasString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
