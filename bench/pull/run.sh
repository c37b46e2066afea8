#!/usr/bin/env bash
# Pull benchmark: berth image pull (download + verify + unpack) versus
# skopeo copy docker://… oci:… + umoci unpack, on the same multi-layer image
# (≥100 MB, generated deterministically by genimage) served by Debian's
# docker-registry on 127.0.0.1. Prints a table of medians over ROUNDS runs.
# Needs root (unpacking owners/devices), installs skopeo and umoci with apt.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
ROUNDS=${ROUNDS:-3}

if ! command -v skopeo >/dev/null || ! command -v umoci >/dev/null || ! command -v docker-registry >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo umoci docker-registry >/dev/null
fi

work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
reg_pid=""
cleanup() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $host
  secret: bench
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

go build -o "$work/berth" ./cmd/berth
go build -o "$work/genimage" ./bench/pull/genimage
ref=$host/bench/big:1
read -r unpacked compressed < <("$work/genimage" -ref "$ref")

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

berth_times=() skopeo_times=() umoci_only=()
for i in $(seq "$ROUNDS"); do
  rm -rf "$work/root"
  t0=$(now); "$work/berth" --root "$work/root" image pull -q "$ref" >/dev/null; t1=$(now)
  berth_times+=("$(echo "$t1 - $t0" | bc -l)")

  rm -rf "$work/oci" "$work/bundle"
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci:big" >/dev/null
  t1=$(now)
  umoci unpack --image "$work/oci:big" "$work/bundle" >/dev/null
  t2=$(now)
  skopeo_times+=("$(echo "$t2 - $t0" | bc -l)")
  umoci_only+=("$(echo "$t2 - $t1" | bc -l)")
done
rm -rf "$work/root" "$work/oci" "$work/bundle"

bt=$(printf '%s\n' "${berth_times[@]}" | median)
st=$(printf '%s\n' "${skopeo_times[@]}" | median)
ut=$(printf '%s\n' "${umoci_only[@]}" | median)
mb() { echo "scale=1; $1 / 1000000" | bc -l; }
rate() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }

echo "image: $(mb "$unpacked") MB unpacked, $(mb "$compressed") MB compressed (gzip), 5 layers; median of $ROUNDS runs; $(nproc) CPUs"
printf '| %-38s | %9s | %18s | %19s |\n' "tool" "seconds" "MB/s (compressed)" "MB/s (unpacked)"
printf '|%s|%s|%s|%s|\n' "----------------------------------------" "-----------" "--------------------" "---------------------"
printf '| %-38s | %9.2f | %18s | %19s |\n' "berth image pull" "$bt" "$(rate "$compressed" "$bt")" "$(rate "$unpacked" "$bt")"
printf '| %-38s | %9.2f | %18s | %19s |\n' "skopeo copy + umoci unpack" "$st" "$(rate "$compressed" "$st")" "$(rate "$unpacked" "$st")"
printf '| %-38s | %9.2f | %18s | %19s |\n' "  of which umoci unpack" "$ut" "" ""
