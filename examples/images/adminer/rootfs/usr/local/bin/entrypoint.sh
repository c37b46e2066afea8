#!/bin/bash
# Entrypoint of berth's adminer look-alike image.
#   ADMINER_DESIGN=NAME  use /usr/share/adminer/designs/NAME/adminer.css
# The command (default: php -S [::]:8080 -t /var/www/html) is then run.
set -eo pipefail

if [ -n "${ADMINER_DESIGN:-}" ]; then
	css=/usr/share/adminer/designs/$ADMINER_DESIGN/adminer.css
	[ -f "$css" ] || {
		echo "entrypoint.sh: ADMINER_DESIGN=$ADMINER_DESIGN: no such design ($css)" >&2
		exit 1
	}
	ln -sfn "$css" /var/www/html/adminer.css
fi

# php -S [::]:PORT needs IPv6; where a container has none, listen on 0.0.0.0.
if [ ! -e /proc/net/if_inet6 ]; then
	args=()
	for a; do
		case "$a" in '[::]:'*) a="0.0.0.0:${a#'[::]:'}" ;; esac
		args+=("$a")
	done
	set -- "${args[@]}"
fi

if [ $$ != 1 ]; then
	exec "$@"
fi
# As PID 1, php would ignore SIGTERM (it installs no handler), so a stop
# would wait for SIGKILL: stay as a small init that forwards the signal.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
	status=0
	wait "$child" || status=$?
	kill -0 "$child" 2>/dev/null || exit "$status"
done
