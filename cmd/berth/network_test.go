package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/leakcheck"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/netplug"
)

// berthNetwork runs `berth --root root network args...` in-process and
// returns its output.
func berthNetwork(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	return berthInProcess(t, root, stdin, append([]string{"network"}, args...)...)
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
	if out := must("", "ls", "-q", "-f", "label=tier=front"); out != "cli-a\n" {
		t.Fatalf("ls -f label = %q", out)
	}
	if out := must("", "inspect", "-f", "{{.Name}} {{.Internal}}", "cli-b"); out != "cli-b true\n" {
		t.Fatalf("inspect -f = %q", out)
	}
	if out := must("", "prune", "-f", "--filter", "label=nothing"); out != "" {
		t.Fatalf("prune -f of nothing = %q", out)
	}
	if out := must("y\n", "prune", "--filter", "label=tier=front"); out != "WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Networks:\ncli-a\n" {
		t.Fatalf("prune = %q", out)
	}
	if out := must("", "rm", "-f", "cli-b", "nope"); out != "cli-b\n" {
		t.Fatalf("rm -f = %q", out)
	}
	if out := must("", "ls", "-q"); out != "" {
		t.Fatalf("ls after removing everything = %q", out)
	}
}

// Docker's short flags of the network commands that need no bridge: -f is
// force for rm, filter for ls and format for inspect; -f before the
// command is still the global --file.
func TestNetworkShortFlagsWithoutNetworks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, args := range [][]string{
		{"-f", "/nonexistent/compose.yaml", "network", "rm", "-f", "nope"},
		{"network", "ls", "-q", "-f", "name=x", "-f", "label=a=b"},
		{"-f", "/nonexistent/compose.yaml", "network", "ls", "-f", "driver=bridge", "--format", "{{.Name}}"},
	} {
		if out, err := berthInProcess(t, root, "", args...); err != nil || out != "" {
			t.Errorf("berth %v = %q, %v", args, out, err)
		}
	}
	if _, err := berthInProcess(t, root, "", "network", "ls", "-f", "bogus=1"); err == nil || !strings.Contains(err.Error(), `invalid filter "bogus=1"`) {
		t.Errorf("ls with an unknown filter: %v", err)
	}
	if out, err := berthInProcess(t, root, "", "network", "inspect", "-f", "{{.Name}}", "nope"); err == nil || out != "" {
		t.Errorf("inspect -f of a missing network = %q, %v", out, err)
	}
}

func TestNetworkFilters(t *testing.T) {
	t.Parallel()
	nets := []netplug.Network{
		{Name: "front", ID: "aaaa1111", Labels: map[string]string{"tier": "web"}},
		{Name: "back", ID: "bbbb2222", Labels: map[string]string{"tier": "db", "x": ""}},
	}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "front,back"},
		{[]string{"name=ron"}, "front"},
		{[]string{"id=bbbb"}, "back"},
		{[]string{"label=tier"}, "front,back"},
		{[]string{"label=tier=db"}, "back"},
		{[]string{"label=x"}, "back"},
		{[]string{"name=front", "name=back"}, "front,back"}, // same key: either
		{[]string{"name=front", "label=tier=db"}, ""},       // keys: all
		{[]string{"driver=bridge", "scope=local"}, "front,back"},
		{[]string{"driver=overlay"}, ""},
	} {
		match, err := parseNetworkFilters(tc.filters)
		if err != nil {
			t.Errorf("%v: %v", tc.filters, err)
			continue
		}
		var got []string
		for _, n := range nets {
			if match(n) {
				got = append(got, n.Name)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%v matched %v, want %s", tc.filters, got, tc.want)
		}
	}
	for _, bad := range []string{"name", "until=1h"} {
		if _, err := parseNetworkFilters([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
}
