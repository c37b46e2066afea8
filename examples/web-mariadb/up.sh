#!/bin/bash
# Bring the web + MariaDB example up on this machine, from a fresh checkout:
#
#   sudo examples/web-mariadb/up.sh [BERTH_GLOBAL_FLAGS...]
#
# 1. builds berth and berth-shim into bin/ of the repository (Go needed);
# 2. checks whether Docker Hub answers; when it does not (or BERTH_OFFLINE=1),
#    says so and builds the look-alike mariadb and adminer images from Debian
#    packages and serves them from a local registry on 127.0.0.1 that berth
#    uses as its docker.io mirror (examples/images/build.sh; cached, a few
#    seconds when nothing changed, minutes the first time);
# 3. runs `berth up -d --wait` on compose.yaml (extra arguments go before
#    `up`, e.g. `-f examples/web-mariadb/db-port.override.yaml`) and prints
#    the URL.
#
# Environment:
#   BERTH_ROOT        berth's state (default /var/lib/berth); registries.yaml
#                     with the mirror is written there, never to /etc/berth
#   BERTH_BIN_DIR     where to build berth (default <repo>/bin)
#   BERTH_OFFLINE=1   do not probe Docker Hub; use the local images
#   MARIADB_ROOT_PASSWORD, MARIADB_PASSWORD   as in compose.yaml
# Stop it with: bin/berth -f examples/web-mariadb/compose.yaml down [-v]
# (and examples/images/registry.sh down for the local registry).
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${BERTH_ROOT:-/var/lib/berth}
bindir=${BERTH_BIN_DIR:-$repo/bin}

say() { printf 'up.sh: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "berth needs root (namespaces, mounts, cgroups, netlink): run with sudo"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || die "Go not found: install Go (https://go.dev/dl) or set GO=/path/to/go"
export GO

say "building berth (launcher), berth-core and berth-shim into $bindir"
(cd "$repo" && export CGO_ENABLED=0 &&
	"$GO" build -o "$bindir/berth-core" ./cmd/berth &&
	"$GO" build -o "$bindir/berth" ./cmd/berth-launcher &&
	"$GO" build -o "$bindir/berth-shim" ./runtime/cmd/berth-shim)
berth=("$bindir/berth" --root "$root")

# Docker Hub answers /v2/ with 401 (authentication required) when it is
# reachable; no answer at all means it is not. Its name is looked up first,
# so a machine whose resolver does not know it sends Docker Hub nothing.
hub=
if [ "${BERTH_OFFLINE:-}" != 1 ] && command -v curl >/dev/null &&
	timeout 5 getent hosts registry-1.docker.io >/dev/null 2>&1; then
	code=$(curl -sS -o /dev/null --max-time 5 -w '%{http_code}' https://registry-1.docker.io/v2/ 2>/dev/null || true)
	[ -n "$code" ] && [ "$code" != 000 ] && hub=1
fi
if [ -n "$hub" ]; then
	say "Docker Hub is reachable: berth pulls the official mariadb and adminer images"
else
	if [ "${BERTH_OFFLINE:-}" = 1 ]; then
		say "BERTH_OFFLINE=1: not using Docker Hub"
	else
		say "Docker Hub (registry-1.docker.io) cannot be reached from this machine"
	fi
	say "building look-alike mariadb and adminer images from Debian packages and serving them"
	say "from a local registry on 127.0.0.1, configured as berth's docker.io mirror in $root/registries.yaml"
	missing=()
	for c in mmdebstrap docker-registry curl; do command -v "$c" >/dev/null || missing+=("$c"); done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing Debian packages: ${missing[*]}"
		command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
	mkdir -p "$root"
	BERTH_REGISTRIES_YAML=$root/registries.yaml "$repo/examples/images/build.sh"
fi

say "starting the stack: berth up -d --wait"
start=$(date +%s.%N)
"${berth[@]}" -f "$here/compose.yaml" "$@" up -d --wait
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
"${berth[@]}" -f "$here/compose.yaml" "$@" ps
cat <<EOF

The stack is up: healthy ${took} s after \`up\`.
Adminer: http://127.0.0.1:8080  (server: db, user: root or app, password: see compose.yaml)
Tests:   cd $repo && sudo $GO test -v -timeout 20m ./e2e/
Stop:    sudo $bindir/berth --root $root -f $here/compose.yaml down     (-v also deletes the data)
EOF
