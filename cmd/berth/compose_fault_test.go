package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/leakcheck"
)

const faultStack = `
services:
  a:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      start_interval: 100ms
      start_period: 5s
  b:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    depends_on:
      a:
        condition: service_healthy
  c:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    restart: always
    volumes:
      - data:/data
  d:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    ports:
      - "127.0.0.1::80"
  e:
    image: busybox:latest
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    network_mode: service:d
volumes:
  data: {}
`

// TestComposeFaultInjection kills `berth up -d` with SIGKILL at many
// points of a 5-service up; after each, `up` must converge (a second
// dry-run plans nothing) and `down -v` must leave nothing behind.
func TestComposeFaultInjection(t *testing.T) {
	leakcheck.Check(t, leakcheck.Contains("bth"))
	cp := newComposeProject(t, "fault", faultStack)
	before, err := leakcheck.Take()
	if err != nil {
		t.Fatal(err)
	}
	upArgs := []string{"--root", cp.root, "-f", filepath.Join(cp.dir, "compose.yaml"), "-p", cp.name, "up", "-d"}

	// How long does an uninterrupted up take?
	start := time.Now()
	cp.must("up", "-d")
	full := time.Since(start)
	cp.must("down", "-v", "-t", "0")
	t.Logf("uninterrupted up -d: %s", full)

	const points = 24
	for i := 0; i < points; i++ {
		delay := full * time.Duration(i) / points
		c := exec.Command(builtBerth(t), upArgs...)
		c.Env = os.Environ()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()

		out, errOut, code := cp.berth("up", "-d")
		if code != 0 {
			t.Fatalf("kill after %s: up did not converge: exit %d\n%s%s", delay, code, out, errOut)
		}
		if plan := cp.must("up", "--dry-run"); plan != "nothing to do\n" {
			t.Errorf("kill after %s: not converged:\n%s", delay, plan)
		}
		rows := cp.rows()
		running := 0
		for _, r := range rows {
			if r.State == "running" {
				running++
			}
		}
		if running != 5 || len(rows) != 5 {
			t.Errorf("kill after %s: %d containers, %d running: %v", delay, len(rows), running, rows)
		}
		cp.must("down", "-v", "-t", "0")
		if ids := cp.ids(); len(ids) != 0 {
			t.Errorf("kill after %s: containers after down: %v", delay, ids)
		}
		if _, err := os.Stat(filepath.Join(cp.root, "projects", cp.name)); !os.IsNotExist(err) {
			t.Errorf("kill after %s: project state left", delay)
		}
		if out := mustBerth(t, cp.root, "volume", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("kill after %s: volumes left: %s", delay, out)
		}
		if out := mustBerth(t, cp.root, "network", "ls", "-q"); strings.Contains(out, "fault") {
			t.Errorf("kill after %s: networks left: %s", delay, out)
		}
		after, err := leakcheck.Take()
		if err != nil {
			t.Fatal(err)
		}
		for obj := range after {
			if !before[obj] && strings.Contains(obj, "bth") {
				t.Errorf("kill after %s: leaked %s", delay, obj)
			}
		}
	}
}
