#!/bin/bash
# Check the look-alike images without berth: unpack each image's layer and
# run it with unshare + chroot, as a container runtime would, in a private
# network namespace that has only its own loopback (nothing is reachable
# from outside it and nothing outside is contacted).
#
#   examples/images/selftest.sh
#
# Needs the images built (examples/images/build.sh --no-registry is enough),
# root, unshare/nsenter (util-linux), ip (iproute2) and curl.
#
# mariadb: first start on an empty data dir initialises it (database, user,
#   root@'%', /docker-entrypoint-initdb.d *.sh/*.sql/*.sql.gz); healthcheck.sh
#   --connect --innodb_initialized fails before the server is up and during
#   initialisation, and passes once it is; a second start on the same data
#   dir skips initialisation and keeps the data.
# adminer: the default command (php -S [::]:8080) serves the login page; a
#   login as root against the mariadb container lists the database, a SQL
#   command through Adminer's form creates a row, a wrong password shows
#   "Access denied".
#
# Environment: BERTH_IMAGES_CACHE (as build.sh), SELFTEST_KEEP=1 keeps the
# work dir, SELFTEST_RECIPE_FILES=1 copies each recipe's rootfs/ over the
# unpacked image (to try entrypoint changes without rebuilding; a real run
# must not use it). Prints timings at the end.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BERTH_IMAGES_CACHE:-/var/cache/berth-images}
work=$(mktemp -d /tmp/berth-images-selftest.XXXXXX)
started_pids=()
failures=0

