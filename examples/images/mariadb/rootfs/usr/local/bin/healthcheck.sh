#!/bin/bash
# healthcheck.sh of berth's mariadb look-alike image, written from the
# official image's documentation ("Using Healthcheck.sh"):
#
#   healthcheck.sh [OPTION|TEST]...
#
# Options and tests are processed in order; options apply to the tests after
# them. The first failing test ends the run with a non-zero exit status.
#
# Options:
#   --su=USER, --su-mysql      run the rest as USER (mysql); earlier options are dropped
#   --datadir=DIR              where .my-healthcheck.cnf is (default /var/lib/mysql)
#   --no-defaults, --defaults-file=F, --defaults-extra-file=F, --defaults-group-suffix=S
#                              passed to the mariadb client
#   --replication_io, --replication_sql, --replication_all, --replication_name=N,
#   --replication_seconds_behind_master=S, --replication_sql_remaining_delay=S
#                              what --replication checks
#   --verbose                  print what is checked
# Tests:
#   --connect                  the server accepts TCP connections (authentication
#                              failures still count as connected)
#   --innodb_initialized       InnoDB finished starting, including crash recovery (USAGE)
#   --innodb_buffer_pool_loaded  the saved buffer pool has been loaded (USAGE)
#   --galera_online, --galera_ready   wsrep_local_state / wsrep_ready
#   --replication              replica threads/lag as set by the replication_* options
#   --mariadbupgrade           mariadb-upgrade has been run for this server version
#
# The SQL user is the client's default unless an option file says otherwise.
# If DATADIR/.my-healthcheck.cnf exists (the entrypoint writes it with the
# healthcheck user's random password) and no --defaults-* option was given,
# it is used as --defaults-extra-file. Without it, MARIADB_ROOT_PASSWORD (or
# MYSQL_ROOT_PASSWORD) from the environment is used for root, if set.
set -eo pipefail

datadir=/var/lib/mysql
nodefaults=()
defaults_given=
verbose=
repl_io=
repl_sql=
repl_all=
repl_name=
repl_behind=
repl_delay=

say() { [ -z "$verbose" ] || echo "healthcheck: $*" >&2; }
fail() {
	echo "healthcheck: $*" >&2
	exit 1
}

