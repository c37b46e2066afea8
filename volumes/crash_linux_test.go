package volumes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// churnEnv makes the test binary a child that creates, fills and removes
// volumes under the given root until it is killed.
const churnEnv = "BERTH_VOLUMES_TEST_CHURN"

func churn(root string) {
	m, err := New(Options{Root: root})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		name := fmt.Sprintf("vol-%d", i%7)
		v, err := m.Ensure(ctx, Spec{Name: name, Labels: map[string]string{"i": fmt.Sprint(i)}})
		if err == nil {
			os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 64<<10), 0o644)
		}
		if i%3 == 0 {
			m.Remove(ctx, name, true)
		}
	}
}

// A process killed at any point while creating and removing volumes leaves
// a state that New repairs: no work dirs, and every volume complete.
func TestKilledMidway(t *testing.T) {
	root := filepath.Join(t.TempDir(), "volumes")
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), churnEnv+"="+root)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+round*25) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		m, err := New(Options{Root: root, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			n := e.Name()
			if n == ".lock" {
				continue
			}
			if strings.HasPrefix(n, ".") {
				t.Fatalf("round %d: leftover %s after New", round, n)
			}
			v, err := m.Get(context.Background(), n)
			if err != nil {
				t.Fatalf("round %d: volume %s: %v", round, n, err)
			}
			if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
				t.Fatalf("round %d: volume %s has no data dir: %v", round, n, err)
			}
			stray, _ := filepath.Glob(filepath.Join(root, n, ".meta.json.tmp-*"))
			if len(stray) > 0 {
				t.Fatalf("round %d: stray %v", round, stray)
			}
		}
	}
}
