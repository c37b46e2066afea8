#!/bin/bash
# Entrypoint of berth's mariadb look-alike image (Debian's mariadb-server).
#
# It follows the documented behaviour of the official image's entrypoint
# (written from its documentation, not from its code):
#   - MARIADB_* variables, with MYSQL_* as fallbacks, each also as *_FILE;
#   - on an empty data dir only: mariadb-install-db, then a temporary server
#     on the unix socket with networking off runs the setup SQL (root
#     password for root@localhost and root@MARIADB_ROOT_HOST, the database,
#     the user and its grants, healthcheck users for healthcheck.sh), then
#     /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz|xz|zst in order;
#   - then exec mariadbd as user mysql, listening on 0.0.0.0:3306.
set -Eeo pipefail
shopt -s nullglob

log() {
	local level=$1
	shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$level" "$*"
}
note() { log Note "$@"; }
warn() { log Warn "$@" >&2; }
die() {
	log ERROR "$@" >&2
	exit 1
}

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE
# (not both), else DEFAULT; exported, and VAR_FILE unset.
file_env() {
	local var=$1 fileVar="${1}_FILE" def=${2:-}
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		die "both $var and $fileVar are set (but are exclusive)"
	fi
	local val=$def
	if [ "${!var:-}" ]; then
		val=${!var}
	elif [ "${!fileVar:-}" ]; then
		[ -r "${!fileVar}" ] || die "$fileVar: cannot read ${!fileVar}"
		val=$(<"${!fileVar}")
	fi
	export "$var"="$val"
	unset "$fileVar"
}

# mariadb_env NAME [DEFAULT]: MARIADB_NAME, falling back to MYSQL_NAME.
mariadb_env() {
	file_env "MYSQL_$1" "${2:-}"
	local fallback="MYSQL_$1"
	file_env "MARIADB_$1" "${!fallback}"
}

# load_server_options ARGS...: the values the server would use with these
# arguments and the config files, for server_option.
load_server_options() {
	SERVER_OPTIONS=$("$@" --verbose --help 2>/dev/null) || die "cannot read the server's options ($* --verbose --help failed)"
}

# server_option NAME: NAME's value from load_server_options. The table of
# values follows a "----- -----" line; the help text above it mentions
# option names too.
server_option() {
	awk -v opt="$1" 'table && $1 == opt { sub(/^[^ \t]+[ \t]+/, ""); print; exit } /^-+ +-+$/ { table = 1 }' <<<"$SERVER_OPTIONS"
}

# random_password: 32 random letters and digits. (No reader that stops
# early: under pipefail a SIGPIPE'd writer would fail the script.)
random_password() {
	local r
	r=$(head -c 96 /dev/urandom | base64 -w0 | tr -dc '[:alnum:]')
	printf '%s' "${r:0:32}"
}

