package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Docker's top-level shortcuts. At the top level run, ps, exec and logs are
// the Compose verbs (`docker compose run` ...), because berth is first a
// project tool. Outside a project those verbs would only fail with "no
// configuration file", so there they mean what `docker run|ps|exec|logs`
// mean: dockerAlias rewrites the arguments to `berth container ...` before
// cobra parses them. A project is in sight when any of these holds:
//   - a compose file is named: -f/--file, or COMPOSE_FILE;
//   - one is discovered as spec.Load discovers it (compose-go's default
//     discovery: compose.yaml, compose.yml, docker-compose.yml,
//     docker-compose.yaml in the project directory — --project-directory,
//     else the working directory — or in any of its parents);
//   - a project is named: -p/--project-name, COMPOSE_PROJECT_NAME or
//     BERTH_PROJECT_NAME (the Compose verbs work on a named project's
//     containers without its file);
//   - a project-only flag is given before the verb: --profile, --env-file.
//
// The global flags are inherited by the verbs, so -f, -p and their long
// forms after the verb name a project too, except where the verb defines
// the shorthand itself with the same meaning in both worlds: `berth logs
// -f` follows, `berth run -p 8080:80 busybox` publishes a port.

// dockerVerbs maps each top-level verb Docker has for single containers
// (and Compose has for a project) to its `berth container` subcommand.
var dockerVerbs = map[string]string{"run": "run", "ps": "ls", "exec": "exec", "logs": "logs",
	"start": "start", "stop": "stop", "restart": "restart", "kill": "kill", "rm": "rm",
	"pause": "pause", "unpause": "unpause", "top": "top", "wait": "wait"}

// ownShorthand is, for the verbs that define -f or -p themselves with the
// same meaning in both worlds, that shorthand: logs -f follows, rm -f
// forces, run -p publishes. Elsewhere -f and -p after the verb name a
// compose file or a project.
var ownShorthand = map[string]string{"logs": "f", "rm": "f", "run": "p"}

// composeFileNames are the names compose-go's discovery looks for, in its
// order (cli.DefaultFileNames; a test keeps the two equal).
var composeFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// projectEnv are the variables that name a compose file or a project.
var projectEnv = []string{"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "BERTH_PROJECT_NAME"}

// dockerAlias returns args with a leading Compose verb turned into its
// `container` command when no project is in sight (see above). cwd is the
// directory discovery starts from when --project-directory is not given
// ("" = the process's); lookupEnv reads the environment. Global flags
// before the verb stay where they are.
func dockerAlias(args []string, cwd string, lookupEnv func(string) (string, bool)) []string {
	verb, projectDir, project := -1, "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			verb = i
			break
		}
		name, value, hasValue := splitFlag(a)
		switch {
		case name == "file" || name == "project-name" || name == "profile" || name == "env-file":
			project = true
		case name == "project-directory":
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
			}
			projectDir = value
		}
		if !hasValue && globalValueFlags["--"+name] {
			i++ // the value
		}
	}
	if verb < 0 {
		return args
	}
	target, ok := dockerVerbs[args[verb]]
	if !ok || project {
		return args
	}
	// The verb's own flags, up to its first argument. The global flags
	// are inherited there (or are shadow flags, see
	// shadowGlobalShorthands), so they name a project too, except the
	// shorthands a verb defines itself (ownShorthand).
	for i := verb + 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, value, hasValue := splitFlag(a)
		own := !strings.HasPrefix(a, "--") && ownShorthand[args[verb]] == a[1:2]
		switch {
		case (name == "file" || name == "project-name") && !own, name == "profile":
			return args
		case name == "project-directory":
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
			}
			projectDir = value
		}
	}
	for _, k := range projectEnv {
		if v, ok := lookupEnv(k); ok && v != "" {
			return args
		}
	}
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			return args // let the Compose verb report it
		}
	}
	dir := cwd
	if projectDir != "" {
		dir = projectDir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
	}
	if composeFileAbove(dir) != "" {
		return args
	}
	out := make([]string, 0, len(args)+1)
	out = append(out, args[:verb]...)
	out = append(out, "container", target)
	return append(out, args[verb+1:]...)
}

