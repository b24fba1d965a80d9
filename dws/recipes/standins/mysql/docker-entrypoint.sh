#!/bin/bash
# Entrypoint of the mysql stand-in: Debian's MariaDB behind the documented
# contract of the official mysql image (Docker Hub "mysql", sections
# "Environment Variables", "Docker Secrets" and "Initializing a fresh
# instance"), i.e. the part services/mysql/Dockerfile relies on:
#
#   * MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD or
#     MYSQL_RANDOM_ROOT_PASSWORD (one of them on first start), MYSQL_ROOT_HOST
#     (default %), MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD; each also as
#     VAR_FILE, read from a file such as a Docker secret;
#   * on an empty datadir only: a temporary server with networking off, root
#     password, database and user set up, then /docker-entrypoint-initdb.d/*
#     in name order: *.sh executed when executable, sourced otherwise (with
#     docker_process_sql, file_env, mysql_note/_warn/_error available), *.sql
#     and *.sql.gz|.xz|.zst fed to the client in MYSQL_DATABASE if set;
#   * then the real server, as the mysql user, exec'ed with the CMD's
#     arguments; a first argument starting with "-" means `mysqld <options>`.
#
# Not implemented (nothing here relies on them): time zone tables,
# MYSQL_ONETIME_PASSWORD, MYSQL_INITDB_SKIP_TZINFO.
set -Eeuo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

mysql_log() {
	local level=$1
	shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}
mysql_note() { mysql_log Note "$@"; }
mysql_warn() { mysql_log Warn "$@" >&2; }
mysql_error() {
	mysql_log ERROR "$@" >&2
	exit 1
}

# file_env VAR [DEFAULT]: export VAR from $VAR or from the file named by
# $VAR_FILE (never both), so that secrets can come from Docker secrets.
file_env() {
	local name=$1 default=${2:-}
	local file_name="${name}_FILE"
	local value=${!name:-} path=${!file_name:-}
	if [ -n "$value" ] && [ -n "$path" ]; then
		mysql_error "both $name and $file_name are set; use only one"
	fi
	if [ -n "$path" ]; then
		[ -r "$path" ] || mysql_error "$file_name: cannot read $path"
		value=$(<"$path")
	fi
	export "$name"="${value:-$default}"
	unset "$file_name"
}

# SQL string literal content: backslash and quote escaped.
sql_escape() {
	local s=${1//\\/\\\\}
	printf '%s' "${s//\'/\\\'}"
}

# docker_process_sql [--dont-use-mysql-root-password] [client options...]:
# run the SQL on stdin against the temporary server, in MYSQL_DATABASE if set.
docker_process_sql() {
	local password=${MYSQL_ROOT_PASSWORD:-}
	if [ "${1:-}" = --dont-use-mysql-root-password ]; then
		password=
		shift
	fi
	local args=(--protocol=socket --socket="$SOCKET" -uroot --comments --default-character-set=utf8mb4)
	if [ -n "${MYSQL_DATABASE:-}" ]; then
		args+=(--database="$MYSQL_DATABASE")
	fi
	MYSQL_PWD=$password mariadb "${args[@]}" "$@"
}

start_temp_server() {
	# --skip-networking: nothing outside the container (or a TCP healthcheck)
	# can reach the server before it is initialised.
	"$@" --skip-networking --socket="$SOCKET" &
	TEMP_PID=$!
	local i
	for i in $(seq 60); do
		if MYSQL_PWD= mariadb-admin --protocol=socket --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TEMP_PID" 2>/dev/null || mysql_error "temporary server exited during start"
		sleep 1
	done
	mysql_error "temporary server did not start within 60 s"
}

stop_temp_server() {
	MYSQL_PWD=${MYSQL_ROOT_PASSWORD:-} mariadb-admin --protocol=socket --socket="$SOCKET" -uroot shutdown
	wait "$TEMP_PID"
}

setup_accounts() {
	local root_pw
	root_pw=$(sql_escape "$MYSQL_ROOT_PASSWORD")
	{
		# mariadb-install-db leaves extra root and anonymous accounts; the
		# official image keeps only root@localhost (and root@MYSQL_ROOT_HOST).
		MYSQL_PWD= mariadb --protocol=socket --socket="$SOCKET" -uroot -N -B -e \
			"SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';') FROM mysql.user
			 WHERE NOT (User IN ('root', 'mariadb.sys') AND Host = 'localhost')"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
		if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != localhost ]; then
			echo "CREATE USER 'root'@'$(sql_escape "$MYSQL_ROOT_HOST")' IDENTIFIED BY '$root_pw';"
			echo "GRANT ALL ON *.* TO 'root'@'$(sql_escape "$MYSQL_ROOT_HOST")' WITH GRANT OPTION;"
		fi
		if [ -n "$MYSQL_DATABASE" ]; then
			echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
		fi
		if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
			echo "CREATE USER '$(sql_escape "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
			if [ -n "$MYSQL_DATABASE" ]; then
				echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$(sql_escape "$MYSQL_USER")'@'%';"
			fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | MYSQL_DATABASE= docker_process_sql --dont-use-mysql-root-password
}

run_init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				mysql_note "running $f"
				"$f"
			else
				mysql_note "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			mysql_note "running $f"
			docker_process_sql <"$f"
			;;
		*.sql.gz)
			mysql_note "running $f"
			gunzip -c "$f" | docker_process_sql
			;;
		*.sql.xz)
			mysql_note "running $f"
			xz -dc "$f" | docker_process_sql
			;;
		*.sql.zst)
			mysql_note "running $f"
			zstd -dc "$f" | docker_process_sql
			;;
		*) mysql_warn "ignoring $f" ;;
		esac
	done
}

init_datadir() {
	file_env MYSQL_ROOT_HOST %
	file_env MYSQL_DATABASE
	file_env MYSQL_USER
	file_env MYSQL_PASSWORD
	file_env MYSQL_ROOT_PASSWORD
	file_env MYSQL_ALLOW_EMPTY_PASSWORD
	file_env MYSQL_RANDOM_ROOT_PASSWORD
	if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] \
		&& [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
		mysql_error "database is uninitialized and password option is not specified:" \
			"set MYSQL_ROOT_PASSWORD(_FILE), MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD"
	fi
	if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ] && [ -z "$MYSQL_ROOT_PASSWORD" ]; then
		MYSQL_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
		export MYSQL_ROOT_PASSWORD
		mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi

	mysql_note "initializing database files in $DATADIR"
	mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
		--skip-test-db >/dev/null
	mysql_note "starting temporary server"
	start_temp_server "$@"
	setup_accounts
	run_init_files
	mysql_note "stopping temporary server"
	stop_temp_server
	mysql_note "init process done; ready for start up"
}

if [ "${1:0:1}" = - ]; then
	set -- mysqld "$@"
fi

if [ "$1" = mysqld ] || [ "$1" = mariadbd ]; then
	if [ "$(id -u)" = 0 ]; then
		# A fresh volume or bind mount may belong to root; the server runs as
		# mysql. /run is empty in an imported image.
		mkdir -p "$DATADIR" /run/mysqld
		find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
		exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
	fi
	if [ ! -d "$DATADIR/mysql" ]; then
		init_datadir "$@"
	fi
fi
exec "$@"
