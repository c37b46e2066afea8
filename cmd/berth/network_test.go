package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/netplug"
)

func berthNetwork(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"--root", root, "network"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestNetworkCreateOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o       networkCreateOptions
		want    netplug.NetworkSpec
		wantErr string
	}{
		{networkCreateOptions{Subnet: "10.1.0.0/24", Labels: []string{"a=b", "c"}, Opts: []string{"mtu=1400"}, Internal: true},
			netplug.NetworkSpec{Name: "n", Subnet: "10.1.0.0/24", Labels: map[string]string{"a": "b", "c": ""}, MTU: 1400, Internal: true}, ""},
		{networkCreateOptions{Opts: []string{"com.docker.network.driver.mtu=9000"}}, netplug.NetworkSpec{Name: "n", MTU: 9000}, ""},
		{networkCreateOptions{Opts: []string{"mtu=big"}}, netplug.NetworkSpec{}, "not a number"},
		{networkCreateOptions{Opts: []string{"color=red"}}, netplug.NetworkSpec{}, "unknown option"},
		{networkCreateOptions{Driver: "overlay"}, netplug.NetworkSpec{}, "only the bridge driver"},
		{networkCreateOptions{Labels: []string{"=x"}}, netplug.NetworkSpec{}, "want key=value"},
	}
	for _, tt := range tests {
		got, err := tt.o.spec("n")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: err = %v, want %q", tt.o, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Name != tt.want.Name || got.Subnet != tt.want.Subnet || got.MTU != tt.want.MTU || got.Internal != tt.want.Internal || len(got.Labels) != len(tt.want.Labels) {
			t.Errorf("%+v: got %+v, %v; want %+v", tt.o, got, err, tt.want)
		}
	}
}

func TestNetworkLsEmptyAndBadInput(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if out, err := berthNetwork(t, root, "", "ls", "-q"); err != nil || out != "" {
		t.Fatalf("ls on an empty root = %q, %v", out, err)
	}
	if _, err := berthNetwork(t, root, "", "inspect", "nope"); err == nil || !strings.Contains(err.Error(), "network nope: not found") {
		t.Fatalf("inspect of a missing network: %v", err)
	}
	if _, err := berthNetwork(t, root, "", "rm", "nope"); err == nil {
		t.Fatal("rm of a missing network succeeded")
	}
	if _, err := berthNetwork(t, root, "", "rm", "--force", "nope"); err != nil {
		t.Fatalf("rm --force of a missing network: %v", err)
	}
	if _, err := berthNetwork(t, root, "", "create", "--subnet", "10.232.0.1/24", "x"); err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Fatalf("create with a bad subnet: %v", err)
	}
}

// The commands on real bridges (root): create, ls, inspect, rm, prune.
func TestNetworkCommands(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	run := t.TempDir()
	t.Setenv("BERTH_RUN_DIR", run)
	leakcheck.Check(t, leakcheck.Contains(netplug.BridgePrefix, netplug.DefaultTable(filepath.Join(root, "networks")), run))
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := berthNetwork(t, root, stdin, args...)
		if err != nil {
			t.Fatalf("network %v: %v\n%s", args, err, out)
		}
		return out
	}
	t.Cleanup(func() { berthNetwork(t, root, "", "rm", "--force", "cli-a", "cli-b") })

	id := strings.TrimSpace(must("", "create", "--subnet", "10.232.7.0/24", "--gateway", "10.232.7.254", "--ip-range", "10.232.7.128/25",
		"--label", "tier=front", "-o", "mtu=1400", "cli-a"))
	if len(id) != 64 {
		t.Fatalf("create printed %q, want a 64-hex id", id)
	}
	if _, err := berthNetwork(t, root, "", "create", "cli-a"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: %v", err)
	}
	must("", "create", "--internal", "--subnet", "10.232.8.0/24", "cli-b")
	if out := must("", "ls", "-q"); out != "cli-a\ncli-b\n" {
		t.Fatalf("ls -q = %q", out)
	}
	ls := must("", "ls")
	if !strings.Contains(ls, "NETWORK ID") || !strings.Contains(ls, id[:12]) || !strings.Contains(ls, "10.232.8.0/24") {
		t.Fatalf("ls =\n%s", ls)
	}
	var row networkRow
	if err := json.Unmarshal([]byte(strings.SplitN(must("", "ls", "--format", "json"), "\n", 2)[0]), &row); err != nil || row.Name != "cli-a" || row.Subnet != "10.232.7.0/24" {
		t.Fatalf("ls --format json: %+v, %v", row, err)
	}
	var insp []networkInspect
	if err := json.Unmarshal([]byte(must("", "inspect", "cli-a")), &insp); err != nil {
		t.Fatal(err)
	}
	if len(insp) != 1 || insp[0].ID != id || insp[0].IPAM.Config[0]["Gateway"] != "10.232.7.254" || insp[0].IPAM.Config[0]["IPRange"] != "10.232.7.128/25" ||
		insp[0].Labels["tier"] != "front" || insp[0].Options["com.docker.network.driver.mtu"] != "1400" {
		t.Fatalf("inspect = %+v", insp)
	}
	if out := must("y\n", "prune", "--filter", "label=tier=front"); out != "WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Networks:\ncli-a\n" {
		t.Fatalf("prune = %q", out)
	}
	if out := must("", "rm", "cli-b"); out != "cli-b\n" {
		t.Fatalf("rm = %q", out)
	}
	if out := must("", "ls", "-q"); out != "" {
		t.Fatalf("ls after removing everything = %q", out)
	}
}
