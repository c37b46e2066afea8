package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/testenv"
)

func TestSpecFromRunOptions(t *testing.T) {
	o := &runOptions{memory: "64m", cpus: "0.5", pidsLimit: 20, env: []string{"A=1", "HOMEX"}, tmpfs: []string{"/run:size=1m,mode=755"},
		volumes: []string{"/srv:/data:ro"}, ulimits: []string{"nofile=100:200"}, securityOpt: []string{"no-new-privileges:false"},
		logOpts: []string{"max-size=1k", "max-file=2"}, stopTimeout: 3, entrypoint: "/bin/sh"}
	s, err := specFromRunOptions(o, []string{"busybox", "-c", "true"}, func(k string) (string, bool) {
		if k == "HOMEX" {
			return "/x", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.Memory != 64<<20 || s.Resources.NanoCPUs != 5e8 || s.Resources.PidsLimit != 20 {
		t.Errorf("resources %+v", s.Resources)
	}
	if strings.Join(s.Env, ",") != "A=1,HOMEX=/x" || strings.Join(s.Entrypoint, " ") != "/bin/sh" || strings.Join(s.Cmd, " ") != "-c true" {
		t.Errorf("process: env %v entrypoint %v cmd %v", s.Env, s.Entrypoint, s.Cmd)
	}
	if len(s.Mounts) != 2 || s.Mounts[0].TmpfsSize != 1<<20 || s.Mounts[0].TmpfsMode != 0o755 || !s.Mounts[1].ReadOnly {
		t.Errorf("mounts %+v", s.Mounts)
	}
	if s.Ulimits[0].Soft != 100 || s.Ulimits[0].Hard != 200 || s.NoNewPrivileges == nil || *s.NoNewPrivileges {
		t.Errorf("ulimits %+v nnp %v", s.Ulimits, s.NoNewPrivileges)
	}
	if s.Log.MaxSize != 1024 || s.Log.MaxFiles != 2 || *s.StopTimeout != 3e9 {
		t.Errorf("log %+v stop timeout %v", s.Log, s.StopTimeout)
	}
	if _, err := specFromRunOptions(&runOptions{restart: "no"}, []string{"busybox"}, os.LookupEnv); err != nil {
		t.Errorf("--restart no: %v", err)
	}
	for _, bad := range []*runOptions{{memory: "lots"}, {volumes: []string{"named:/x"}}, {securityOpt: []string{"seccomp=x"}},
		{restart: "always"}, {restart: "on-failure:3"}} {
		if _, err := specFromRunOptions(bad, []string{"busybox"}, os.LookupEnv); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// loadBusybox loads the test busybox image into root's store as busybox:latest.
func loadBusybox(t *testing.T, root string, cfg func(*v1.Config)) {
	t.Helper()
	img := testBusybox(t, cfg)
	tag, err := name.NewTag("busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "busybox.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	mustBerth(t, root, "image", "load", "-q", "-i", tarPath)
	// Runs last (cleanups are LIFO): the default network "bridge" that a
	// container run without --network makes outlives its containers, as
	// docker0 does; its bridge is the kernel's, not the temp root's.
	t.Cleanup(func() { berthCLI(t, root, nil, "network", "rm", "bridge") })
}

func TestContainerCLI(t *testing.T) {
	testenv.RequireRoot(t)
	root := newNetTestRoot(t, "10.236.16.0/20")
	loadBusybox(t, root, nil)

	out, errOut, code := berthCLI(t, root, nil, "container", "run", "--rm", "busybox", "sh", "-c", "echo hello; echo err >&2; exit 3")
	if code != 3 || out != "hello\n" || errOut != "err\n" {
		t.Errorf("run: code %d out %q err %q", code, out, errOut)
	}
	if _, _, code := berthCLI(t, root, nil, "container", "run", "--rm", "busybox", "no-such-command"); code != 127 {
		t.Errorf("missing command: exit %d, want 127", code)
	}
	if _, _, code := berthCLI(t, root, nil, "container", "run", "--rm", "busybox", "/etc/passwd"); code != 126 {
		t.Errorf("not executable: exit %d, want 126", code)
	}
	if _, _, code := berthCLI(t, root, nil, "container", "run", "--rm", "--network", "no-such-net", "busybox", "true"); code != 125 {
		t.Errorf("bad flag value: exit %d, want 125", code)
	}
	out, _, code = berthCLI(t, root, []byte("from-stdin\n"), "container", "run", "--rm", "-i", "busybox", "cat")
	if code != 0 || out != "from-stdin\n" {
		t.Errorf("run -i: code %d out %q", code, out)
	}

	id := strings.TrimSpace(mustBerth(t, root, "container", "run", "-d", "--name", "web", "-e", "GREETING=hi", "--memory", "64m", "busybox", "sh", "-c", "echo started; exec sleep 60"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	if ps := mustBerth(t, root, "container", "ps"); !strings.Contains(ps, "web") || !strings.Contains(ps, "Up ") {
		t.Errorf("ps:\n%s", ps)
	}
	out = mustBerth(t, root, "container", "exec", "web", "sh", "-c", "echo $GREETING; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || true")
	if !strings.HasPrefix(out, "hi\n") {
		t.Errorf("exec: %q", out)
	}
	if _, _, code := berthCLI(t, root, nil, "container", "exec", "web", "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec exit code %d, want 5", code)
	}
	if logs := mustBerth(t, root, "container", "logs", "web"); logs != "started\n" {
		t.Errorf("logs: %q", logs)
	}
	host := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(host, []byte("payload"), 0o644)
	mustBerth(t, root, "container", "cp", host, "web:/tmp/copied.txt")
	if out := mustBerth(t, root, "container", "exec", "web", "cat", "/tmp/copied.txt"); out != "payload" {
		t.Errorf("cp to container: %q", out)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	mustBerth(t, root, "container", "cp", "web:/etc/hostname", back)
	if b, _ := os.ReadFile(back); len(b) == 0 {
		t.Errorf("cp from container: empty")
	}
	if top := mustBerth(t, root, "container", "top", "web"); !strings.Contains(top, "sleep 60") {
		t.Errorf("top:\n%s", top)
	}
	mustBerth(t, root, "container", "pause", "web")
	if out := mustBerth(t, root, "container", "inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.Name}}", "web"); out != "paused true /web\n" {
		t.Errorf("inspect after pause: %q", out)
	}
	mustBerth(t, root, "container", "unpause", "web")
	mustBerth(t, root, "container", "stop", "-t", "1", "web")
	if out := mustBerth(t, root, "container", "wait", "web"); out != "137\n" {
		t.Errorf("wait after stop: %q", out)
	}
	mustBerth(t, root, "container", "start", "web")
	mustBerth(t, root, "container", "rm", "-f", "web")
	if out := mustBerth(t, root, "container", "ps", "-a", "-q"); out != "" {
		t.Errorf("after rm: %q", out)
	}
}
