package main

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
)

// A subcommand may own -f (Docker's `rm -f`) without clashing with the
// global -f/--file: cobra panics on a redefined shorthand otherwise.
func TestSubcommandMayOwnShortF(t *testing.T) {
	saved := commandFactories
	t.Cleanup(func() { commandFactories = saved })
	var force bool
	var files []string
	var publish, project string
	commandFactories = []func(*globalOptions) *cobra.Command{func(g *globalOptions) *cobra.Command {
		grp := &cobra.Command{Use: "grp"}
		rm := &cobra.Command{Use: "rm", RunE: func(*cobra.Command, []string) error { files, project = g.Files, g.ProjectName; return nil }}
		rm.Flags().BoolVarP(&force, "force", "f", false, "force")
		rm.Flags().StringVarP(&publish, "publish", "p", "", "publish")
		grp.AddCommand(rm)
		return grp
	}}
	for _, tc := range []struct {
		args      []string
		wantForce bool
		wantFiles int
	}{
		{[]string{"grp", "rm", "-f"}, true, 0},
		{[]string{"--file", "a.yaml", "grp", "rm"}, false, 1},
		{[]string{"-f", "a.yaml", "grp", "rm"}, false, 1},
		{[]string{"-f", "a.yaml", "-p", "x", "-fb.yaml", "grp", "rm", "-f"}, true, 2},
		{[]string{"--root=/r", "-f=a.yaml", "grp", "rm", "-f"}, true, 1},
		{[]string{"-p", "proj", "-f", "a.yaml", "grp", "rm", "-p", "8080:80"}, false, 1},
	} {
		force, files, publish, project = false, nil, "", ""
		root := newRootCmd()
		root.SetArgs(globalFileFirst(tc.args))
		root.SetOut(&bytes.Buffer{})
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if tc.args[0] == "-p" && (project != "proj" || publish != "8080:80") {
			t.Fatalf("%v: project=%q publish=%q, want proj and 8080:80", tc.args, project, publish)
		}
		if force != tc.wantForce || len(files) != tc.wantFiles {
			t.Fatalf("%v: force=%v files=%v, want force=%v and %d files", tc.args, force, files, tc.wantForce, tc.wantFiles)
		}
	}
}
