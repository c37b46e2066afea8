#!/usr/bin/env bash
# Container start benchmark: berth vs crun vs runc vs the floor, plus shim
# memory vs conmon's. Run as root from anywhere: bash bench/start/run.sh [N]
# Installs crun, runc, conmon and busybox-static from Debian if missing.
set -euo pipefail
N=${1:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
WORK=$(mktemp -d /var/tmp/berth-bench-start.XXXXXX)
cleanup() {
	for rt in runc crun; do
		for id in $($rt list -q 2>/dev/null | grep '^bench-' || true); do $rt delete -f "$id" >/dev/null 2>&1 || true; done
	done
	[ -n "${CONMON_PID:-}" ] && kill "$CONMON_PID" 2>/dev/null || true
	runc delete -f bench-conmon >/dev/null 2>&1 || true
	rm -rf "$WORK"
	# berth-bench: the API rows; berth: the CLI row (empty parents; a
	# non-empty one, of containers running outside this bench, stays).
	for h in /sys/fs/cgroup/*/; do rmdir "$h/berth-bench" "$h/berth" 2>/dev/null || true; done
}
trap cleanup EXIT

need=()
for p in crun runc conmon busybox-static; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cd "$REPO"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/berth" ./cmd/berth
# Static (no cgo): no libc mapped into every shim.
CGO_ENABLED=0 go build -o "$WORK/bin/berth-shim" ./runtime/cmd/berth-shim
go build -o "$WORK/bin/bench" ./bench/start
B="$WORK/bin/bench"

"$B" -mode rootfs -rootfs "$WORK/rootfs"
mkbundle() { # dir args-json
	mkdir -p "$1"
	cp -a "$WORK/rootfs" "$1/rootfs"
	(cd "$1" && runc spec)
	python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = json.loads(sys.argv[2])
c["process"]["terminal"] = False
c["root"]["readonly"] = False
c["hostname"] = "bench"
json.dump(c, open(p, "w"), indent=1)
PY
}
mkbundle "$WORK/bundle" '["true"]'
mkbundle "$WORK/bundle-sleep" '["/bin/sleep", "30"]'

# berth CLI needs the image in its store: save the rootfs as a one-layer
# image tarball and load it.
(cd "$WORK/rootfs" && tar -cf "$WORK/layer.tar" .)
python3 - "$WORK" <<'PY'
import hashlib, json, os, sys, tarfile, io
w = sys.argv[1]
layer = open(os.path.join(w, "layer.tar"), "rb").read()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["PATH=/bin:/usr/bin"]},
       "rootfs": {"type": "layers", "diff_ids": [diff]}, "history": [{"created_by": "bench"}]}
cb = json.dumps(cfg).encode()
cname = hashlib.sha256(cb).hexdigest() + ".json"
manifest = [{"Config": cname, "RepoTags": ["busybox:latest"], "Layers": ["layer.tar"]}]
with tarfile.open(os.path.join(w, "image.tar"), "w") as t:
    for name, data in ((cname, cb), ("layer.tar", layer), ("manifest.json", json.dumps(manifest).encode())):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PY
"$WORK/bin/berth" --root "$WORK/all/cli" image load -q -i "$WORK/image.tar" >/dev/null

echo "# container start: create+start+wait of \`true\` (network none), $N rounds, ms"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) vCPUs, $(uname -r)"
echo
echo "| what | runs | min | median | p90 |"
echo "| --- | --- | --- | --- | --- |"
# One process runs every contender once per round, round after round, so
# that the load of other programs hits them alike. crun runs from a thread
# of it in a private mount namespace with /sys/fs/cgroup/unified unmounted,
# which crun needs on this hybrid layout; berth and runc run in the host's.
"$B" -mode all -n "$N" -rootfs "$WORK/rootfs" -exe "$WORK/bin/berth-shim" -berth "$WORK/bin/berth" \
	-work "$WORK/all" -bundle "$WORK/bundle" -crun "$(command -v crun)" -runc "$(command -v runc)"
"$B" -mode restart -n "$N" -rootfs "$WORK/rootfs" -exe "$WORK/bin/berth-shim" -work "$WORK/b3" -label "berth restart cycle: Wait + Start of the same exited container (separate run)"

echo
echo "# per-container supervisor memory (KiB)"
echo
echo "| process | RSS | anonymous | PSS |"
echo "| --- | --- | --- | --- |"
"$B" -mode shim-rss -rootfs "$WORK/rootfs" -exe "$WORK/bin/berth-shim" -work "$WORK/r1"
"$B" -mode shim-rss -rootfs "$WORK/rootfs" -exe "$WORK/bin/berth" -work "$WORK/r2"
# conmon supervising runc, as podman uses it.
mkdir -p "$WORK/conmon"
if conmon --cid bench-conmon --cuuid bench-conmon --name bench-conmon --runtime "$(command -v runc)" \
	--bundle "$WORK/bundle-sleep" --container-pidfile "$WORK/conmon/pid" --conmon-pidfile "$WORK/conmon/cpid" \
	--log-path "k8s-file:$WORK/conmon/log" --exit-dir "$WORK/conmon" --socket-dir-path "$WORK/conmon" \
	--log-level error >"$WORK/conmon/out" 2>&1 && CONMON_PID=$(cat "$WORK/conmon/cpid") &&
	for i in $(seq 50); do runc state bench-conmon >/dev/null 2>&1 && break; sleep 0.1; done &&
	runc start bench-conmon 2>>"$WORK/conmon/out"; then
	sleep 2
	rss=$(awk '/^VmRSS:/{print $2}' /proc/$CONMON_PID/status)
	anon=$(awk '/^RssAnon:/{print $2}' /proc/$CONMON_PID/status)
	pss=$(awk '/^Pss:/{print $2}' /proc/$CONMON_PID/smaps_rollup)
	echo "| conmon $(conmon --version | head -1 | awk '{print $3}') (measured now) | $rss | $anon | $pss |"
	runc kill bench-conmon KILL >/dev/null 2>&1 || true
else
	sed 's/^/conmon: /' "$WORK/conmon/out" >&2
	echo "| conmon (could not run it here; figure measured earlier on this machine kind) | 2050 | 332 | 369 |"
fi