# client ARGS...: the mariadb client with the chosen option files.
client() {
	local extra=()
	if [ -z "$defaults_given" ]; then
		if [ -r "$datadir/.my-healthcheck.cnf" ]; then
			extra=(--defaults-extra-file="$datadir/.my-healthcheck.cnf")
		elif [ -n "${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}" ]; then
			local p=${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}
			p=${p//\\/\\\\}
			extra=(--defaults-extra-file=<(printf '[client]\nuser=root\npassword="%s"\n' "${p//\"/\\\"}"))
		fi
	fi
	mariadb "${nodefaults[@]}" "${extra[@]}" "$@"
}

# query SQL: print the result of SQL.
query() {
	client --skip-column-names --batch -e "$1"
}

# status_var NAME: a global status variable's value.
status_var() {
	query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='$1'"
}

test_connect() {
	local out
	if out=$(client --protocol=tcp -e 'SELECT 1' 2>&1); then
		return 0
	fi
	# Server errors (1xxx, e.g. 1045 Access denied) mean the TCP connection
	# worked; client errors (2xxx: can't connect, lost connection) do not.
	if [[ $out =~ ERROR\ 1[0-9]{3} ]]; then
		say "connected, but: $out"
		return 0
	fi
	fail "connect: $out"
}

test_innodb_initialized() {
	local r
	r=$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES','DEFAULT','ENABLED')") ||
		fail "innodb_initialized: query failed"
	[ "$r" = 1 ] || fail "innodb_initialized: InnoDB is not ready"
}

test_innodb_buffer_pool_loaded() {
	local r
	r=$(status_var Innodb_buffer_pool_load_status) || fail "innodb_buffer_pool_loaded: query failed"
	[[ $r == "Buffer pool(s) load completed at"* ]] || fail "innodb_buffer_pool_loaded: $r"
}

test_galera_online() {
	local r
	r=$(status_var wsrep_local_state) || fail "galera_online: query failed"
	# 1 joining, 2 donor/desynced, 3 joined, 4 synced
	[[ $r =~ ^[1-4]$ ]] || fail "galera_online: wsrep_local_state=${r:-none}"
}

test_galera_ready() {
	local r
	r=$(status_var wsrep_ready) || fail "galera_ready: query failed"
	[ "$r" = ON ] || fail "galera_ready: wsrep_ready=${r:-none}"
}

test_replication() {
	local sql="SHOW REPLICA STATUS"
	if [ -n "$repl_all" ]; then
		sql="SHOW ALL REPLICAS STATUS"
	elif [ -n "$repl_name" ]; then
		sql="SHOW REPLICA '${repl_name//\'/\\\'}' STATUS"
	fi
	local out
	out=$(client --vertical -e "$sql") || fail "replication: query failed"
	[ -n "$out" ] || fail "replication: not a replica"
	field() { awk -v f="$1" -F': ' '{ gsub(/^ +/, "", $1) } $1 == f { print $2 }' <<<"$out"; }
	local v
	if [ -n "$repl_io" ]; then
		for v in $(field Slave_IO_Running); do [ "$v" = Yes ] || fail "replication: IO thread not running"; done
	fi
	if [ -n "$repl_sql" ]; then
		for v in $(field Slave_SQL_Running); do [ "$v" = Yes ] || fail "replication: SQL thread not running"; done
	fi
	if [ -n "$repl_behind" ]; then
		for v in $(field Seconds_Behind_Master); do
			[[ $v =~ ^[0-9]+$ ]] && [ "$v" -le "$repl_behind" ] || fail "replication: $v seconds behind"
		done
	fi
	if [ -n "$repl_delay" ]; then
		for v in $(field SQL_Remaining_Delay); do
			[ "$v" = NULL ] || [ "$v" -le "$repl_delay" ] || fail "replication: remaining delay $v"
		done
	fi
}

test_mariadbupgrade() {
	local f have want
	for f in "$datadir/mariadb_upgrade_info" "$datadir/mysql_upgrade_info"; do
		[ -r "$f" ] && have=$(<"$f") && break
	done
	want=$(mariadbd --version | awk '{print $3}')
	have=${have%%-*}
	want=${want%%-*}
	[ -n "$have" ] && [ "$have" = "$want" ] || fail "mariadbupgrade: data dir is at ${have:-unknown}, server is $want"
}

[ $# -gt 0 ] || fail "no test given (try --connect --innodb_initialized)"
while [ $# -gt 0 ]; do
	arg=$1
	shift
	case "$arg" in
	--su-mysql | --su=*)
		user=mysql
		[ "$arg" = --su-mysql ] || user=${arg#--su=}
		if [ "$(id -un)" != "$user" ]; then
			exec setpriv --reuid="$user" --regid="$user" --init-groups "${BASH_SOURCE[0]}" "$@"
		fi
		;;
	--datadir=*) datadir=${arg#--datadir=} ;;
	--no-defaults | --defaults-file=* | --defaults-extra-file=* | --defaults-group-suffix=*)
		nodefaults+=("$arg")
		defaults_given=1
		;;
	--verbose) verbose=1 ;;
	--replication_io) repl_io=1 ;;
	--replication_sql) repl_sql=1 ;;
	--replication_all) repl_all=1 ;;
	--replication_name=*) repl_name=${arg#*=} ;;
	--replication_seconds_behind_master=*) repl_behind=${arg#*=} ;;
	--replication_sql_remaining_delay=*) repl_delay=${arg#*=} ;;
	--connect | --innodb_initialized | --innodb_buffer_pool_loaded | --galera_online | --galera_ready | --replication | --mariadbupgrade)
		t=${arg#--}
		say "$t"
		"test_$t"
		;;
	*) fail "unknown option or test $arg" ;;
	esac
done
exit 0
