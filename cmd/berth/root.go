package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// globalOptions are the flags shared by every project command, with Docker
// Compose's names.
type globalOptions struct {
	Files            []string // -f, merged in order; "-" is stdin
	ProjectName      string   // -p
	ProjectDirectory string   // --project-directory
	Profiles         []string // --profile
	EnvFiles         []string // --env-file
	Root             string   // --root, state dir
}

// defaultRoot is where berth keeps its state unless --root or BERTH_ROOT says otherwise.
const defaultRoot = "/var/lib/berth"

// commandFactories holds the constructors of the top-level commands. Each
// command file registers its own in an init function, so that command files
// stay independent of each other.
var commandFactories []func(*globalOptions) *cobra.Command

func registerCommand(f func(*globalOptions) *cobra.Command) {
	commandFactories = append(commandFactories, f)
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Declarative multi-container orchestrator with an embedded container runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringArrayVarP(&g.Files, "file", "f", nil, "compose configuration files (repeatable, merged in order; - reads stdin)")
	pf.StringVarP(&g.ProjectName, "project-name", "p", "", "project name")
	pf.StringVar(&g.ProjectDirectory, "project-directory", "", "alternate working directory (default: the directory of the first compose file)")
	pf.StringArrayVar(&g.Profiles, "profile", nil, "profile to enable (repeatable)")
	pf.StringArrayVar(&g.EnvFiles, "env-file", nil, "alternate environment file (repeatable)")
	rootDefault := os.Getenv("BERTH_ROOT")
	if rootDefault == "" {
		rootDefault = defaultRoot
	}
	pf.StringVar(&g.Root, "root", rootDefault, "state directory (env BERTH_ROOT)")
	for _, f := range commandFactories {
		root.AddCommand(f(g))
	}
	shadowFileShorthand(root, g)
	return root
}

// shadowFileShorthand lets a command use -f for itself (Docker's `rm -f`,
// `logs -f`), as docker and docker compose do. Cobra would refuse the
// inherited -f/--file shorthand of the root, so such a command gets its own
// --file without shorthand, bound to the same option: `berth --file x rm -f`
// still works, while `-f` after the verb means the verb's own flag.
func shadowFileShorthand(cmd *cobra.Command, g *globalOptions) {
	for _, c := range cmd.Commands() {
		f := c.Flags().ShorthandLookup("f")
		if f == nil {
			f = c.PersistentFlags().ShorthandLookup("f")
		}
		if f != nil && f.Name != "file" && c.Flags().Lookup("file") == nil {
			c.Flags().StringArrayVar(&g.Files, "file", nil, "compose configuration files")
			_ = c.Flags().MarkHidden("file")
		}
		shadowFileShorthand(c, g)
	}
}

// globalFileFirst rewrites -f given before the command name into --file.
// Cobra parses every flag with the final command's flag set, so in
// `berth -f x.yaml logs -f` the first -f would otherwise be taken by logs'
// own -f (follow); --file reaches the global option through the shadow flag
// that shadowFileShorthand gives such commands.
func globalFileFirst(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break // the command name: the rest is the command's
		}
		switch {
		case a == "-f":
			out[i] = "--file"
			i++ // the value
		case strings.HasPrefix(a, "-f"):
			out[i] = "--file=" + strings.TrimPrefix(a[2:], "=")
		case !strings.Contains(a, "=") && globalValueFlags[a]:
			i++ // the value
		}
	}
	return out
}

// globalValueFlags are the global flags that take a separate value.
var globalValueFlags = map[string]bool{
	"--file": true, "-p": true, "--project-name": true, "--project-directory": true,
	"--profile": true, "--env-file": true, "--root": true,
}
