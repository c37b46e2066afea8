package netplug

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestTeardown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, dp := newFakeManager(t)
	bridge := map[string]string{}
	for _, n := range []string{"front", "back", "shared"} {
		net, err := m.EnsureNetwork(ctx, NetworkSpec{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		bridge[n] = net.Bridge
	}
	create := func(id string, nets ...string) *Sandbox {
		t.Helper()
		if _, err := m.CreateSandbox(ctx, id, SandboxSpec{}); err != nil {
			t.Fatal(err)
		}
		for _, n := range nets {
			if _, err := m.Attach(ctx, id, Endpoint{Network: n, Aliases: []string{id}}); err != nil {
				t.Fatal(err)
			}
		}
		sb, err := m.Sandbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	a := create("a", "front", "shared")
	b := create("b", "front", "back")
	c := create("c", "shared") // not in the batch: shared stays

	if _, err := m.Teardown(ctx, []string{"a", "bad/name"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad sandbox name: %v", err)
	}
	if _, err := m.Teardown(ctx, nil, []string{"bad/name"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad network name: %v", err)
	}

	// A bridge goes only once the namespaces of every sandbox on it are.
	var mu sync.Mutex
	var deleted []string
	dp.onDeleteBridge = func(name string) {
		mu.Lock()
		again := strings.Contains(strings.Join(deleted, " "), name)
		mu.Unlock()
		if again {
			return // removeNetworkLocked makes sure it is gone
		}
		dp.mu.Lock()
		alive := dp.netns[a.NetNSPath] || dp.netns[b.NetNSPath]
		dp.mu.Unlock()
		if alive {
			t.Errorf("bridge %s deleted while a namespace of the batch lives", name)
		}
		// Early: alongside the rest of the sandboxes' deletion, not after.
		if _, err := os.Stat(m.sandboxFile("a")); err != nil {
			t.Errorf("bridge %s deleted after the sandboxes' state: %v", name, err)
		}
		mu.Lock()
		deleted = append(deleted, name)
		mu.Unlock()
	}
	netErrs, err := m.Teardown(ctx, []string{"b", "a", "gone"}, []string{"front", "back", "shared", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(netErrs) != 1 || !errors.Is(netErrs["shared"], ErrInUse) {
		t.Errorf("network errors %v, want only shared in use", netErrs)
	}
	for _, n := range []string{"front", "back"} {
		if _, err := m.InspectNetwork(ctx, n); !errors.Is(err, ErrNotFound) {
			t.Errorf("network %s after teardown: %v", n, err)
		}
		if dp.bridges[bridge[n]] {
			t.Errorf("bridge of %s left", n)
		}
	}
	if !dp.bridges[bridge["shared"]] || strings.Contains(strings.Join(deleted, " "), bridge["shared"]) {
		t.Errorf("the bridge of shared (c is on it) was deleted: %v", deleted)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := m.Sandbox(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("sandbox %s after teardown: %v", id, err)
		}
	}
	hosts, _ := os.ReadFile(c.HostsPath)
	if strings.Contains(string(hosts), "\ta") {
		t.Errorf("c's hosts file still lists a:\n%s", hosts)
	}

	// A namespace that cannot be deleted keeps its networks' bridges,
	// and its network is reported.
	dp.onDeleteBridge = nil
	d := create("d", "shared")
	dp.fail["deleteNetNS"] = errors.New("boom")
	netErrs, err = m.Teardown(ctx, []string{"c", "d"}, []string{"shared"})
	if err == nil || !errors.Is(netErrs["shared"], ErrInUse) || !dp.bridges[bridge["shared"]] {
		t.Errorf("failed namespace deletion: err %v, network errors %v, bridge kept %v", err, netErrs, dp.bridges[bridge["shared"]])
	}
	delete(dp.fail, "deleteNetNS")
	if netErrs, err := m.Teardown(ctx, []string{"c", "d"}, []string{"shared"}); err != nil || len(netErrs) != 0 {
		t.Fatalf("retry: %v, %v", netErrs, err)
	}
	if len(dp.links) != 0 || len(dp.netns) != 0 || len(dp.bridges) != 0 {
		t.Errorf("left behind: links %v netns %v bridges %v (d was %s)", dp.links, dp.netns, dp.bridges, d.ID)
	}
}