// splitFlag names the flag in a (long name for the global shorthands -f
// and -p; a's own name otherwise) and its value when given in the same
// word (--x=v, -fv, -f=v).
func splitFlag(a string) (name, value string, hasValue bool) {
	if strings.HasPrefix(a, "--") {
		name, value, hasValue = strings.Cut(a[2:], "=")
		return name, value, hasValue
	}
	name = a[1:2]
	if long, ok := globalShorthands[name]; ok {
		name = long
	}
	if len(a) > 2 {
		return name, strings.TrimPrefix(a[2:], "="), true
	}
	return name, "", false
}

// composeFileAbove returns the compose file that discovery finds from dir:
// the first of composeFileNames that exists in dir, else in its nearest
// parent that has one; "" when none does. It mirrors compose-go's
// cli.WithDefaultConfigPath, which spec.Load uses and does not export.
func composeFileAbove(dir string) string {
	dir = filepath.Clean(dir)
	for {
		for _, n := range composeFileNames {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// dockerAliasHelp are the one-line help texts of the top-level verbs that
// have two meanings, where the Compose text with Docker's added would not
// read well.
var dockerAliasHelp = map[string]string{
	"run":  "Run a one-off command on a service; outside a project: run a new container (docker run)",
	"ps":   "List the project's containers; outside a project: list containers (docker ps)",
	"exec": "Execute a command in a service's container; outside a project: in a container (docker exec)",
	"logs": "View output from the project's containers; outside a project: a container's logs (docker logs)",
}

// describeDockerAliases gives the top-level verbs of dockerVerbs the help
// texts that say both of their meanings.
func describeDockerAliases(root *cobra.Command) {
	for _, c := range root.Commands() {
		if _, ok := dockerVerbs[c.Name()]; !ok {
			continue
		}
		short, ok := dockerAliasHelp[c.Name()]
		if !ok {
			short = c.Short + "; outside a project: as docker " + c.Name()
		}
		c.Short = short
		long := "In a project (a compose file given with -f or COMPOSE_FILE, found in the project\n" +
			"directory or a parent, or a project named with -p or COMPOSE_PROJECT_NAME), the\n" +
			"Compose command. Otherwise `berth " + c.Name() + "` is `berth container " + dockerVerbs[c.Name()] + "`,\n" +
			"as `docker " + c.Name() + "` is `docker container " + dockerVerbs[c.Name()] + "`."
		if c.Long != "" {
			long = c.Long + "\n\n" + long
		}
		c.Long = short + ".\n\n" + long
	}
	// And the container commands say which shortcut reaches them, since
	// `berth run --help` outside a project shows container run's help.
	for _, c := range root.Commands() {
		if c.Name() != "container" {
			continue
		}
		for _, sub := range c.Commands() {
			for verb, target := range dockerVerbs {
				if sub.Name() == target {
					note := "Outside a project, `berth " + verb + "` is this command (as `docker " + verb + "`)."
					if sub.Long == "" {
						sub.Long = sub.Short + "."
					}
					sub.Long += "\n\n" + note
				}
			}
		}
	}
}

// withDockerAliases sets the help texts of the two-meaning verbs on root
// and returns args rewritten for it (see dockerAlias).
func withDockerAliases(root *cobra.Command, args []string) []string {
	describeDockerAliases(root)
	if out, ok := dropComposeWord(args); ok {
		return out
	}
	return dockerAlias(args, "", os.LookupEnv)
}

// dropComposeWord turns `berth compose VERB ...` (what Docker users type
// from habit) into `berth VERB ...`, always with the Compose meaning.
func dropComposeWord(args []string) ([]string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args, false
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if a != "compose" || i+1 >= len(args) {
				return args, false
			}
			return append(append([]string(nil), args[:i]...), args[i+1:]...), true
		}
		if name, _, hasValue := splitFlag(a); !hasValue && globalValueFlags["--"+name] {
			i++ // the value
		}
	}
	return args, false
}
