package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inspect has Docker's shape, so that `-f '{{.State.Pid}}'` and friends
// written for Docker work; health comes from the project's supervisor.
func TestContainerInspectDockerShape(t *testing.T) {
	cp := newComposeProject(t, "insp", `services:
  web:
    image: busybox:latest
    command: ["sleep", "1000"]
    environment: [GREETING=hi]
    volumes: ["/data"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
`)
	cp.must("up", "-d", "--wait")
	f := func(format string) string {
		t.Helper()
		return strings.TrimSpace(mustBerth(t, cp.root, "container", "inspect", "-f", format, "insp-web-1"))
	}
	pid, err := strconv.Atoi(f("{{.State.Pid}}"))
	if err != nil || pid <= 1 {
		t.Fatalf("State.Pid = %v %v", pid, err)
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		t.Errorf("State.Pid %d is not a live process: %v", pid, err)
	}
	for format, want := range map[string]string{
		"{{.Name}}":                            "/insp-web-1",
		"{{.State.Status}} {{.State.Running}}": "running true",
		"{{.Path}} {{json .Args}}":             `sleep ["1000"]`,
		"{{.Config.Image}}":                    "busybox:latest",
		"{{index .Config.Labels \"com.docker.compose.service\"}}":    "web",
		"{{.HostConfig.NetworkMode}}":                                "insp_default",
		"{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}{{end}}": "volume /data true",
		"{{.RestartCount}}":                                          "0",
	} {
		if got := f(format); got != want {
			t.Errorf("%s = %q, want %q", format, got, want)
		}
	}
	if !strings.Contains(f("{{json .Config.Env}}"), "GREETING=hi") {
		t.Errorf("Config.Env lacks GREETING=hi: %s", f("{{json .Config.Env}}"))
	}
	waitFor(t, "health healthy in inspect", 10*time.Second, func() bool {
		return f("{{if .State.Health}}{{.State.Health.Status}}{{end}}") == "healthy"
	})
	// The default form is an indented JSON array with Docker's keys.
	var all []map[string]any
	if err := json.Unmarshal([]byte(mustBerth(t, cp.root, "container", "inspect", "insp-web-1")), &all); err != nil || len(all) != 1 {
		t.Fatalf("inspect JSON: %v", err)
	}
	for _, k := range []string{"Id", "Created", "State", "Config", "HostConfig", "NetworkSettings", "Mounts"} {
		if _, ok := all[0][k]; !ok {
			t.Errorf("inspect lacks %s", k)
		}
	}
	cp.must("stop", "-t", "0")
	if got := f("{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{if .State.Health}}health{{end}}"); got != "exited false 0" {
		t.Errorf("after stop: %q", got)
	}
}
