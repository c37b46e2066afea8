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
	shadowGlobalShorthands(root, g)
	return root
}

// shadowGlobalShorthands lets a command use -f or -p for itself (Docker's
// `rm -f`, `logs -f`, `run -p`), as docker and docker compose do. Cobra
// would refuse the inherited shorthand of the root's global flag, so such a
// command gets the global flag's long form without shorthand, bound to the
// same option: `berth --file x rm -f` still works, while -f after the verb
// means the verb's own flag (globalFileFirst turns a -f or -p given before
// the command name into the long form).
func shadowGlobalShorthands(cmd *cobra.Command, g *globalOptions) {
	for _, c := range cmd.Commands() {
		for _, short := range []string{"f", "p"} {
			f := c.Flags().ShorthandLookup(short)
			if f == nil {
				f = c.PersistentFlags().ShorthandLookup(short)
			}
			long := globalShorthands[short]
			if f == nil || f.Name == long || c.Flags().Lookup(long) != nil {
				continue
			}
			switch short {
			case "f":
				c.Flags().StringArrayVar(&g.Files, long, nil, "compose configuration files")
			case "p":
				c.Flags().StringVar(&g.ProjectName, long, "", "project name")
			}
			_ = c.Flags().MarkHidden(long)
		}
		shadowGlobalShorthands(c, g)
	}
}

// globalFileFirst rewrites -f and -p given before the command name into
// --file and --project-name. Cobra parses every flag with the final
// command's flag set, so in `berth -f x.yaml logs -f` the first -f would
// otherwise be taken by logs' own -f (follow); the long forms reach the
// global options through the shadow flags of shadowGlobalShorthands.
func globalFileFirst(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break // the command name: the rest is the command's
		}
		if len(a) >= 2 && a[0] == '-' && a[1] != '-' {
			if long, ok := globalShorthands[a[1:2]]; ok {
				if len(a) == 2 {
					out[i] = "--" + long
					i++ // the value
				} else {
					out[i] = "--" + long + "=" + strings.TrimPrefix(a[2:], "=")
				}
				continue
			}
		}
		if !strings.Contains(a, "=") && globalValueFlags[a] {
			i++ // the value
		}
	}
	return out
}

// globalShorthands maps the global flags' shorthands that a command may
// reuse for itself to their long names.
var globalShorthands = map[string]string{"f": "file", "p": "project-name"}

// globalValueFlags are the global long flags that take a separate value.
var globalValueFlags = map[string]bool{
	"--file": true, "--project-name": true, "--project-directory": true,
	"--profile": true, "--env-file": true, "--root": true,
}
