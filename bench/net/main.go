// Command net is berth's network benchmark: iperf3 throughput host →
// container directly to its address, through a port published on 127.0.0.1
// (kernel DNAT by berth's nftables rules), and over host loopback alone,
// as medians of a few short runs. Run it through run.sh, which also runs
// the attach benchmark (attach_test.go). Needs root and iperf3.
//
// Traffic goes only to 127.0.0.1 and to the container address on the
// bridge this program creates (subnet from 10.233.0.0/16).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/berth-dev/berth/netplug"
)

func main() {
	rounds := flag.Int("rounds", 3, "runs per path")
	secs := flag.Int("time", 3, "seconds per run")
	flag.Parse()
	if err := run(*rounds, *secs); err != nil {
		fmt.Fprintln(os.Stderr, "bench/net:", err)
		os.Exit(1)
	}
}

func run(rounds, secs int) (err error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "berth-bench-net-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	m, err := netplug.New(netplug.Options{
		Root: filepath.Join(tmp, "networks"), RunDir: filepath.Join(tmp, "run"),
		Pool:   []netip.Prefix{netip.MustParsePrefix("10.233.0.0/16")},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	const id, network = "bench-iperf", "bench-net"
	defer func() {
		if derr := m.DeleteSandbox(ctx, id); derr != nil && err == nil {
			err = derr
		}
		if derr := m.RemoveNetwork(ctx, network); derr != nil && err == nil {
			err = derr
		}
	}()
	if _, err := m.EnsureNetwork(ctx, netplug.NetworkSpec{Name: network}); err != nil {
		return err
	}
	sb, err := m.CreateSandbox(ctx, id, netplug.SandboxSpec{Hostname: "iperf"})
	if err != nil {
		return err
	}
	ep, err := m.Attach(ctx, id, netplug.Endpoint{Network: network})
	if err != nil {
		return err
	}
	ports, err := m.Publish(ctx, id, []netplug.PortMapping{{ContainerPort: 5201}})
	if err != nil {
		return err
	}
	srv := exec.Command("nsenter", "--net="+sb.NetNSPath, "iperf3", "-s", "-p", "5201")
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	loPort := freePort()
	lo := exec.Command("iperf3", "-s", "-B", "127.0.0.1", "-p", fmt.Sprint(loPort))
	if err := lo.Start(); err != nil {
		return err
	}
	defer func() { lo.Process.Kill(); lo.Wait() }()
	time.Sleep(300 * time.Millisecond) // let both servers listen

	paths := []struct {
		name, host string
		port       int
	}{
		{"host → container, direct (" + ep.IPv4.String() + ":5201)", ep.IPv4.String(), 5201},
		{fmt.Sprintf("host → container, published 127.0.0.1:%d", ports[0].HostPort), "127.0.0.1", int(ports[0].HostPort)},
		{"host loopback alone (127.0.0.1, no container)", "127.0.0.1", loPort},
		{fmt.Sprintf("host → container, published on the bridge address %s:%d", ep.Gateway, ports[0].HostPort), ep.Gateway.String(), int(ports[0].HostPort)},
	}
	results := make([][]float64, len(paths))
	var ratios []float64
	for r := 0; r < rounds; r++ {
		// Interleaved, order alternating, so that load from other programs
		// hits every path alike; the published/direct ratio is taken per
		// round from adjacent runs.
		order := []int{0, 1, 2, 3}
		if r%2 == 1 {
			order = []int{1, 0, 3, 2}
		}
		for _, i := range order {
			p := paths[i]
			g, err := iperf(p.host, p.port, secs)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			results[i] = append(results[i], g)
		}
		ratios = append(ratios, results[1][r]/results[0][r])
	}
	fmt.Printf("iperf3 %d s × %d rounds, median (min–max) Gbit/s\n\n", secs, rounds)
	fmt.Println("| path | Gbit/s |")
	fmt.Println("| --- | --- |")
	for i, p := range paths {
		fmt.Printf("| %s | %s |\n", p.name, stats(results[i]))
	}
	fmt.Printf("\npublished / direct, per round: median %.0f%% (min %.0f%%, max %.0f%%); ratio of medians %.0f%% (goal ≥ 90%%)\n",
		100*median(ratios), 100*slices.Min(ratios), 100*slices.Max(ratios), 100*median(results[1])/median(results[0]))
	return nil
}

func iperf(host string, port, secs int) (float64, error) {
	out, err := exec.Command("iperf3", "-c", host, "-p", fmt.Sprint(port), "-t", fmt.Sprint(secs), "-J").Output()
	if err != nil {
		return 0, fmt.Errorf("iperf3 -c %s -p %d: %w: %s", host, port, err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, err
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}

func freePort() int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 15201
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func stats(v []float64) string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", median(v), slices.Min(v), slices.Max(v))
}
