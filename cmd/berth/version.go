package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	registerCommand(func(*globalOptions) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Show the berth version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				rev := ""
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							rev = " (" + s.Value + ")"
						}
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "berth version %s%s %s %s/%s\n", version, rev, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
				return nil
			},
		}
	})
}
