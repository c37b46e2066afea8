package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/schemas"
	"github.com/berth-dev/berth/spec"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// configOptions are the flags of `berth config`.
type configOptions struct {
	Format   string // yaml or json
	Services bool
	Volumes  bool
	Networks bool
	Profiles bool
	Images   bool
	Hash     string // "*" or comma-separated service names
	Quiet    bool
	Schema   bool
}

func init() {
	registerCommand(func(g *globalOptions) *cobra.Command {
		var o configOptions
		cmd := &cobra.Command{
			Use:   "config [OPTIONS]",
			Short: "Validate and print the normalized project (like docker compose config)",
			Long: `Load the manifests as every project command does (files, profiles, .env,
interpolation, extends, include, pods), validate them and print the normalized
project. Errors name file:line:col and the key path.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runConfig(cmd, g, o)
			},
		}
		f := cmd.Flags()
		f.StringVar(&o.Format, "format", "yaml", "output format: yaml or json")
		f.BoolVar(&o.Services, "services", false, "print the service names, one per line")
		f.BoolVar(&o.Volumes, "volumes", false, "print the volume names, one per line")
		f.BoolVar(&o.Networks, "networks", false, "print the network names, one per line")
		f.BoolVar(&o.Profiles, "profiles", false, "print the profile names, one per line")
		f.BoolVar(&o.Images, "images", false, "print the image names, one per line")
		f.StringVar(&o.Hash, "hash", "", `print "service hash" per line for the given services ("*" for all)`)
		f.BoolVarP(&o.Quiet, "quiet", "q", false, "only validate; print nothing")
		f.BoolVar(&o.Schema, "schema", false, "print the JSON Schema of berth manifests (Compose Specification + pods) and exit")
		return cmd
	})
}

func runConfig(cmd *cobra.Command, g *globalOptions, o configOptions) error {
	out := cmd.OutOrStdout()
	if o.Schema {
		b, err := schemas.Combined()
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	if o.Format != "yaml" && o.Format != "json" {
		return fmt.Errorf("invalid --format %q: want yaml or json", o.Format)
	}
	p, err := g.loadProject(cmd.Context(), cmd.InOrStdin())
	if err != nil {
		return err
	}
	return writeConfig(out, p, o)
}

// writeConfig prints p as o asks. Lists come out sorted, so output is
// stable.
func writeConfig(out io.Writer, p *spec.Project, o configOptions) error {
	if o.Quiet {
		return nil
	}
	lines := func(items []string) error {
		for _, s := range items {
			if _, err := fmt.Fprintln(out, s); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case o.Services:
		return lines(p.ServiceNames())
	case o.Volumes:
		var names []string
		for _, v := range p.Volumes {
			names = append(names, v.Key)
		}
		return lines(names)
	case o.Networks:
		var names []string
		for _, n := range p.Networks {
			names = append(names, n.Key)
		}
		return lines(names)
	case o.Profiles:
		return lines(p.DeclaredProfiles)
	case o.Images:
		seen := map[string]bool{}
		var images []string
		for _, s := range p.Services {
			if !seen[s.Image] {
				seen[s.Image] = true
				images = append(images, s.Image)
			}
		}
		sort.Strings(images)
		return lines(images)
	case o.Hash != "":
		var want []string
		if o.Hash == "*" {
			want = p.ServiceNames()
		} else {
			for _, n := range strings.Split(o.Hash, ",") {
				if n = strings.TrimSpace(n); n != "" {
					want = append(want, n)
				}
			}
		}
		var rows []string
		for _, n := range want {
			s, ok := p.Service(n)
			if !ok {
				return fmt.Errorf("--hash: no such service: %s", n)
			}
			rows = append(rows, s.Name+" "+s.ConfigHash)
		}
		return lines(rows)
	}
	if o.Format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("encode project: %w", err)
	}
	return enc.Close()
}
