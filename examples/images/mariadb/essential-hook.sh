#!/bin/sh
# mmdebstrap --essential-hook: runs after the essential packages, before
# mariadb-server. Give mysql the official image's fixed ids (999:999), so a
# data volume is owned the same way whichever image made it.
set -eu
root=$1
grep -q '^mysql:' "$root/etc/group" || echo 'mysql:x:999:' >>"$root/etc/group"
grep -q '^mysql:' "$root/etc/passwd" || echo 'mysql:x:999:999:MySQL Server:/var/lib/mysql:/usr/sbin/nologin' >>"$root/etc/passwd"
