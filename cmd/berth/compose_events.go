package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/reconciler"
)

func init() { registerCommand(newEventsCmd) }

// composeEvent is one event, with Docker Compose's JSON field names.
type composeEvent struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Service    string            `json:"service"`
	Attributes map[string]string `json:"attributes"`
}

// diffEvents derives events from two snapshots of a project's containers
// and their health. berth has no daemon to publish events, so `events`
// observes: a change that comes and goes between two looks is not seen.
func diffEvents(before, after map[string]reconciler.Container, hb, ha map[string]string, now time.Time) []composeEvent {
	var out []composeEvent
	ev := func(c reconciler.Container, action string, attrs map[string]string) {
		a := map[string]string{"name": c.Name, "image": c.Image}
		for k, v := range attrs {
			a[k] = v
		}
		out = append(out, composeEvent{Time: now, Type: "container", Action: action, ID: c.ID, Service: c.Service(), Attributes: a})
	}
	ids := map[string]bool{}
	for id := range before {
		ids[id] = true
	}
	for id := range after {
		ids[id] = true
	}
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	for _, id := range sorted {
		b, had := before[id]
		a, has := after[id]
		switch {
		case !had:
			ev(a, "create", nil)
			if a.Running() {
				ev(a, "start", nil)
			}
		case !has:
			if b.Running() {
				ev(b, "die", nil)
			}
			ev(b, "destroy", nil)
		default:
			switch {
			case b.Running() && !a.Running():
				ev(a, "die", map[string]string{"exitCode": fmt.Sprint(a.ExitCode)})
			case b.Running() && !a.StartedAt.Equal(b.StartedAt):
				// Restarted between two looks: the state shows the new
				// run, and how the old one ended is not known here.
				ev(a, "die", nil)
			}
			if a.Running() && (!b.Running() || !a.StartedAt.Equal(b.StartedAt)) {
				ev(a, "start", nil)
			}
			if b.Status != "paused" && a.Status == "paused" {
				ev(a, "pause", nil)
			}
			if b.Status == "paused" && a.Status == "running" {
				ev(a, "unpause", nil)
			}
		}
		if has && ha[id] != "" && ha[id] != hb[id] {
			ev(a, "health_status: "+ha[id], nil)
		}
	}
	return out
}

func newEventsCmd(g *globalOptions) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "events [OPTIONS] [SERVICE...]",
		Short: "Receive real time events from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env, err := openCompose(cmd, g, composeOpts{manifestOptional: true})
			if err != nil {
				return err
			}
			snap := func() (map[string]reconciler.Container, map[string]string, error) {
				cs, err := env.selectServices(ctx, args, true)
				if err != nil {
					return nil, nil, err
				}
				m := map[string]reconciler.Container{}
				h := map[string]string{}
				for _, c := range cs {
					m[c.ID] = c
					h[c.ID] = env.health(c)
				}
				return m, h, nil
			}
			before, hb, err := snap()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(100 * time.Millisecond):
				}
				after, ha, err := snap()
				if err != nil {
					return err
				}
				for _, e := range diffEvents(before, after, hb, ha, time.Now()) {
					if asJSON {
						enc.Encode(e)
						continue
					}
					var attrs []string
					for k, v := range e.Attributes {
						attrs = append(attrs, k+"="+v)
					}
					sort.Strings(attrs)
					fmt.Fprintf(out, "%s container %s %s (%s)\n", e.Time.Format("2006-01-02 15:04:05.000000"), e.Action, e.ID, strings.Join(attrs, ", "))
				}
				before, hb = after, ha
			}
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "output events as a stream of json objects")
	return c
}
