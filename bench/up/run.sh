#!/usr/bin/env bash
# Project lifecycle benchmark (see main.go): a 20-service busybox stack
# with berth, and with PODMAN=1 the same stack with Debian's podman and
# podman-compose (installed here with apt, only then). Needs root and
# busybox-static. SERVICES, ROUNDS and CRASHES (containers crashed for the
# first restart) tune it; NO_SHIM=1 leaves berth-shim out (berth then
# re-executes itself).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
SERVICES=${SERVICES:-20}
ROUNDS=${ROUNDS:-3}
CRASHES=${CRASHES:-10}
PODMAN=${PODMAN:-0}

# tini is berth's init for init: true (README); BERTH_INIT_PATH=builtin
# measures berth's own.
if [ ! -x /usr/bin/tini-static ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
fi
# catatonit is podman's init for init: true (a Recommends of podman, so
# not there with --no-install-recommends: podman run --init then fails).
if [ "$PODMAN" = 1 ] && { ! command -v podman-compose >/dev/null || [ ! -e /usr/libexec/podman/catatonit ]; }; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman podman-compose catatonit >/dev/null
fi

bin=$(mktemp -d /var/tmp/berth-bench-up.XXXXXX)
# The containers' parent cgroup (/berth) goes too when empty: a non-empty
# one belongs to containers running outside this bench and stays.
trap 'rm -rf "$bin"; for h in /sys/fs/cgroup/*/; do rmdir "$h/berth" 2>/dev/null || true; done' EXIT
# berth as installed: the launcher (answers a repeated `up -d` from its
# stamp) as berth, the full CLI beside it as berth-core. NO_LAUNCHER=1
# measures the full CLI alone.
if [ "${NO_LAUNCHER:-0}" = 1 ]; then
  CGO_ENABLED=0 go build -o "$bin/berth" ./cmd/berth
else
  CGO_ENABLED=0 go build -o "$bin/berth-core" ./cmd/berth
  CGO_ENABLED=0 go build -o "$bin/berth" ./cmd/berth-launcher
fi
# berth re-executes berth-shim (when it sits next to it) as each
# container's shim and init, as an installed berth does; without it every
# container pays the full berth binary's start-up twice.
[ "${NO_SHIM:-0}" = 1 ] || CGO_ENABLED=0 go build -o "$bin/berth-shim" ./runtime/cmd/berth-shim
go build -o "$bin/upbench" ./bench/up
flags=(-berth "$bin/berth" -services "$SERVICES" -rounds "$ROUNDS" -crashes "$CRASHES")
[ "$PODMAN" = 1 ] && flags+=(-podman)
"$bin/upbench" "${flags[@]}"
