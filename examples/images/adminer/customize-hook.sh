#!/bin/sh
# mmdebstrap --customize-hook: runs after all packages and after the
# recipe's rootfs/ has been copied in.
set -eu
root=$1
test -f "$root/usr/share/adminer/adminer.php"
chown -R 999:999 "$root/var/www/html"
chmod 0755 "$root/usr/local/bin/entrypoint.sh"
# Files the runtime provides, and build leftovers (build.sh skips
# mmdebstrap's own /run cleanup so that /run can keep what the image needs).
find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf '{}' +
rm -f "$root/etc/resolv.conf" "$root/etc/hostname" "$root/etc/machine-id"
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"*
