package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
)

// composeProject is a test project: a state root with busybox loaded and
// a project dir.
type composeProject struct {
	t    *testing.T
	root string
	dir  string
	name string
}

func newComposeProject(t *testing.T, name, manifest string) *composeProject {
	t.Helper()
	testenv.RequireRoot(t)
	root := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", filepath.Join(root, "run"))
	loadBusybox(t, root, nil)
	cp := &composeProject{t: t, root: root, dir: t.TempDir(), name: name}
	cp.write(manifest)
	t.Cleanup(func() {
		// Whatever the test did, take the project down.
		if _, _, code := berthCLI(t, root, nil, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", name, "down", "-v", "-t", "0"); code != 0 {
			// The manifest may be broken on purpose: down by name.
			berthCLI(t, root, nil, "-p", name, "down", "-v", "-t", "0")
		}
	})
	return cp
}

func (cp *composeProject) write(manifest string) {
	cp.t.Helper()
	if err := os.WriteFile(filepath.Join(cp.dir, "compose.yaml"), []byte(manifest), 0o644); err != nil {
		cp.t.Fatal(err)
	}
}

func (cp *composeProject) berth(args ...string) (string, string, int) {
	cp.t.Helper()
	return berthCLI(cp.t, cp.root, nil, append([]string{"-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name}, args...)...)
}

func (cp *composeProject) must(args ...string) string {
	cp.t.Helper()
	start := time.Now()
	out, errOut, code := cp.berth(args...)
	cp.t.Logf("berth %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if code != 0 {
		cp.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// ids maps container name to ID for all containers of the project.
func (cp *composeProject) ids() map[string]string {
	cp.t.Helper()
	out := cp.must("ps", "-a", "--format", "json")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r psRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			cp.t.Fatalf("ps json %q: %v", line, err)
		}
		m[r.Name] = r.ID
	}
	return m
}

func (cp *composeProject) rows() map[string]psRow {
	cp.t.Helper()
	out := cp.must("ps", "-a", "--format", "json")
	m := map[string]psRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r psRow
		json.Unmarshal([]byte(line), &r)
		m[r.Name] = r
	}
	return m
}

func names(m map[string]string) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// initPid is the host pid of a container's process, from inspect.
func (cp *composeProject) initPid(id string) int {
	cp.t.Helper()
	out := mustBerth(cp.t, cp.root, "container", "inspect", id)
	var sts []struct{ State struct{ Pid int } }
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 {
		cp.t.Fatalf("inspect %s: %v %s", id, err, out)
	}
	return sts[0].State.Pid
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const composeStack = `
services:
  db:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      start_interval: 200ms
      start_period: 5s
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo web up; exec sleep 1000"]
    environment:
      DB_HOST: db
    init: true
    restart: always
    depends_on:
      db:
        condition: service_healthy
  oneshot:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    restart: "no"
`

func TestComposeUpDown(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "itest", composeStack)

	// up -d from nothing.
	_, errOut, code := cp.berth("up", "-d", "--wait")
	if code != 0 {
		t.Fatalf("up: %d\n%s", code, errOut)
	}
	first := cp.ids()
	if got := names(first); strings.Join(got, " ") != "itest-db-1 itest-oneshot-1 itest-web-1" {
		t.Fatalf("containers %v", got)
	}
	if r := cp.rows()["itest-db-1"]; r.Health != "healthy" || !strings.Contains(r.Status, "(healthy)") {
		t.Errorf("db health %q status %q", r.Health, r.Status)
	}

	// up again: nothing changes.
	if out := cp.must("up", "--dry-run"); out != "nothing to do\n" {
		t.Errorf("dry-run after up:\n%s", out)
	}
	cp.must("up", "-d")
	if again := cp.ids(); strings.Join(names(again), " ") != strings.Join(names(first), " ") || again["itest-web-1"] != first["itest-web-1"] || again["itest-db-1"] != first["itest-db-1"] {
		t.Fatalf("no-op up changed containers: %v -> %v", first, again)
	}

	// Change web's environment: only web is recreated.
	cp.write(strings.Replace(composeStack, "DB_HOST: db", "DB_HOST: db2", 1))
	if plan := cp.must("up", "--dry-run"); !strings.Contains(plan, "recreate container itest-web-1: environment.DB_HOST changed") || strings.Contains(plan, "itest-db-1") {
		t.Errorf("plan:\n%s", plan)
	}
	cp.must("up", "-d")
	changed := cp.ids()
	if changed["itest-web-1"] == first["itest-web-1"] || changed["itest-db-1"] != first["itest-db-1"] || changed["itest-oneshot-1"] != first["itest-oneshot-1"] {
		t.Fatalf("env change: %v -> %v", first, changed)
	}

	// Scale 1 -> 3 -> 1.
	cp.must("up", "-d", "--scale", "oneshot=3")
	if got := names(cp.ids()); len(got) != 5 {
		t.Fatalf("scale 3: %v", got)
	}
	cp.must("up", "-d", "--scale", "oneshot=1")
	if got := names(cp.ids()); len(got) != 3 {
		t.Fatalf("scale 1: %v", got)
	}

	// A crashed web (restart: always) is restarted by the supervisor;
	// oneshot (restart: no) is not.
	ids := cp.ids()
	webPid := cp.initPid(ids["itest-web-1"])
	shotPid := cp.initPid(ids["itest-oneshot-1"])
	syscall.Kill(webPid, syscall.SIGKILL)
	syscall.Kill(shotPid, syscall.SIGKILL)
	waitFor(t, "web restarted", 10*time.Second, func() bool {
		r := cp.rows()["itest-web-1"]
		return r.State == "running" && cp.initPid(ids["itest-web-1"]) != webPid
	})
	time.Sleep(500 * time.Millisecond)
	if r := cp.rows()["itest-oneshot-1"]; r.State != "exited" {
		t.Errorf("oneshot (restart: no) is %s after a kill", r.State)
	}

	// kill -9 of the supervisor: containers live on; up adopts them.
	pidb, err := os.ReadFile(filepath.Join(cp.root, "projects", "itest", "supervisor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	supPid, _ := strconv.Atoi(string(pidb))
	before := cp.ids()
	syscall.Kill(supPid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if r := cp.rows()["itest-web-1"]; r.State != "running" {
		t.Fatalf("web died with its supervisor: %s", r.State)
	}
	cp.must("up", "-d")
	after := cp.ids()
	if after["itest-web-1"] != before["itest-web-1"] || after["itest-db-1"] != before["itest-db-1"] {
		t.Fatalf("adoption recreated: %v -> %v", before, after)
	}
	pidb2, _ := os.ReadFile(filepath.Join(cp.root, "projects", "itest", "supervisor.pid"))
	if string(pidb2) == string(pidb) || len(pidb2) == 0 {
		t.Errorf("no new supervisor (%q)", pidb2)
	}

	// Remove a service from the manifest: orphan warning, then removal.
	cp.write(strings.Replace(strings.Replace(composeStack, "DB_HOST: db", "DB_HOST: db2", 1), "  oneshot:\n    image: busybox:latest\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 1s\n    restart: \"no\"\n", "", 1))
	_, errOut, _ = cp.berth("up", "-d")
	if !strings.Contains(errOut, "Found orphan containers ([itest-oneshot-1])") {
		t.Errorf("no orphan warning:\n%s", errOut)
	}
	cp.must("up", "-d", "--remove-orphans")
	if got := names(cp.ids()); len(got) != 2 {
		t.Errorf("after --remove-orphans: %v", got)
	}

	// down leaves nothing of the project.
	cp.must("down", "-v")
	if got := cp.ids(); len(got) != 0 {
		t.Errorf("containers after down: %v", got)
	}
	if _, err := os.Stat(filepath.Join(cp.root, "projects", "itest")); !os.IsNotExist(err) {
		t.Errorf("project state left: %v", err)
	}
	if out := mustBerth(t, cp.root, "network", "ls", "-q"); strings.Contains(out, "itest") {
		t.Errorf("networks left: %s", out)
	}
}

// Foreground up streams prefixed logs, ends when the containers have
// exited, and returns the exit code of --exit-code-from's service.
func TestComposeForeground(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "fg", `
services:
  job:
    image: busybox:latest
    command: ["sh", "-c", "echo job says hi; sleep 0.3; exit 3"]
  app:
    image: busybox:latest
    command: ["sh", "-c", "echo app line; sleep 1000"]
    init: true
    stop_grace_period: 1s
`)
	out, errOut, code := cp.berth("up", "--exit-code-from", "job", "--no-color")
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"job-1  | job says hi", "app-1  | app line", "job-1  | exited with code 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "Aborting on container exit...") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if r := cp.rows()["fg-app-1"]; r.State != "exited" {
		t.Errorf("app not stopped on abort: %s", r.State)
	}
}

// A foreground up ends by itself once the supervisor gives up restarting
// an on-failure:N service (as Compose's), and prints every run's output,
// however short the runs.
func TestComposeForegroundGivesUp(t *testing.T) {
	cp := newComposeProject(t, "fgup", `
services:
  flaky:
    image: busybox:latest
    command: ["sh", "-c", "echo flaky run; exit 3"]
    restart: on-failure:2
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up := exec.CommandContext(ctx, builtBerth(t), "--root", cp.root, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name, "up", "--no-color")
	var stdout, stderr bytes.Buffer
	up.Stdout, up.Stderr = &stdout, &stderr
	err := up.Run()
	out := stdout.String()
	if ctx.Err() != nil {
		t.Fatalf("up still running 30 s after the supervisor gave up:\n%s%s", out, stderr.String())
	}
	if err != nil {
		t.Fatalf("up: %v\n%s%s", err, out, stderr.String())
	}
	if n := strings.Count(out, "flaky-1  | flaky run\n"); n != 3 {
		t.Errorf("%d runs' output printed, want 3 (the run and 2 restarts):\n%s", n, out)
	}
	if n := strings.Count(out, "flaky-1  | exited with code 3"); n != 3 {
		t.Errorf("%d exits noted, want 3:\n%s", n, out)
	}
}

// A dependency that exits at once fails its service_healthy dependants
// with a clear message; a failing healthcheck too.
func TestComposeHealthGating(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "gate", `
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "exit 1"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  sick:
    image: busybox:latest
    command: ["sleep", "1000"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "exit 1"]
      interval: 100ms
      retries: 2
  web:
    image: busybox:latest
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
  api:
    image: busybox:latest
    command: ["sleep", "1000"]
    depends_on:
      sick:
        condition: service_healthy
`)
	_, errOut, code := cp.berth("up", "-d")
	if code == 0 {
		t.Fatal("up succeeded")
	}
	for _, want := range []string{
		"service web: dependency failed to start: container gate-db-1 exited (1) before it was healthy",
		"service api: dependency failed to start: container gate-sick-1 is unhealthy",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	ids := cp.ids()
	if _, ok := ids["gate-web-1"]; ok {
		t.Error("web created although db failed")
	}
	if r := cp.rows()["gate-sick-1"]; r.Health != "unhealthy" {
		t.Errorf("sick health %q", r.Health)
	}
	// up --wait says what it waited for, as Compose's: no dependency here.
	_, errOut, code = cp.berth("up", "-d", "--wait", "sick")
	if code == 0 || !strings.Contains(errOut, "container gate-sick-1 is unhealthy") || strings.Contains(errOut, "dependency") {
		t.Errorf("up --wait on an unhealthy service: exit %d\n%s", code, errOut)
	}
}

// The other verbs on a running project.
func TestComposeVerbs(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "verbs", `
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello from web; exec sleep 1000"]
    init: true
    restart: always
    environment:
      GREETING: hi
    ports:
      - "127.0.0.1::80"
`)
	cp.must("up", "-d")
	if out := cp.must("exec", "-T", "web", "sh", "-c", "echo $GREETING"); out != "hi\n" {
		t.Errorf("exec: %q", out)
	}
	if _, _, code := cp.berth("exec", "-T", "web", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec exit code %d", code)
	}
	if out, errOut, code := cp.berth("run", "--rm", "-T", "web", "sh", "-c", "echo one-off $GREETING; exit 4"); code != 4 || out != "one-off hi\n" {
		t.Errorf("run: %d %q %s", code, out, errOut)
	}
	if ids := cp.ids(); len(ids) != 1 {
		t.Errorf("run --rm left %v", ids)
	}
	waitFor(t, "log line", 5*time.Second, func() bool {
		return strings.Contains(cp.must("logs", "--no-color"), "web-1  | hello from web")
	})
	if out := cp.must("port", "web", "80"); !strings.HasPrefix(out, "127.0.0.1:") {
		t.Errorf("port: %q", out)
	}
	if out := cp.must("top"); !strings.Contains(out, "sleep 1000") {
		t.Errorf("top:\n%s", out)
	}
	if out := cp.must("images"); !strings.Contains(out, "busybox") {
		t.Errorf("images:\n%s", out)
	}
	if out := mustBerth(t, cp.root, "ls"); !strings.Contains(out, "verbs") || !strings.Contains(out, "running(1)") {
		t.Errorf("ls:\n%s", out)
	}

	// stop: a user's stop is not undone by the supervisor (restart: always).
	cp.must("stop", "-t", "1")
	time.Sleep(time.Second)
	if r := cp.rows()["verbs-web-1"]; r.State != "exited" {
		t.Fatalf("after stop: %s", r.State)
	}
	cp.must("start")
	if r := cp.rows()["verbs-web-1"]; r.State != "running" {
		t.Fatalf("after start: %s", r.State)
	}
	// The run that start began is supervised (start nudges the
	// supervisor): a crash of it is restarted (restart: always).
	ids := cp.ids()
	pid := cp.initPid(ids["verbs-web-1"])
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "web restarted after a start", 10*time.Second, func() bool {
		r := cp.rows()["verbs-web-1"]
		return r.State == "running" && cp.initPid(ids["verbs-web-1"]) != pid
	})
	cp.must("pause")
	if r := cp.rows()["verbs-web-1"]; r.State != "paused" {
		t.Errorf("after pause: %s", r.State)
	}
	cp.must("unpause")
	cp.must("restart", "-t", "1")
	cp.must("kill")
	time.Sleep(500 * time.Millisecond)
	if r := cp.rows()["verbs-web-1"]; r.State != "exited" {
		t.Errorf("after kill (user intent): %s", r.State)
	}
	cp.must("rm", "--force")
	if ids := cp.ids(); len(ids) != 0 {
		t.Errorf("after rm: %v", ids)
	}
	cp.must("down")
}

// logs -f follows a container across the restarts its supervisor makes,
// as Compose's does, and ends once it has stopped for good (here: the
// user stopped it).
func TestComposeLogsFollowRestarts(t *testing.T) {
	cp := newComposeProject(t, "logsf", `
services:
  c:
    image: busybox:latest
    command: ["sh", "-c", "echo run; sleep 0.3; exit 1"]
    restart: always
    stop_grace_period: 1s
`)
	cp.must("up", "-d")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs := exec.CommandContext(ctx, builtBerth(t), "--root", cp.root, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name, "logs", "-f", "--no-color", "c")
	var out bytes.Buffer
	logs.Stdout = &out
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // several runs
	if _, errOut, code := cp.berth("stop", "c"); code != 0 {
		t.Errorf("stop: exit %d: %s", code, errOut)
	}
	err := logs.Wait()
	if ctx.Err() != nil {
		t.Fatalf("logs -f still following 20 s after the container was stopped for good; printed:\n%s", out.String())
	}
	if err != nil {
		t.Errorf("logs -f: %v", err)
	}
	if n := strings.Count(out.String(), "c-1  | run\n"); n < 2 {
		t.Errorf("logs -f printed %d runs' lines, want 2 or more (one per restart):\n%s", n, out.String())
	}
}

// Ctrl-C of a foreground up stops the project's containers (they are not
// restarted although their policy is always); the command exits 130.
func TestComposeForegroundInterrupt(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "intr", `
services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "echo ready; exec sleep 1000"]
    init: true
    restart: always
`)
	c := exec.Command(builtBerth(t), "--root", cp.root, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name, "up", "--no-color")
	var out, errb testenv.SyncBuffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	waitFor(t, "app running", 10*time.Second, func() bool { return cp.rows()["intr-app-1"].State == "running" })
	time.Sleep(300 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130\n%s", err, errb.String())
	}
	if r := cp.rows()["intr-app-1"]; r.State != "exited" {
		t.Errorf("app after Ctrl-C: %s", r.State)
	}
	if !strings.Contains(errb.String(), "Gracefully stopping...") {
		t.Errorf("stderr:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "app-1  | ready") {
		t.Errorf("stdout:\n%s", out.String())
	}
}
