#!/bin/bash
# Build berth's look-alike images from Debian packages and serve them from a
# local registry that berth uses as its mirror for docker.io.
#
#   examples/images/build.sh [--rebuild] [--no-registry] [IMAGE...]
#
# IMAGE is a recipe directory beside this script (default: mariadb adminer).
# For each image:
#   1. rootfs: mmdebstrap from the recipe (packages, hooks, rootfs/ overlay),
#      cached by a hash of the recipe files and the mmdebstrap options;
#   2. OCI layout: pack (./pack) turns the rootfs tarball and config.json into
#      a one-layer OCI image, cached by the rootfs hash, pack's source and
#      SOURCE_DATE_EPOCH.
# Then (unless --no-registry) registry.sh starts the local registry if needed,
# pushes the images under the tags the examples use, and writes berth's
# registries.yaml.
#
# Environment:
#   BERTH_IMAGES_CACHE  cache dir (default /var/cache/berth-images)
#   BERTH_IMAGES_SUITE  Debian suite (default bookworm)
#   SOURCE_DATE_EPOCH   file times are clamped to it (default 1747699200,
#                       2025-05-20, the host's Debian snapshot date)
#   GO                  go binary (default: go on PATH, else /usr/local/go/bin/go)
# Needs: mmdebstrap (apt-get install mmdebstrap), Go, root.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${BERTH_IMAGES_CACHE:-/var/cache/berth-images}
suite=${BERTH_IMAGES_SUITE:-bookworm}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1747699200}

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

rebuild=
registry=1
images=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rebuild) rebuild=1 ;;
	--no-registry) registry= ;;
	-h | --help)
		sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option $1" ;;
	*) images+=("$1") ;;
	esac
	shift