setup_env() {
	mariadb_env ROOT_PASSWORD
	mariadb_env ROOT_PASSWORD_HASH
	mariadb_env ROOT_HOST '%'
	mariadb_env ALLOW_EMPTY_ROOT_PASSWORD
	mariadb_env ALLOW_EMPTY_PASSWORD
	[ -n "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] || MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=$MARIADB_ALLOW_EMPTY_PASSWORD
	mariadb_env RANDOM_ROOT_PASSWORD
	mariadb_env DATABASE
	mariadb_env USER
	mariadb_env PASSWORD
	mariadb_env PASSWORD_HASH
	mariadb_env INITDB_SKIP_TZINFO
	mariadb_env HEALTHCHECK_GRANTS USAGE
}

# sql_string VALUE: VALUE as the body of a single-quoted SQL string.
sql_string() {
	local s=${1//\\/\\\\}
	printf '%s' "${s//\'/\\\'}"
}

# sql_ident VALUE: VALUE as the body of a backquoted SQL identifier.
sql_ident() {
	printf '%s' "${1//\`/\`\`}"
}

# client_password_file PASSWORD: an option file giving the client PASSWORD,
# so it never appears on a command line.
client_password_file() {
	local p=${1//\\/\\\\}
	printf '[client]\npassword="%s"\n' "${p//\"/\\\"}"
}

# sql [ARGS...]: run SQL from stdin on the temporary server as root.
sql() {
	mariadb --defaults-extra-file=<(client_password_file "${ROOT_PW_SET:-}") \
		--protocol=socket --socket="$SOCKET" -uroot -hlocalhost --comments "$@"
}

verify_minimum_env() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ROOT_PASSWORD_HASH" ] &&
		[ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
	fi
	if [ -n "$MARIADB_USER" ] && [ -z "$MARIADB_PASSWORD" ] && [ -z "$MARIADB_PASSWORD_HASH" ]; then
		die "MARIADB_USER is set but neither MARIADB_PASSWORD nor MARIADB_PASSWORD_HASH is"
	fi
	case "$MARIADB_USER" in
	root) die "MARIADB_USER=root: the root user is already created; use MARIADB_ROOT_PASSWORD for its password" ;;
	esac
}

init_database_dir() {
	note "Initializing database files in $DATADIR"
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve --default-time-zone=SYSTEM --enforce-storage-engine= \
		--skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 \
		"${@:2}" >/dev/null || die "mariadb-install-db failed"
	note "Database files initialized"
}

temp_server_start() {
	note "Starting temporary server"
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
		--skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 &
	TEMP_PID=$!
	local i
	for i in $(seq 300); do
		if ! kill -0 "$TEMP_PID" 2>/dev/null; then
			wait "$TEMP_PID" || true
			die "temporary server exited before it accepted connections"
		fi
		if echo 'SELECT 1' | sql --database=mysql >/dev/null 2>&1; then
			note "Temporary server started"
			return
		fi
		sleep 0.1
	done
	die "temporary server did not accept connections within 30 s"
}

temp_server_stop() {
	note "Stopping temporary server"
	kill "$TEMP_PID"
	wait "$TEMP_PID" || die "temporary server did not stop cleanly"
	note "Temporary server stopped"
}

setup_db() {
	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ] && [ -d /usr/share/zoneinfo ]; then
		# Leap-second zones and the "posix"/"right" copies are skipped
		# as the official image does.
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null | sql --database=mysql
	fi

	local rootPw=$MARIADB_ROOT_PASSWORD
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ] && [ -z "$rootPw" ] && [ -z "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		rootPw=$(random_password)
		note "GENERATED ROOT PASSWORD: $rootPw"
	fi
	local rootAuth="BY '$(sql_string "$rootPw")'"
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		rootAuth="BY PASSWORD '$(sql_string "$MARIADB_ROOT_PASSWORD_HASH")'"
	fi

	local rootHost=""
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		local h
		h=$(sql_string "$MARIADB_ROOT_HOST")
		rootHost="CREATE USER 'root'@'$h' IDENTIFIED $rootAuth;
GRANT ALL ON *.* TO 'root'@'$h' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'$h' WITH GRANT OPTION;"
	fi

	local hcPw
	hcPw=$(random_password)
	local hc="CREATE USER healthcheck@'127.0.0.1' IDENTIFIED BY '$hcPw', healthcheck@'::1' IDENTIFIED BY '$hcPw', healthcheck@localhost IDENTIFIED BY '$hcPw';
GRANT $MARIADB_HEALTHCHECK_GRANTS ON *.* TO healthcheck@'127.0.0.1', healthcheck@'::1', healthcheck@localhost;"

	local db=""
	if [ -n "$MARIADB_DATABASE" ]; then
		note "Creating database $MARIADB_DATABASE"
		db="CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$MARIADB_DATABASE")\`;"
	fi

	local user=""
	if [ -n "$MARIADB_USER" ]; then
		note "Creating user $MARIADB_USER"
		local u auth
		u=$(sql_string "$MARIADB_USER")
		auth="BY '$(sql_string "$MARIADB_PASSWORD")'"
		[ -z "$MARIADB_PASSWORD_HASH" ] || auth="BY PASSWORD '$(sql_string "$MARIADB_PASSWORD_HASH")'"
		user="CREATE USER '$u'@'%' IDENTIFIED $auth;"
		if [ -n "$MARIADB_DATABASE" ]; then
			note "Giving user $MARIADB_USER access to schema $MARIADB_DATABASE"
			user+=" GRANT ALL ON \`$(sql_ident "$MARIADB_DATABASE")\`.* TO '$u'@'%';"
		fi
	fi

	note "Securing system users (equivalent to running mysql_secure_installation)"
	sql --database=mysql --binary-mode <<-EOSQL
		SET @@SESSION.SQL_LOG_BIN=0;
		SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
		DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
		EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
		ALTER USER 'root'@'localhost' IDENTIFIED $rootAuth;
		$rootHost
		$hc
		$db
		$user
	EOSQL
	ROOT_PW_SET=$rootPw

	local port
	port=$(server_option port)
	(
		umask 077
		printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
			"${port:-3306}" "$SOCKET" "$hcPw" >"$DATADIR/.my-healthcheck.cnf"
	)
}

process_init_files() {
	local f
	for f in "$@"; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				note "$0: running $f"
				"$f"
			else
				note "$0: sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			note "$0: running $f"
			sql ${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"} <"$f"
			;;
		*.sql.gz)
			note "$0: running $f"
			gunzip -c "$f" | sql ${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"}
			;;
		*.sql.xz)
			note "$0: running $f"
			xzcat "$f" | sql ${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"}
			;;
		*.sql.zst)
			note "$0: running $f"
			zstd -dc "$f" | sql ${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"}
			;;
		*) warn "$0: ignoring $f" ;;
		esac
	done
}

# wants_help ARGS...: the server is asked for help or its version, not run.
wants_help() {
	local a
	for a; do
		case "$a" in
		-'?' | --help | --print-defaults | -V | --version) return 0 ;;
		esac
	done
	return 1
}

main() {
	# "docker run mariadb --some-option" means options for mariadbd.
	if [ "${1:0:1}" = '-' ]; then
		set -- mariadbd "$@"
	fi
	case "$1" in
	mariadbd | mysqld) ;;
	*) exec "$@" ;;
	esac
	if wants_help "${@:2}"; then
		exec "$@"
	fi

	note "Entrypoint script for MariaDB Server $(mariadbd --version | awk '{print $3}') started."
	load_server_options "$@"
	DATADIR=$(server_option datadir)
	DATADIR=${DATADIR%/}
	SOCKET=$(server_option socket)
	[ -n "$DATADIR" ] || die "cannot find the server's datadir (mariadbd --verbose --help failed?)"

	if [ "$(id -u)" = 0 ]; then
		# As root: own the data dir and the socket dir, then run again as mysql.
		mkdir -p "$DATADIR" "${SOCKET%/*}"
		find "$DATADIR" "${SOCKET%/*}" \! -user mysql -exec chown mysql: '{}' +
		chmod 1777 "${SOCKET%/*}"
		note "Switching to dedicated user 'mysql'"
		exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
	fi

	setup_env
	if [ -d "$DATADIR/mysql" ]; then
		note "Database already initialized in $DATADIR; skipping initialization"
	else
		verify_minimum_env
		init_database_dir "$@"
		temp_server_start "$@"
		setup_db "$@"
		process_init_files /docker-entrypoint-initdb.d/*
		temp_server_stop
		note "MariaDB init process done. Ready for start up."
	fi
	exec "$@"
}

main "$@"
