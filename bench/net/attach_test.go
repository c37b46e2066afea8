package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/netplug"
)

// BenchmarkAttach measures what starting one container costs the network
// side: CreateSandbox (namespace, lo up, hosts/resolv.conf) + Attach
// (lease, veth pair into the namespace, address, default route, hosts files
// of the peers). Removal is outside the timer and reported separately by
// BenchmarkDeleteSandbox.
func BenchmarkAttach(b *testing.B) {
	m, ctx := benchManager(b)
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("c%d", i)
		i++
		if _, err := m.CreateSandbox(ctx, id, netplug.SandboxSpec{Hostname: id}); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Attach(ctx, id, netplug.Endpoint{Network: "bench", Aliases: []string{"svc"}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := m.DeleteSandbox(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkDeleteSandbox measures removing one attached container's network.
func BenchmarkDeleteSandbox(b *testing.B) {
	m, ctx := benchManager(b)
	i := 0
	for b.Loop() {
		b.StopTimer()
		id := fmt.Sprintf("d%d", i)
		i++
		if _, err := m.CreateSandbox(ctx, id, netplug.SandboxSpec{Hostname: id}); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Attach(ctx, id, netplug.Endpoint{Network: "bench"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := m.DeleteSandbox(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func benchManager(b *testing.B) (*netplug.Manager, context.Context) {
	testenv.RequireRoot(b)
	ctx := context.Background()
	tmp := b.TempDir()
	m, err := netplug.New(netplug.Options{
		Root: filepath.Join(tmp, "networks"), RunDir: filepath.Join(tmp, "run"),
		Pool:   []netip.Prefix{netip.MustParsePrefix("10.234.0.0/16")},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.EnsureNetwork(ctx, netplug.NetworkSpec{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.RemoveNetwork(ctx, "bench"); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	})
	return m, ctx
}
