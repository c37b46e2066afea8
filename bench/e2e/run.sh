#!/usr/bin/env bash
# Time from `berth up -d --wait` to healthy for examples/web-mariadb
# (Adminer + MariaDB), with the look-alike images served by the local
# registry of examples/images (built first when not cached). Prints, per
# round:
#   cold   fresh --root: pull both images through the mirror, unpack,
#          MariaDB initialises its empty data dir
#   fresh  images in the store, volume removed (down -v): MariaDB
#          initialises again
#   warm   images in the store, data kept (down, then up)
# It is a benchmark, not a test: it prints numbers and asserts nothing.
# Needs root, Go, mmdebstrap, docker-registry, curl; port 8080 free.
# ROUNDS (default 3) tunes it. Everything goes to a temporary --root and
# BERTH_RUN_DIR, removed at the end; the registry is stopped again when
# this script started it. berth runs with proxy variables pointing at a
# dead loopback port: nothing leaves the machine.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-3}

[ "$(id -u)" = 0 ] || { echo "bench/e2e: needs root" >&2; exit 1; }
work=$(mktemp -d /var/tmp/berth-bench-e2e.XXXXXX)
root=$work/root
export BERTH_RUN_DIR=$work/run
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=
compose=(-f "$repo/examples/web-mariadb/compose.yaml")
started_registry=
cleanup() {
	[ ! -x "$work/berth" ] || "$work/berth" --root "$root" "${compose[@]}" down -v -t 0 >/dev/null 2>&1 || true
	[ -z "$started_registry" ] || examples/images/registry.sh down 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/berth" ./cmd/berth
CGO_ENABLED=0 go build -o "$work/berth-shim" ./runtime/cmd/berth-shim
examples/images/registry.sh status >/dev/null 2>&1 || started_registry=1
mkdir -p "$root"
t0=$(date +%s.%N)
BERTH_REGISTRIES_YAML=$root/registries.yaml examples/images/build.sh >"$work/build.log" 2>&1 ||
	{ tail -n 30 "$work/build.log" >&2; exit 1; }
printf 'examples/images/build.sh (cached images, registry, mirror config): %.1f s\n' "$(echo "$(date +%s.%N) $t0" | awk '{print $1 - $2}')"

berth() { "$work/berth" --root "$root" "${compose[@]}" "$@"; }
# up_time: seconds of one `up -d --wait`.
up_time() {
	local t0 t1
	t0=$(date +%s.%N)
	berth up -d --wait >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

printf '\n%-6s %10s %10s %10s   (seconds from `up -d --wait` to healthy)\n' round cold fresh warm
for r in $(seq "$ROUNDS"); do
	berth down -v -t 0 >/dev/null 2>&1 || true
	rm -rf "$root/images"
	cold=$(up_time)
	berth down -v >/dev/null 2>&1
	fresh=$(up_time)
	berth down >/dev/null 2>&1
	warm=$(up_time)
	printf '%-6s %10s %10s %10s\n' "$r" "$cold" "$fresh" "$warm"
done
