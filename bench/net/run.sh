#!/usr/bin/env bash
# Network benchmark: iperf3 host → container (direct, through a port
# published on 127.0.0.1, and host loopback alone), then the time to attach
# one container to a network (Go benchmark). Needs root; installs iperf3
# with apt when missing. ROUNDS and SECS tune the iperf3 runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}

if ! command -v iperf3 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null
fi

bin=$(mktemp -d /var/tmp/berth-bench-net.XXXXXX)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/netbench" ./bench/net
"$bin/netbench" -rounds "$ROUNDS" -time "$SECS"
echo
echo "attach one container (CreateSandbox + Attach) and remove it (DeleteSandbox):"
go test -run '^$' -bench 'Attach|DeleteSandbox' -benchtime 30x -count 1 ./bench/net | grep -E '^Benchmark'