ROOT_PW='r00t pw "quoted" \back'
DB=appdb
DB_USER=app
DB_PW="app'pw"
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
bad() {
	printf '   FAIL: %s\n' "$*"
	failures=$((failures + 1))
}
die() {
	printf 'selftest: error: %s\n' "$*" >&2
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
	local pid i
	# Kill only what this script started, newest first.
	for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
		pid=${started_pids[i]}
		kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${started_pids[@]}"; do
		wait "$pid" 2>/dev/null || true # our children: reaped quietly
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	done
	if [ -n "${SELFTEST_KEEP:-}" ]; then
		echo "work dir kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "must run as root"
for c in unshare nsenter ip curl tar; do
	command -v "$c" >/dev/null || die "$c is missing"
done

# layer_blob IMAGE: the (only) layer blob of an image built by build.sh.
layer_blob() {
	local oci=$cache/$1/oci manifest
	[ -f "$oci/index.json" ] || die "$1: not built ($oci); run examples/images/build.sh --no-registry"
	manifest=$(tr -d ' \n' <"$oci/index.json" | grep -o '"digest":"sha256:[0-9a-f]*"' | head -n1 | cut -d: -f3 | tr -d '"')
	tr -d ' \n' <"$oci/blobs/sha256/$manifest" |
		grep -o '"mediaType":"[^"]*layer[^"]*","size":[0-9]*,"digest":"sha256:[0-9a-f]*"' |
		head -n1 | sed 's/.*sha256:\([0-9a-f]*\)"/\1/' | sed "s|^|$oci/blobs/sha256/|"
}

# unpack IMAGE DIR: the image's filesystem as a runtime would see it.
unpack() {
	local blob
	blob=$(layer_blob "$1")
	[ -f "$blob" ] || die "$1: layer blob not found ($blob)"
	mkdir -p "$2"
	tar -xzf "$blob" -C "$2" --numeric-owner
	if [ -n "${SELFTEST_RECIPE_FILES:-}" ]; then
		echo "   note: SELFTEST_RECIPE_FILES: $1/rootfs/ copied over the image"
		cp -a "$here/$1/rootfs/." "$2/"
	fi
}

# The network namespace shared by the "containers" and curl: loopback only.
unshare --net sleep infinity &
netns_pid=$!
started_pids+=("$netns_pid")
sleep 0.1
netns=/proc/$netns_pid/ns/net
nsenter --net="$netns" ip link set lo up
in_net() { nsenter --net="$netns" "$@"; }

printf '127.0.0.1\tlocalhost db\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$work/hosts"
: >"$work/resolv.conf"

# run_container NAME ROOTFS LOG MOUNTS ENV... -- CMD...: start CMD chrooted
# into ROOTFS in new pid and mount namespaces inside the test's network
# namespace. MOUNTS is "src:dst[,src:dst]" (bind mounts). Sets
# CONTAINER_PID to the host PID of the container's init.
run_container() {
	local name=$1 root=$2 log=$3 mounts=$4
	shift 4
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	local setup="set -e
cd '$root'
mount -t proc proc proc
mount -t tmpfs -o mode=755 tmpfs dev
for d in null zero full random urandom tty; do : > dev/\$d; mount --bind /dev/\$d dev/\$d; done
ln -s /proc/self/fd dev/fd; ln -s /proc/self/fd/0 dev/stdin; ln -s /proc/self/fd/1 dev/stdout; ln -s /proc/self/fd/2 dev/stderr
mkdir dev/shm dev/pts; mount -t tmpfs tmpfs dev/shm
mount -t tmpfs tmpfs tmp
: > etc/hosts; mount --bind '$work/hosts' etc/hosts
: > etc/resolv.conf; mount --bind '$work/resolv.conf' etc/resolv.conf
"
	local m
	for m in ${mounts//,/ }; do
		setup+="mkdir -p '$root${m#*:}'; mount --bind '${m%%:*}' '$root${m#*:}'
"
	done
	setup+='exec chroot . env -i "$@"'
	nsenter --net="$netns" unshare --pid --mount --fork --kill-child --propagation private \
		sh -c "$setup" sh "${envs[@]}" "$@" >"$log" 2>&1 &
	local outer=$!
	started_pids+=("$outer")
	local i child=
	for i in $(seq 100); do
		child=$(cat /proc/$outer/task/*/children 2>/dev/null | awk '{print $1}')
		[ -n "$child" ] && break
		sleep 0.02
	done
	[ -n "$child" ] || die "$name: container did not start (log $log)"
	CONTAINER_PID=$child
	CONTAINER_OUTER=$outer
	started_pids+=("$child")
}

# exec_in PID ENV... -- CMD...: run CMD inside a running container (as
# `berth exec` would).
exec_in() {
	local pid=$1
	shift
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	nsenter --target "$pid" --mount --pid --net --root --wd env -i "$PATH_ENV" "${envs[@]}" "$@"
}

# stop_container: SIGTERM to the container's init, wait for it.
stop_container() {
	local pid=$1 outer=$2 i
	kill -TERM "$pid"
	for i in $(seq 300); do
		kill -0 "$outer" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$outer" 2>/dev/null; then
		bad "container $pid did not stop within 30 s of SIGTERM"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$outer" 2>/dev/null || true
}

# ---------------------------------------------------------------- mariadb
say "unpacking images from $cache"
t0=$(now)
unpack mariadb "$work/mariadb"
t_unpack_db=$(since "$t0")
t0=$(now)
unpack adminer "$work/adminer"
t_unpack_web=$(since "$t0")
ok "mariadb unpacked in ${t_unpack_db}s ($(du -sh "$work/mariadb" | cut -f1)), adminer in ${t_unpack_web}s ($(du -sh "$work/adminer" | cut -f1))"

mkdir -p "$work/datadir" "$work/initdb"
cat >"$work/initdb/01-schema.sql" <<'EOF'
CREATE TABLE greetings (id INT PRIMARY KEY AUTO_INCREMENT, msg VARCHAR(64));
INSERT INTO greetings (msg) VALUES ('from initdb sql');
EOF
printf "INSERT INTO greetings (msg) VALUES ('from initdb sql.gz');\n" | gzip >"$work/initdb/02-more.sql.gz"
cat >"$work/initdb/03-marker.sh" <<'EOF'
echo "initdb ran for $MARIADB_DATABASE" >>/var/lib/mysql/initdb-marker
EOF
echo 'not run' >"$work/initdb/04-ignored.txt"

DB_ENV=(
	"$PATH_ENV" HOME=/root
	"MARIADB_ROOT_PASSWORD=$ROOT_PW" "MARIADB_DATABASE=$DB"
	"MYSQL_USER=$DB_USER" "MARIADB_PASSWORD=$DB_PW"
)
DB_MOUNTS="$work/datadir:/var/lib/mysql,$work/initdb:/docker-entrypoint-initdb.d"

healthy() { exec_in "$1" "MARIADB_ROOT_PASSWORD=$ROOT_PW" -- healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1; }
sql_root() { exec_in "$DB_PID" -- mariadb -uroot -p"$ROOT_PW" -h127.0.0.1 --protocol=tcp -N -B -e "$1"; }

say "mariadb: healthcheck before the server runs"
run_container probe "$work/mariadb" "$work/probe.log" "$work/datadir:/var/lib/mysql" "$PATH_ENV" -- sleep 30
if healthy "$CONTAINER_PID"; then bad "healthcheck passed with no server"; else ok "healthcheck fails with no server (exit non-zero)"; fi
kill -KILL "$CONTAINER_PID"
wait "$CONTAINER_OUTER" 2>/dev/null || true

say "mariadb: first start (empty data dir)"
t0=$(now)
run_container db "$work/mariadb" "$work/db1.log" "$DB_MOUNTS" "${DB_ENV[@]}" -- docker-entrypoint.sh mariadbd
DB_PID=$CONTAINER_PID
DB_OUTER=$CONTAINER_OUTER
unhealthy_during_init=0
t_init=
t_healthy=
for i in $(seq 1200); do
	kill -0 "$DB_OUTER" 2>/dev/null || break
	if [ -z "$t_init" ] && grep -q 'init process done' "$work/db1.log"; then t_init=$(since "$t0"); fi
	if healthy "$DB_PID"; then
		t_healthy=$(since "$t0")
		break
	fi
	if grep -q 'Temporary server started' "$work/db1.log" && ! grep -q 'Stopping temporary server' "$work/db1.log"; then
		unhealthy_during_init=1
	fi
	sleep 0.1
done
[ -n "$t_init" ] || { grep -q 'init process done' "$work/db1.log" && t_init=$(since "$t0"); }
if [ -n "$t_healthy" ]; then
	ok "healthy ${t_healthy}s after start (initialisation done after ${t_init:-?}s)"
else
	bad "not healthy within 120 s; log:"
	sed 's/^/      /' "$work/db1.log"
	exit 1
fi
grep -q 'Initializing database files' "$work/db1.log" && ok "initialised the empty data dir" || bad "no initialisation in the log"
[ "$unhealthy_during_init" = 1 ] && ok "healthcheck failed while the temporary (socket-only) server ran" ||
	bad "never observed the healthcheck failing during initialisation"
grep -q "running /docker-entrypoint-initdb.d/01-schema.sql" "$work/db1.log" && ok "ran 01-schema.sql" || bad "did not run 01-schema.sql"
grep -q "ignoring /docker-entrypoint-initdb.d/04-ignored.txt" "$work/db1.log" && ok "ignored 04-ignored.txt" || bad "did not ignore 04-ignored.txt"
[ -f "$work/datadir/.my-healthcheck.cnf" ] && ok "wrote .my-healthcheck.cnf" || bad "no .my-healthcheck.cnf"
[ "$(stat -c %u "$work/datadir/mysql")" = 999 ] && ok "data dir owned by mysql (999)" || bad "data dir owner $(stat -c %u "$work/datadir/mysql")"

exec_in "$DB_PID" -- healthcheck.sh --su-mysql --connect --innodb_initialized && ok "healthcheck --su-mysql --connect --innodb_initialized passes" ||
	bad "healthcheck --su-mysql failed"
exec_in "$DB_PID" -- healthcheck.sh --no-defaults --connect && ok "--no-defaults --connect passes (authentication failure still counts as connected)" ||
	bad "--no-defaults --connect failed"
if exec_in "$DB_PID" -- healthcheck.sh --no-defaults --innodb_initialized 2>/dev/null; then bad "--no-defaults --innodb_initialized passed without credentials"; else ok "--no-defaults --innodb_initialized fails without credentials"; fi
if exec_in "$DB_PID" -- healthcheck.sh --bogus 2>/dev/null; then bad "unknown option accepted"; else ok "unknown option refused"; fi

dbs=$(sql_root 'SHOW DATABASES')
grep -qx "$DB" <<<"$dbs" && ok "database $DB exists" || bad "database $DB missing: $dbs"
users=$(sql_root "SELECT CONCAT(user,'@',host) FROM mysql.user ORDER BY 1" | tr '\n' ' ')
for u in root@% root@localhost "$DB_USER@%" healthcheck@127.0.0.1 healthcheck@::1 healthcheck@localhost; do
	[[ " $users" == *" $u "* ]] && ok "account $u exists" || bad "account $u missing (have: $users)"
done
cu=$(exec_in "$DB_PID" -- mariadb -u"$DB_USER" -p"$DB_PW" -h127.0.0.1 -N -B "$DB" -e 'SELECT CURRENT_USER(), COUNT(*) FROM greetings' 2>&1) &&
	[ "$cu" = "$DB_USER@%	2" ] && ok "user $DB_USER logs in over TCP and sees $DB.greetings (2 rows)" || bad "user login: $cu"
if exec_in "$DB_PID" -- mariadb -u"$DB_USER" -pwrong -h127.0.0.1 -e 'SELECT 1' >/dev/null 2>&1; then bad "wrong password accepted"; else ok "wrong password refused"; fi
grep -c . "$work/datadir/initdb-marker" | grep -qx 1 && ok "initdb .sh ran once" || bad "initdb marker: $(cat "$work/datadir/initdb-marker" 2>&1)"
tz=$(sql_root "SELECT COUNT(*) FROM mysql.time_zone_name")
[ "${tz:-0}" -gt 0 ] && ok "time zone tables loaded ($tz names)" || bad "no time zones"
exec_in "$DB_PID" -- healthcheck.sh --mariadbupgrade >/dev/null 2>&1 && ok "--mariadbupgrade passes on a fresh data dir" || bad "--mariadbupgrade failed"

# ---------------------------------------------------------------- adminer
say "adminer: default command (php -S [::]:8080 -t /var/www/html) as user adminer"
run_container web "$work/adminer" "$work/web.log" "" "$PATH_ENV" HOME=/var/www/html -- \
	sh -c 'cd /var/www/html && exec setpriv --reuid=adminer --regid=adminer --init-groups entrypoint.sh php -S [::]:8080 -t /var/www/html'
WEB_PID=$CONTAINER_PID
WEB_OUTER=$CONTAINER_OUTER
t0=$(now)
for i in $(seq 100); do
	in_net curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/ 2>/dev/null && break
	sleep 0.1
done
t_web=$(since "$t0")
page=$(in_net curl -fsS --max-time 5 http://127.0.0.1:8080/) || {
	bad "adminer does not answer on 127.0.0.1:8080; log:"
	sed 's/^/      /' "$work/web.log"
	exit 1
}
ok "adminer answers after ${t_web}s"
grep -q 'name="auth\[server\]" value="db"' <<<"$page" && ok "login form pre-fills server \"db\"" || bad "login form has no server default"
ver=$(grep -o "class=.version.>[0-9.]*" <<<"$page" | head -n1 | grep -o '[0-9.]*$') || true
[ -n "$ver" ] && ok "it is Adminer $ver" || bad "no Adminer version on the page"

jar=$work/cookies
login() { # login PASSWORD: POST the login form, follow the redirect, print the page
	in_net curl -sS --max-time 10 -L -c "$jar" -b "$jar" http://127.0.0.1:8080/ \
		--data-urlencode 'auth[driver]=server' --data-urlencode 'auth[server]=127.0.0.1' \
		--data-urlencode 'auth[username]=root' --data-urlencode "auth[password]=$1" --data-urlencode 'auth[db]='
}
rm -f "$jar"
page=$(login "$ROOT_PW")
if grep -q ">$DB<" <<<"$page"; then ok "login as root lists database $DB"; else
	bad "database $DB not on the page after login"
	printf '%s\n' "$page" | sed 's/<[^>]*>/ /g' | tr -s ' \n' | head -c 600
	echo
fi
# A SQL command through Adminer's form (the e2e test does the same).
url="http://127.0.0.1:8080/?server=127.0.0.1&username=root&db=$DB&sql="
form=$(in_net curl -sS --max-time 10 -c "$jar" -b "$jar" "$url")
token=$(grep -o 'name="token" value="[^"]*"' <<<"$form" | head -n1 | sed 's/.*value="\([^"]*\)"/\1/')
[ -n "$token" ] || bad "no CSRF token in the SQL form"
res=$(in_net curl -sS --max-time 10 -c "$jar" -b "$jar" "$url" --data-urlencode "token=$token" \
	--data-urlencode "query=INSERT INTO greetings (msg) VALUES ('from adminer');" --data-urlencode 'limit=')
grep -q 'Query executed OK, 1 row affected' <<<"$res" && ok "INSERT through Adminer's SQL form" || bad "SQL form: $(sed 's/<[^>]*>/ /g' <<<"$res" | tr -s ' \n' | head -c 400)"
rm -f "$jar"
page=$(login wrong-password)
grep -q 'Access denied' <<<"$page" && ok "wrong password shows \"Access denied\"" || bad "no Access denied for a wrong password"

say "adminer: stop (SIGTERM)"
t0=$(now)
stop_container "$WEB_PID" "$WEB_OUTER"
ok "adminer stopped ${t_stop_web:=$(since "$t0")}s after SIGTERM"

say "mariadb: stop (SIGTERM) and second start on the same data dir"
t0=$(now)
stop_container "$DB_PID" "$DB_OUTER"
t_stop_db=$(since "$t0")
grep -q 'Shutdown complete' "$work/db1.log" && ok "clean shutdown in ${t_stop_db}s" || bad "no clean shutdown in the log"

t0=$(now)
run_container db "$work/mariadb" "$work/db2.log" "$DB_MOUNTS" "${DB_ENV[@]}" -- docker-entrypoint.sh mariadbd
DB_PID=$CONTAINER_PID
DB_OUTER=$CONTAINER_OUTER
t_healthy2=
for i in $(seq 600); do
	kill -0 "$DB_OUTER" 2>/dev/null || break
	if healthy "$DB_PID"; then
		t_healthy2=$(since "$t0")
		break
	fi
	sleep 0.1
done
[ -n "$t_healthy2" ] && ok "healthy ${t_healthy2}s after the second start" || {
	bad "second start not healthy; log:"
	sed 's/^/      /' "$work/db2.log"
}
loaded=
for i in $(seq 100); do
	exec_in "$DB_PID" -- healthcheck.sh --connect --innodb_buffer_pool_loaded >/dev/null 2>&1 && loaded=1 && break
	sleep 0.1
done
[ -n "$loaded" ] && ok "--innodb_buffer_pool_loaded passes (the pool saved at the first stop was loaded)" ||
	bad "--innodb_buffer_pool_loaded never passed"
grep -q 'already initialized' "$work/db2.log" && ! grep -q 'Initializing database files' "$work/db2.log" &&
	ok "initialisation skipped" || bad "second start initialised again"
n=$(sql_root "SELECT COUNT(*) FROM $DB.greetings")
[ "$n" = 3 ] && ok "data kept (3 rows, one of them written through Adminer)" || bad "greetings has $n rows, want 3"
grep -c . "$work/datadir/initdb-marker" | grep -qx 1 && ok "initdb scripts not run again" || bad "initdb scripts ran again"
stop_container "$DB_PID" "$DB_OUTER"

say "mariadb: other ways to configure the first start"
mkdir -p "$work/datadir2"
run_container db "$work/mariadb" "$work/db3.log" "$work/datadir2:/var/lib/mysql" "$PATH_ENV" -- docker-entrypoint.sh mariadbd
DB_OUTER=$CONTAINER_OUTER
for i in $(seq 300); do kill -0 "$DB_OUTER" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DB_OUTER" 2>/dev/null; then
	bad "started without any root password option"
	kill -KILL "$CONTAINER_PID"
else
	grep -q 'password option is not specified' "$work/db3.log" && ok "refuses an empty data dir without a root password option" ||
		bad "no clear error without a root password option: $(tail -n 3 "$work/db3.log")"
fi
wait "$DB_OUTER" 2>/dev/null || true

mkdir -p "$work/secrets" "$work/datadir3"
printf 'filedb' >"$work/secrets/db"
printf 'filepw\n' >"$work/secrets/pw"
run_container db "$work/mariadb" "$work/db4.log" "$work/datadir3:/var/lib/mysql,$work/secrets:/run/secrets" \
	"$PATH_ENV" MARIADB_RANDOM_ROOT_PASSWORD=1 MARIADB_ROOT_HOST=localhost MARIADB_DATABASE_FILE=/run/secrets/db \
	MYSQL_USER=fileuser MYSQL_PASSWORD_FILE=/run/secrets/pw -- docker-entrypoint.sh mariadbd
DB_PID=$CONTAINER_PID
DB_OUTER=$CONTAINER_OUTER
up=
for i in $(seq 1200); do
	kill -0 "$DB_OUTER" 2>/dev/null || break
	exec_in "$DB_PID" -- healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1 && up=1 && break
	sleep 0.1
done
gen=$(sed -n 's/.*GENERATED ROOT PASSWORD: //p' "$work/db4.log")
if [ -z "$up" ] || [ -z "$gen" ]; then
	bad "random root password start: healthy=${up:-no}, generated password ${gen:-not printed}"
	sed 's/^/      /' "$work/db4.log" | tail -n 20
else
	ok "MARIADB_RANDOM_ROOT_PASSWORD: printed a generated password"
	users=$(exec_in "$DB_PID" -- mariadb -uroot -p"$gen" -N -B -e "SELECT CONCAT(user,'@',host) FROM mysql.user ORDER BY 1" 2>&1 | tr '\n' ' ')
	[[ " $users" == *" root@localhost "* ]] && ok "root logs in over the socket with it" || bad "root login with the generated password: $users"
	[[ " $users" != *" root@% "* ]] && ok "MARIADB_ROOT_HOST=localhost: no root@'%'" || bad "root@% exists with MARIADB_ROOT_HOST=localhost"
	cu=$(exec_in "$DB_PID" -- mariadb -ufileuser -pfilepw -h127.0.0.1 -N -B filedb -e 'SELECT CURRENT_USER()' 2>&1)
	[ "$cu" = "fileuser@%" ] && ok "MARIADB_DATABASE_FILE, MYSQL_USER, MYSQL_PASSWORD_FILE (trailing newline dropped)" || bad "_FILE variables: $cu"
fi
stop_container "$DB_PID" "$DB_OUTER"

say "summary"
printf '   unpack: mariadb %ss, adminer %ss\n' "$t_unpack_db" "$t_unpack_web"
printf '   mariadb first start: init done %ss, healthy %ss; second start healthy %ss; stop %ss\n' \
	"${t_init:-?}" "$t_healthy" "${t_healthy2:-?}" "$t_stop_db"
printf '   adminer: answering %ss, stop %ss\n' "$t_web" "$t_stop_web"
if [ "$failures" -gt 0 ]; then
	echo "selftest: $failures check(s) FAILED"
	exit 1
fi
echo "selftest: all checks passed"
