package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/berth-dev/berth/internal/testenv"
)

// aliasDirs makes a tree for the discovery cases: none/ (no compose file
// up to /), proj/compose.yaml with proj/sub/deeper below it, and
// legacy/docker-compose.yml.
func aliasDirs(t *testing.T) (base string) {
	t.Helper()
	base = t.TempDir()
	if f := composeFileAbove(base); f != "" {
		testenv.Missing(t, "a compose file above the temp dir (%s) makes every directory a project", f)
	}
	for _, d := range []string{"none", "proj/sub/deeper", "legacy"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"proj/compose.yaml", "legacy/docker-compose.yml"} {
		if err := os.WriteFile(filepath.Join(base, f), []byte("services:\n  web:\n    image: busybox\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func TestDockerAliasArgs(t *testing.T) {
	base := aliasDirs(t)
	none, proj := filepath.Join(base, "none"), filepath.Join(base, "proj")
	type tc struct {
		name string
		dir  string // relative to base
		env  map[string]string
		args []string
		want []string // nil: unchanged
	}
	c := func(args ...string) []string { return append([]string{"container"}, args...) }
	cases := []tc{
		// Outside a project: Docker's meaning.
		{"run", "none", nil, []string{"run", "--rm", "busybox", "echo", "hi"}, c("run", "--rm", "busybox", "echo", "hi")},
		{"run docker flags", "none", nil, []string{"run", "-d", "-p", "8080:80", "--name", "x", "busybox", "sleep", "9"}, c("run", "-d", "-p", "8080:80", "--name", "x", "busybox", "sleep", "9")},
		{"run -p joined", "none", nil, []string{"run", "-p8080:80", "busybox"}, c("run", "-p8080:80", "busybox")},
		{"run --help", "none", nil, []string{"run", "--help"}, c("run", "--help")},
		{"ps", "none", nil, []string{"ps"}, c("ls")},
		{"ps -a -q", "none", nil, []string{"ps", "-a", "-q"}, c("ls", "-a", "-q")},
		{"ps --format", "none", nil, []string{"ps", "--format", "json"}, c("ls", "--format", "json")},
		{"exec -it", "none", nil, []string{"exec", "-it", "web", "sh"}, c("exec", "-it", "web", "sh")},
		{"exec command flags", "none", nil, []string{"exec", "web", "ls", "-p", "--file", "x"}, c("exec", "web", "ls", "-p", "--file", "x")},
		{"logs -f follows", "none", nil, []string{"logs", "-f", "web"}, c("logs", "-f", "web")},
		{"stop -t", "none", nil, []string{"stop", "-t", "1", "web"}, c("stop", "-t", "1", "web")},
		{"rm -f forces", "none", nil, []string{"rm", "-f", "web"}, c("rm", "-f", "web")},
		{"kill -s", "none", nil, []string{"kill", "-s", "TERM", "web"}, c("kill", "-s", "TERM", "web")},
		{"start", "none", nil, []string{"start", "web"}, c("start", "web")},
		{"restart", "none", nil, []string{"restart", "web"}, c("restart", "web")},
		{"pause", "none", nil, []string{"pause", "web"}, c("pause", "web")},
		{"unpause", "none", nil, []string{"unpause", "web"}, c("unpause", "web")},
		{"top", "none", nil, []string{"top", "web"}, c("top", "web")},
		{"wait", "none", nil, []string{"wait", "web"}, c("wait", "web")},
		{"global --root before", "none", nil, []string{"--root", "/r", "run", "busybox"}, []string{"--root", "/r", "container", "run", "busybox"}},
		{"global --root= before", "none", nil, []string{"--root=/r", "ps", "-a"}, []string{"--root=/r", "container", "ls", "-a"}},
		{"empty COMPOSE_FILE", "none", map[string]string{"COMPOSE_FILE": ""}, []string{"ps"}, c("ls")},
		{"project dir without file", "proj", nil, []string{"--project-directory", none, "ps"}, []string{"--project-directory", none, "container", "ls"}},
		{"relative project dir without file", "proj", nil, []string{"--project-directory=../none", "ps"}, []string{"--project-directory=../none", "container", "ls"}},
		// In a project, or with one named: Compose's meaning.
		{"discovered", "proj", nil, []string{"run", "web"}, nil},
		{"discovered --help", "proj", nil, []string{"run", "--help"}, nil},
		{"discovered ps", "proj", nil, []string{"ps"}, nil},
		{"discovered in parent", "proj/sub/deeper", nil, []string{"ps"}, nil},
		{"docker-compose.yml", "legacy", nil, []string{"logs"}, nil},
		{"project dir with file", "none", nil, []string{"--project-directory", proj, "ps"}, nil},
		{"project dir after verb", "none", nil, []string{"ps", "--project-directory=../proj"}, nil},
		{"-f", "none", nil, []string{"-f", "x.yaml", "run", "web"}, nil},
		{"-f joined", "none", nil, []string{"-fx.yaml", "ps"}, nil},
		{"--file=", "none", nil, []string{"--file=x.yaml", "exec", "web", "sh"}, nil},
		{"-f after verb", "none", nil, []string{"ps", "-f", "x.yaml"}, nil},
		{"--file after verb", "none", nil, []string{"logs", "--file", "x.yaml"}, nil},
		{"-p", "none", nil, []string{"-p", "demo", "ps"}, nil},
		{"--project-name", "none", nil, []string{"--root", "/r", "--project-name", "demo", "logs"}, nil},
		{"-p after ps", "none", nil, []string{"ps", "-p", "demo"}, nil},
		{"-f after stop", "none", nil, []string{"stop", "-f", "x.yaml"}, nil},
		{"--file after rm", "none", nil, []string{"rm", "--file", "x.yaml", "-f"}, nil},
		{"discovered rm -f", "proj", nil, []string{"rm", "-f", "web"}, nil},
		{"discovered stop", "proj/sub", nil, []string{"stop"}, nil},
		{"--project-name after run", "none", nil, []string{"run", "--project-name=demo", "web"}, nil},
		{"--profile", "none", nil, []string{"--profile", "debug", "run", "web"}, nil},
		{"--env-file", "none", nil, []string{"--env-file", "prod.env", "ps"}, nil},
		{"COMPOSE_FILE", "none", map[string]string{"COMPOSE_FILE": "x.yaml"}, []string{"ps"}, nil},
		{"COMPOSE_PROJECT_NAME", "none", map[string]string{"COMPOSE_PROJECT_NAME": "demo"}, []string{"exec", "web", "sh"}, nil},
		{"BERTH_PROJECT_NAME", "none", map[string]string{"BERTH_PROJECT_NAME": "demo"}, []string{"run", "web"}, nil},
		// Not one of Docker's verbs for containers.
		{"up", "none", nil, []string{"up", "-d"}, nil},
		{"container run", "none", nil, []string{"container", "run", "busybox"}, nil},
		{"help run", "none", nil, []string{"help", "run"}, nil},
		{"no verb", "none", nil, []string{"--root", "/r"}, nil},
		{"nothing", "none", nil, []string{}, nil},
		{"after --", "none", nil, []string{"--", "run"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			// As main does: globalFileFirst first.
			got := dockerAlias(globalFileFirst(tc.args), filepath.Join(base, tc.dir), env)
			want := tc.want
			if want == nil {
				want = globalFileFirst(tc.args)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("dockerAlias(%q) in %s = %q, want %q", tc.args, tc.dir, got, want)
			}
			if tc.want == nil {
				return
			}
			// The rewritten arguments reach the command they mean.
			cmd, _, err := newRootCmd().Find(got)
			if err != nil {
				t.Fatalf("find %q: %v", got, err)
			}
			wantPath := "berth container " + tc.want[slices.Index(tc.want, "container")+1]
			if cmd.CommandPath() != wantPath {
				t.Fatalf("%q runs %q, want %q", got, cmd.CommandPath(), wantPath)
			}
		})
	}
}

// The discovery mirrors compose-go's: same names, same order.
func TestDockerAliasDiscoveryNames(t *testing.T) {
	if !slices.Equal(composeFileNames, cli.DefaultFileNames) {
		t.Fatalf("composeFileNames = %q, compose-go discovers %q", composeFileNames, cli.DefaultFileNames)
	}
	base := aliasDirs(t)
	for dir, want := range map[string]string{
		"none":            "",
		"proj":            "proj/compose.yaml",
		"proj/sub/deeper": "proj/compose.yaml",
		"legacy":          "legacy/docker-compose.yml",
	} {
		if want != "" {
			want = filepath.Join(base, want)
		}
		if got := composeFileAbove(filepath.Join(base, dir)); got != want {
			t.Errorf("composeFileAbove(%s) = %q, want %q", dir, got, want)
		}
	}
	// compose.yaml wins over docker-compose.yml in the same directory.
	both := filepath.Join(base, "both")
	os.MkdirAll(both, 0o755)
	for _, n := range []string{"docker-compose.yml", "compose.yml"} {
		os.WriteFile(filepath.Join(both, n), nil, 0o644)
	}
	if got := composeFileAbove(both); got != filepath.Join(both, "compose.yml") {
		t.Errorf("composeFileAbove(both) = %q, want compose.yml", got)
	}
}

func TestDockerAliasHelp(t *testing.T) {
	root := newRootCmd()
	describeDockerAliases(root)
	for verb, target := range dockerVerbs {
		c, _, err := root.Find([]string{verb})
		if err != nil || c.Name() != verb {
			t.Fatalf("find %s: %v %v", verb, c, err)
		}
		if !strings.Contains(c.Short, "docker "+verb) || !strings.Contains(c.Short, "project") || strings.Contains(c.Short, "\n") {
			t.Errorf("%s: Short %q should say both meanings in one line", verb, c.Short)
		}
		if !strings.Contains(c.Long, "berth container "+target) {
			t.Errorf("%s: Long %q does not name berth container %s", verb, c.Long, target)
		}
		sub, _, err := root.Find([]string{"container", target})
		if err != nil || !strings.Contains(sub.Long, "`berth "+verb+"`") {
			t.Errorf("container %s: Long %q does not name berth %s", target, sub.Long, verb)
		}
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "outside a project: run a new container (docker run)") {
		t.Errorf("berth --help does not show both meanings of run:\n%s", out.String())
	}
}

// berthInDir runs the built binary in dir with a clean project
// environment (no COMPOSE_FILE or project name from the caller).
func berthInDir(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(builtBerth(t), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(projectEnv, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run berth: %v", err)
	}
	return o.String(), e.String(), code
}

// TestDockerAliasCLI runs the Docker shortcuts through the real binary in
// a directory without a compose file, and the Compose meaning in one with.
func TestDockerAliasCLI(t *testing.T) {
	testenv.RequireRoot(t)
	root := newNetTestRoot(t, "10.236.224.0/20")
	loadBusybox(t, root, nil)
	base := aliasDirs(t)
	none, proj := filepath.Join(base, "none"), filepath.Join(base, "proj")

	out, errOut, code := berthInDir(t, none, "--root", root, "run", "--rm", "busybox", "echo", "hi")
	if code != 0 || out != "hi\n" {
		t.Fatalf("berth run --rm busybox echo hi: code %d out %q err %q", code, out, errOut)
	}
	if _, _, code := berthInDir(t, none, "--root", root, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 4"); code != 4 {
		t.Errorf("berth run exit code %d, want 4", code)
	}
	if all, _, _ := berthInDir(t, none, "--root", root, "ps", "-a", "-q"); all != "" {
		t.Errorf("--rm left containers: %q", all)
	}

	created := strings.TrimSpace(mustBerth(t, root, "container", "create", "--name", "made", "--network", "none", "busybox", "true"))
	bg := strings.TrimSpace(mustBerth(t, root, "container", "run", "-d", "--name", "bg", "--network", "none", "busybox", "sh", "-c", "echo up; exec sleep 60"))
	if len(created) != 64 || len(bg) != 64 {
		t.Fatalf("create printed %q, run -d printed %q", created, bg)
	}
	out, errOut, code = berthInDir(t, none, "--root", root, "ps", "-a")
	if code != 0 || !strings.HasPrefix(out, "CONTAINER ID") || !strings.Contains(out, "made") || !strings.Contains(out, "bg") {
		t.Errorf("berth ps -a: code %d err %q\n%s", code, errOut, out)
	}
	out, _, _ = berthInDir(t, none, "--root", root, "ps")
	if strings.Contains(out, "made") || !strings.Contains(out, "bg") {
		t.Errorf("berth ps lists the running container only:\n%s", out)
	}
	out, _, _ = berthInDir(t, none, "--root", root, "ps", "-a", "-q")
	if ids := strings.Fields(out); len(ids) != 2 || !slices.Contains(ids, created[:12]) || !slices.Contains(ids, bg[:12]) {
		t.Errorf("berth ps -a -q = %q", out)
	}
	out, _, _ = berthInDir(t, none, "--root", root, "ps", "-a", "--format", "json")
	names := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row struct{ Names string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("ps --format json line %q: %v", line, err)
		}
		names[row.Names] = true
	}
	if !names["made"] || !names["bg"] {
		t.Errorf("ps --format json names %v", names)
	}
	if out, errOut, code := berthInDir(t, none, "--root", root, "exec", "bg", "sh", "-c", "echo in; exit 5"); code != 5 || out != "in\n" {
		t.Errorf("berth exec: code %d out %q err %q", code, out, errOut)
	}
	if out, errOut, code := berthInDir(t, none, "--root", root, "logs", "bg"); code != 0 || out != "up\n" {
		t.Errorf("berth logs: code %d out %q err %q", code, out, errOut)
	}
	// With a project in sight, the same verbs are the Compose ones: the
	// project has no containers, so none of ours is listed.
	for _, tc := range []struct {
		dir  string
		args []string
	}{
		{proj, []string{"ps", "-a"}},
		{filepath.Join(proj, "sub"), []string{"ps", "-a"}},
		{none, []string{"-p", "other", "ps", "-a"}},
	} {
		out, errOut, code := berthInDir(t, tc.dir, append([]string{"--root", root}, tc.args...)...)
		if code != 0 || !strings.Contains(out, "SERVICE") || strings.Contains(out, "made") || strings.Contains(out, "bg") {
			t.Errorf("berth %q in %s: want the project's (empty) ps, got code %d err %q\n%s", tc.args, tc.dir, code, errOut, out)
		}
	}
	// The lifecycle verbs, as docker stop/start/rm -f.
	if _, errOut, code := berthInDir(t, none, "--root", root, "stop", "-t", "1", "bg"); code != 0 {
		t.Errorf("berth stop: code %d err %q", code, errOut)
	}
	if out, _, _ := berthInDir(t, none, "--root", root, "ps", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("berth stop left running: %q", out)
	}
	if _, errOut, code := berthInDir(t, none, "--root", root, "start", "bg"); code != 0 {
		t.Errorf("berth start: code %d err %q", code, errOut)
	}
	if _, errOut, code := berthInDir(t, none, "--root", root, "rm", "-f", "bg", "made"); code != 0 {
		t.Errorf("berth rm -f: code %d err %q", code, errOut)
	}
	if out, _, _ := berthInDir(t, none, "--root", root, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("berth rm -f left: %q", out)
	}
}

func TestDropComposeWord(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"compose up -d", "up -d", true},
		{"--root /x compose ps -a", "--root /x ps -a", true},
		{"-f compose compose logs", "-f compose logs", true},
		{"-p compose ps", "-p compose ps", false},
		{"--project-name=compose compose down", "--project-name=compose down", true},
		{"compose", "compose", false},
		{"ps compose", "ps compose", false},
		{"-- compose up", "-- compose up", false},
	} {
		got, ok := dropComposeWord(strings.Fields(tc.in))
		if strings.Join(got, " ") != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v, want %q %v", tc.in, strings.Join(got, " "), ok, tc.want, tc.ok)
		}
	}
}