done
[ ${#images[@]} -gt 0 ] || images=(mariadb adminer)

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap builds the rootfs in a chroot)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || die "Go not found (set GO=/path/to/go)"

# The mmdebstrap options that shape every image; part of the cache key.
mmdebstrap_opts=(
	--variant=apt
	--aptopt='APT::Install-Recommends "false"'
	--dpkgopt='path-exclude=/usr/share/man/*'
	--dpkgopt='path-exclude=/usr/share/doc/*'
	--dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/locale/*'
	--dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/lintian/*'
	# /run is cleaned by the recipes' customize hooks, which keep what the
	# image needs there (e.g. /run/mysqld).
	--skip=cleanup/run
)

# tree_hash PATH...: a hash of the files at or under each PATH (names,
# modes, contents); missing paths count as absent.
tree_hash() {
	local p paths=()
	for p; do [ ! -e "$p" ] || paths+=("$p"); done
	[ ${#paths[@]} -gt 0 ] || { echo none; return; }
	find "${paths[@]}" \( -type f -o -type l \) | LC_ALL=C sort | while read -r f; do
		printf '%s %s\n' "$f" "$(stat -c %a "$f")"
		if [ -L "$f" ]; then readlink "$f"; else sha256sum <"$f"; fi
	done | sha256sum | cut -c1-16
}

mkdir -p "$cache/bin"
# One build at a time per cache (the registry push too).
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
	say "waiting for another build.sh using $cache"
	flock 9
fi
say "building pack (OCI packer) into $cache/bin/pack"
(cd "$repo" && "$GO" build -o "$cache/bin/pack" ./examples/images/pack)
pack_key=$(cd "$here" && tree_hash pack)

build_image() {
	local img=$1 recipe=$here/$1
	[ -f "$recipe/packages" ] && [ -f "$recipe/config.json" ] ||
		die "$img: no recipe ($recipe/packages and $recipe/config.json)"
	local dir=$cache/$img
	mkdir -p "$dir"

	local pkgs
	pkgs=$(sed -e 's/#.*//' "$recipe/packages" | xargs | tr ' ' ',')
	[ -n "$pkgs" ] || die "$img: $recipe/packages lists no package"
	# What shapes the rootfs: packages, hooks, rootfs/ overlay, mmdebstrap
	# options. (config.json and tags only shape the OCI image and the push.)
	local key
	key=$( (
		cd "$recipe" && tree_hash packages essential-hook.sh customize-hook.sh rootfs
		printf '%s\n' "$suite" "${mmdebstrap_opts[@]}"
	) | sha256sum | cut -c1-16)

	if [ -z "$rebuild" ] && [ -f "$dir/rootfs.tar" ] && [ "$(cat "$dir/rootfs.key" 2>/dev/null)" = "$key" ]; then
		say "$img: recipe unchanged (key $key), reusing $dir/rootfs.tar"
	else
		say "$img: building rootfs with mmdebstrap ($suite: $pkgs), recipe key $key"
		# Downloaded packages are kept in $cache/debs for the next build
		# (mmdebstrap's documented sync-in/sync-out pattern); they do not
		# change the result.
		mkdir -p "$cache/debs"
		local hooks=(
			--skip=essential/unlink
			--setup-hook='mkdir -p "$1/var/cache/apt/archives"'
			--setup-hook="sync-in $cache/debs /var/cache/apt/archives/"
			--customize-hook="sync-out /var/cache/apt/archives $cache/debs"
		)
		[ ! -x "$recipe/essential-hook.sh" ] || hooks+=(--essential-hook="$recipe/essential-hook.sh")
		[ ! -d "$recipe/rootfs" ] || hooks+=(--customize-hook="sync-in $recipe/rootfs /")
		[ ! -x "$recipe/customize-hook.sh" ] || hooks+=(--customize-hook="$recipe/customize-hook.sh")
		local start=$SECONDS
		rm -f "$dir/rootfs.tmp.tar" "$dir/rootfs.key"
		mmdebstrap --quiet --format=tar "${mmdebstrap_opts[@]}" --include="$pkgs" "${hooks[@]}" \
			"$suite" "$dir/rootfs.tmp.tar" >"$dir/mmdebstrap.log" 2>&1 ||
			{
				tail -n 30 "$dir/mmdebstrap.log" >&2
				die "$img: mmdebstrap failed (log: $dir/mmdebstrap.log)"
			}
		mv "$dir/rootfs.tmp.tar" "$dir/rootfs.tar"
		echo "$key" >"$dir/rootfs.key"
		rm -f "$dir/oci.key"
		say "$img: rootfs built in $((SECONDS - start)) s ($(du -h "$dir/rootfs.tar" | cut -f1))"
	fi

	# The layout names the image under every tag it is pushed with.
	local tags refs=() tag
	tags=$("$here/registry.sh" tags "$img")
	for tag in $tags; do refs+=(-ref "docker.io/library/$img:$tag"); done
	local okey
	okey="$key-$pack_key-$(cd "$recipe" && tree_hash config.json)-$SOURCE_DATE_EPOCH-$(echo $tags | sha256sum | cut -c1-8)"
	if [ -z "$rebuild" ] && [ -f "$dir/oci/index.json" ] && [ "$(cat "$dir/oci.key" 2>/dev/null)" = "$okey" ]; then
		say "$img: OCI image up to date ($(cat "$dir/digest"))"
	else
		say "$img: packing OCI image into $dir/oci"
		local start=$SECONDS
		"$cache/bin/pack" build -rootfs "$dir/rootfs.tar" -config "$recipe/config.json" \
			-out "$dir/oci" -epoch "$SOURCE_DATE_EPOCH" "${refs[@]}" \
			-created-by "mmdebstrap $suite $pkgs (berth examples/images/$img)" >"$dir/digest.tmp"
		mv "$dir/digest.tmp" "$dir/digest"
		echo "$okey" >"$dir/oci.key"
		say "$img: packed in $((SECONDS - start)) s: $(cat "$dir/digest"), $(du -sh "$dir/oci" | cut -f1) compressed"
	fi
}

for img in "${images[@]}"; do
	build_image "$img"
done

if [ -n "$registry" ]; then
	"$here/registry.sh" push "${images[@]}"
fi
