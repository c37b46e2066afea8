#!/bin/sh
# mmdebstrap --essential-hook: the unprivileged user the server runs as
# (the official image runs as "adminer" too).
set -eu
root=$1
grep -q '^adminer:' "$root/etc/group" || echo 'adminer:x:999:' >>"$root/etc/group"
grep -q '^adminer:' "$root/etc/passwd" || echo 'adminer:x:999:999:Adminer:/var/www/html:/usr/sbin/nologin' >>"$root/etc/passwd"
