#!/bin/bash
# The local registry that stands in for Docker Hub, and berth's mirror entry.
#
#   examples/images/registry.sh up              start it if it is not running
#   examples/images/registry.sh push [IMAGE...] up + push built images + mirror config
#   examples/images/registry.sh config          write berth's registries.yaml only
#   examples/images/registry.sh tags IMAGE      the tags IMAGE is pushed under
#   examples/images/registry.sh status          running? which repositories?
#   examples/images/registry.sh down            stop it (by the PID it recorded)
#
# The registry is Debian's docker-registry (apt-get install docker-registry),
# which its package does not start: we run `docker-registry serve` with our
# own config (only 127.0.0.1, filesystem storage under the cache, deletes on)
# and record its PID. Images are pushed as library/<image>:<tag> for every tag
# of that image used by examples/*/compose*.yaml, the recipe's tags file, and
# "latest". berth's registries.yaml then lists the registry as the first
# docker.io mirror, so `image: mariadb:11.4` resolves to it.
#
# Environment:
#   BERTH_IMAGES_CACHE      cache dir (default /var/cache/berth-images); images
#                           from build.sh are read from here, registry data and
#                           its PID file live in $BERTH_IMAGES_CACHE/registry
#   BERTH_REGISTRY_ADDR     listen address (default 127.0.0.1:5000; 127.0.0.0/8 only)
#   BERTH_REGISTRIES_YAML   registries.yaml to write (default:
#                           $BERTH_ROOT/registries.yaml if BERTH_ROOT is set,
#                           else /etc/berth/registries.yaml)
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${BERTH_IMAGES_CACHE:-/var/cache/berth-images}
addr=${BERTH_REGISTRY_ADDR:-127.0.0.1:5000}
regdir=$cache/registry
pidfile=$regdir/registry.pid
if [ -n "${BERTH_REGISTRIES_YAML:-}" ]; then
	regyaml=$BERTH_REGISTRIES_YAML
elif [ -n "${BERTH_ROOT:-}" ]; then
	regyaml=$BERTH_ROOT/registries.yaml
else
	regyaml=/etc/berth/registries.yaml
fi

say() { printf 'registry.sh: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

case "$addr" in
127.*:[0-9]*) ;;
*) die "BERTH_REGISTRY_ADDR=$addr: only 127.0.0.0/8 addresses are allowed" ;;
esac

# our_pid: the PID of the registry we started, if it still runs.
our_pid() {
	local pid
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	# A PID reused by another program is not ours.
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "docker-registry serve $regdir/config.yml" || return 1
	echo "$pid"
}

answers() {
	curl -fsS -o /dev/null --max-time 2 "http://$addr/v2/" 2>/dev/null
}

up() {
	command -v docker-registry >/dev/null || die "docker-registry is missing: apt-get install docker-registry"
	command -v curl >/dev/null || die "curl is missing: apt-get install curl"
	local pid
	if pid=$(our_pid); then
		answers || die "registry (pid $pid) runs but does not answer on http://$addr/v2/ (log: $regdir/registry.log)"
		say "registry already running (pid $pid) on http://$addr"
		return
	fi
	if answers; then
		say "a registry not started by this script already answers on http://$addr; using it"
		return
	fi
	mkdir -p "$regdir/data"
	cat >"$regdir/config.yml.tmp" <<-EOF
		version: 0.1
		storage:
		  filesystem:
		    rootdirectory: $regdir/data
		  delete:
		    enabled: true
		http:
		  addr: $addr
	EOF
	mv "$regdir/config.yml.tmp" "$regdir/config.yml"
	say "starting docker-registry on http://$addr (data $regdir/data, log $regdir/registry.log)"
	# 9>&-: not holding build.sh's lock for the registry's lifetime.
	setsid docker-registry serve "$regdir/config.yml" >>"$regdir/registry.log" 2>&1 </dev/null 9>&- &
	pid=$!
	echo "$pid" >"$pidfile.tmp"
	mv "$pidfile.tmp" "$pidfile"
	local i
	for i in $(seq 100); do
		answers && {
			say "registry up (pid $pid)"
			return
		}
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$regdir/registry.log" >&2
			die "docker-registry exited (is $addr already taken?)"
		}
		sleep 0.1
	done
	die "registry (pid $pid) did not answer on http://$addr/v2/ within 10 s"
}

down() {
	local pid
	if ! pid=$(our_pid); then
		say "no registry started by this script is running"
		rm -f "$pidfile"
		return
	fi
	say "stopping registry (pid $pid)"
	kill "$pid"
	local i
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	rm -f "$pidfile"
}

pack() {
	[ -x "$cache/bin/pack" ] || die "$cache/bin/pack is missing: run examples/images/build.sh first"
	"$cache/bin/pack" "$@"
}

config() {
	say "berth mirror for docker.io: http://$addr in $regyaml"
	pack mirror -file "$regyaml" -registry docker.io -mirror "http://$addr" >/dev/null
	sed 's/^/    /' "$regyaml" >&2
}

# tags IMAGE: the tags to push for IMAGE.
tags() {
	local img=$1
	{
		echo latest
		sed -e 's/#.*//' "$here/$img/tags" 2>/dev/null || true
		# image: [docker.io/][library/]IMAGE[:TAG] in the examples' compose files
		cat "$repo"/examples/*/compose*.y*ml 2>/dev/null |
			sed -nE "s/^[[:space:]]*image:[[:space:]]*[\"']?(docker\.io\/)?(library\/)?$img(:([^\"'[:space:]@]+))?[\"']?[[:space:]]*(#.*)?\$/\4/p" |
			sed 's/^$/latest/'
	} | xargs -n1 | LC_ALL=C sort -u
}

push() {
	local images=("$@")
	[ ${#images[@]} -gt 0 ] || images=(mariadb adminer)
	up
	local img tag refs
	for img in "${images[@]}"; do
		[ -f "$cache/$img/oci/index.json" ] || die "$img: no built image in $cache/$img/oci (run examples/images/build.sh $img)"
		refs=()
		for tag in $(tags "$img"); do
			refs+=("$addr/library/$img:$tag")
		done
		say "$img: pushing $(cat "$cache/$img/digest") as ${refs[*]#"$addr/"} (tags already at this digest are skipped)"
		pack push -layout "$cache/$img/oci" "${refs[@]}" >/dev/null
	done
	config
	say "done: $(curl -fsS "http://$addr/v2/_catalog")"
}

status() {
	local pid
	if pid=$(our_pid); then
		say "running (pid $pid) on http://$addr"
	elif answers; then
		say "a registry not started by this script answers on http://$addr"
	else
		say "not running"
		return 1
	fi
	curl -fsS "http://$addr/v2/_catalog"
	echo
}

cmd=${1:-}
[ $# -eq 0 ] || shift
case "$cmd" in
up) up ;;
push) push "$@" ;;
config) config ;;
tags) tags "${1:?usage: registry.sh tags IMAGE}" ;;
status) status ;;
down) down ;;
*)
	sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
