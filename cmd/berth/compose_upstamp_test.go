package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/upstamp"
)

const stampStack = `services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    init: true
    stop_grace_period: 1s
  b:
    image: busybox:latest
    command: ["sleep", "1000"]
    environment:
      X: ${X_VAL:-1}
    stop_grace_period: 1s
  c:
    image: busybox:latest
    command: ["sleep", "1000"]
    env_file: [c.env]
    stop_grace_period: 1s
`

// installedBerth builds berth as installed: the launcher as berth, the
// full CLI beside it as berth-core. It returns the launcher's path.
func installedBerth(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"berth-core", "."}, {"berth", "../berth-launcher"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return filepath.Join(dir, "berth")
}

// TestLauncherAnswersRepeatedUp runs a 3-service project through the
// installed layout. A repeated `up -d` is answered by the launcher from
// its stamp (the stamp file is untouched and nothing is printed); after
// each kind of change — to the manifest, its inputs, the environment, the
// containers, the supervisor or the image — the full CLI runs instead and
// converges, and the next `up -d` is answered again.
func TestLauncherAnswersRepeatedUp(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "stamp", stampStack)
	if err := os.WriteFile(filepath.Join(cp.dir, "c.env"), []byte("C=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	berth := installedBerth(t)
	extraEnv := []string{upstamp.EnvKey + "_DEBUG=1"}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(berth, append([]string{"--root", cp.root, "-p", cp.name}, args...)...)
		cmd.Dir = cp.dir // no -f: discovery finds compose.yaml and its override
		cmd.Env = append(os.Environ(), extraEnv...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return o.String(), e.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), 0
	}
	stamped := func() bool {
		ents, _ := os.ReadDir(filepath.Join(cp.root, upstamp.DirName))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), cp.name+".") {
				return true
			}
		}
		return false
	}
	// up runs `up -d` and reports whether the launcher answered it (it
	// says so on stderr when asked to, and prints nothing else).
	up := func(what string) bool {
		t.Helper()
		out, errOut, code := run("up", "-d")
		if code != 0 {
			t.Fatalf("%s: up -d: exit %d\n%s%s", what, code, out, errOut)
		}
		answered := strings.Contains(errOut, "up stamp holds")
		if answered && out+errOut != "berth: up stamp holds\n" {
			t.Errorf("%s: answered up printed %q", what, out+errOut)
		}
		if !stamped() {
			t.Errorf("%s: no stamp after up -d", what)
		}
		if !answered {
			t.Logf("%s: %s", what, strings.TrimSpace(errOut))
		}
		return answered
	}
	// changed checks that the change is seen: the full CLI runs, then the
	// next up is answered again.
	changed := func(what string) {
		t.Helper()
		if up(what) {
			t.Fatalf("%s: the launcher answered up -d after the change", what)
		}
		if !up(what + ", again") {
			t.Errorf("%s: the repeated up -d was not answered", what)
		}
	}
	running := func(name string) bool {
		r, ok := cp.rows()[name]
		return ok && r.State == "running"
	}

	if up("first") {
		t.Fatal("first up answered without a stamp")
	}
	first := cp.ids()
	if !up("repeat") {
		t.Fatal("repeated up -d not answered by the launcher")
	}
	if got := cp.ids(); got["stamp-a-1"] != first["stamp-a-1"] || len(got) != 3 {
		t.Fatalf("answered up changed containers: %v -> %v", first, got)
	}

	// The containers' state.
	cp.must("stop", "a")
	changed("compose stop a")
	if !running("stamp-a-1") {
		t.Error("a not started again")
	}
	syscall.Kill(cp.initPid("stamp-b-1"), syscall.SIGKILL)
	waitFor(t, "b's process ends", 10*time.Second, func() bool { return !running("stamp-b-1") })
	changed("b's process killed")
	if !running("stamp-b-1") {
		t.Error("b not started again")
	}

	ids := cp.ids()
	shim := shimPid(filepath.Join(cp.root, "containers", ids["stamp-c-1"], "state.json"))
	if shim <= 0 || syscall.Kill(shim, syscall.SIGKILL) != nil {
		t.Fatalf("c's shim pid %d", shim)
	}
	waitFor(t, "c's shim ends", 10*time.Second, func() bool { return syscall.Kill(shim, 0) != nil })
	changed("c's shim killed")
	if !running("stamp-c-1") {
		t.Error("c not running after its shim was killed and up -d ran")
	}

	// The environment and the manifest's inputs.
	ids = cp.ids()
	extraEnv = append(extraEnv, "X_VAL=2")
	changed("X_VAL in the environment")
	if got := cp.ids(); got["stamp-b-1"] == ids["stamp-b-1"] || got["stamp-a-1"] != ids["stamp-a-1"] {
		t.Errorf("X_VAL=2: want only b recreated: %v -> %v", ids, got)
	}
	ids = cp.ids()
	os.WriteFile(filepath.Join(cp.dir, "c.env"), []byte("C=2\n"), 0o644)
	changed("c.env")
	if got := cp.ids(); got["stamp-c-1"] == ids["stamp-c-1"] || got["stamp-a-1"] != ids["stamp-a-1"] {
		t.Errorf("c.env: want only c recreated: %v -> %v", ids, got)
	}
	os.WriteFile(filepath.Join(cp.dir, ".env"), []byte("X_VAL=3\n"), 0o644)
	changed(".env created") // the environment still says 2: nothing recreated, but checked
	os.WriteFile(filepath.Join(cp.dir, "compose.override.yaml"), []byte("services:\n  d:\n    image: busybox:latest\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 1s\n"), 0o644)
	changed("compose.override.yaml created")
	if !running("stamp-d-1") {
		t.Error("d from the override file not running")
	}
	ids = cp.ids()
	cp.write(strings.Replace(stampStack, `"sleep", "1000"]
    init: true`, `"sleep", "1001"]
    init: true`, 1))
	changed("compose.yaml edited")
	if got := cp.ids(); got["stamp-a-1"] == ids["stamp-a-1"] || got["stamp-c-1"] != ids["stamp-c-1"] {
		t.Errorf("a's command: want only a recreated: %v -> %v", ids, got)
	}

	// The supervisor.
	pidFile := filepath.Join(cp.root, "projects", cp.name, "supervisor.pid")
	b, _ := os.ReadFile(pidFile)
	sup, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if sup <= 0 || syscall.Kill(sup, syscall.SIGKILL) != nil {
		t.Fatalf("supervisor pid %q", b)
	}
	waitFor(t, "the supervisor ends", 10*time.Second, func() bool { return syscall.Kill(sup, 0) != nil })
	ids = cp.ids()
	changed("supervisor killed")
	b, _ = os.ReadFile(pidFile)
	if now, _ := strconv.Atoi(strings.TrimSpace(string(b))); now == sup || now <= 0 || syscall.Kill(now, 0) != nil {
		t.Errorf("supervisor not restarted: %q", b)
	}
	if got := cp.ids(); got["stamp-a-1"] != ids["stamp-a-1"] {
		t.Errorf("supervisor restart recreated containers: %v -> %v", ids, got)
	}

	// The image behind the tag.
	ids = cp.ids()
	loadBusybox(t, cp.root, func(c *v1.Config) { c.Env = append(c.Env, "REBUILT=1") })
	changed("busybox:latest replaced")
	if got := cp.ids(); got["stamp-a-1"] == ids["stamp-a-1"] {
		t.Errorf("new image: a not recreated: %v -> %v", ids, got)
	}

	// Options that are not stamped, and commands that pass through.
	if _, errOut, code := run("up", "-d", "--force-recreate"); code != 0 {
		t.Fatalf("up --force-recreate: %d %s", code, errOut)
	}
	if stamped() {
		t.Error("a stamp after up --force-recreate")
	}
	if out, _, code := run("version"); code != 0 || !strings.Contains(out, "berth") {
		t.Errorf("version through the launcher: %d %q", code, out)
	}
	if _, _, code := run("no-such-command"); code == 0 {
		t.Error("unknown command through the launcher: exit 0")
	}
	up("after force-recreate")

	// down takes the project as up applied it while the manifest would
	// load to it again (here: restored after a broken edit), and loads the
	// manifest when it changed.
	applied := strings.Replace(stampStack, `"sleep", "1000"]
    init: true`, `"sleep", "1001"]
    init: true`, 1)
	cp.write("services:\n  a: [broken\n")
	if _, errOut, code := run("up", "-d"); code == 0 || !strings.Contains(errOut, "compose.yaml") {
		t.Errorf("broken manifest after a stamp: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run("down", "-t", "0"); code == 0 || !strings.Contains(errOut, "compose.yaml") {
		t.Errorf("down with a broken manifest: exit %d, %q", code, errOut)
	}
	cp.write(strings.Replace(applied, "X: ${X_VAL:-1}", "X: ${X_VAL:-1}\n      Y: changed", 1))
	if _, errOut, code := run("down", "-t", "0"); code != 0 || strings.Contains(errOut, "as applied") {
		t.Fatalf("down after the manifest changed: exit %d, %q", code, errOut)
	}
	cp.write(applied)
	up("up again")
	cp.write("services:\n  a: [broken\n")
	cp.write(applied)
	if _, errOut, code := run("down", "-t", "0"); code != 0 || !strings.Contains(errOut, "the project as applied") {
		t.Fatalf("down with the manifest as applied: exit %d, %q", code, errOut)
	}
	if stamped() {
		t.Error("stamp left after down")
	}
	if ents, _ := os.ReadDir(filepath.Join(cp.root, appliedDir)); len(ents) != 0 {
		t.Errorf("applied records left after down: %v", ents)
	}
}

// A supervisor that up -d spawned ahead of need waits on its go pipe; when
// up dies before releasing it (end-of-file), it exits without supervising
// and leaves no pid file.
func TestSupervisorWithoutGoExits(t *testing.T) {
	root := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(builtBerth(t), "--root", root, "-p", "early", "supervise", "--go-fd", "3")
	cmd.ExtraFiles = []*os.File{r}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("supervisor did not wait for its go pipe: %v %s", err, errb.String())
	case <-time.After(300 * time.Millisecond):
	}
	w.Close() // up "dies"
	select {
	case err := <-done:
		if err != nil || !strings.Contains(errb.String(), "not supervising") {
			t.Errorf("exit %v, stderr %q", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("supervisor still waiting after its go pipe closed")
	}
	if _, err := os.Stat(filepath.Join(root, "projects", "early", "supervisor.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file: %v", err)
	}
}
