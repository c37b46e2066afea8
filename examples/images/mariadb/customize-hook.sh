#!/bin/sh
# mmdebstrap --customize-hook: runs after all packages and after the
# recipe's rootfs/ has been copied in.
set -eu
root=$1
# The package's postinst initialised a data dir; the image ships an empty one
# (the entrypoint initialises it on first start, as the official image does).
find "$root/var/lib/mysql" -mindepth 1 -delete
mkdir -p "$root/run/mysqld" "$root/docker-entrypoint-initdb.d" "$root/etc/mysql/conf.d"
chown 999:999 "$root/var/lib/mysql" "$root/run/mysqld"
chmod 0755 "$root/var/lib/mysql"
chmod 1777 "$root/run/mysqld"
chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh" "$root/usr/local/bin/healthcheck.sh"
# User config in /etc/mysql/conf.d/ must win over the packaged defaults, as
# in the official image: read conf.d last.
sed -i -e '/^!includedir \/etc\/mysql\/conf.d\/$/d' "$root/etc/mysql/mariadb.cnf"
echo '!includedir /etc/mysql/conf.d/' >>"$root/etc/mysql/mariadb.cnf"
# Files the runtime provides, and build leftovers (build.sh skips
# mmdebstrap's own /run cleanup so that /run can keep what the image needs).
find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock ! -name mysqld -exec rm -rf '{}' +
rm -f "$root/etc/resolv.conf" "$root/etc/hostname" "$root/etc/machine-id" "$root/var/log/mysql/"*
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"*
