#!/bin/bash
# Entrypoint of the mysql stand-in: Debian's MariaDB behind the contract of
# the official mariadb image's docker-entrypoint.sh (MariaDB/mariadb-docker,
# 10.11), i.e. the part services/mysql/Dockerfile and its dws-db start script
# rely on:
#
#   * MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or
#     MARIADB_RANDOM_ROOT_PASSWORD (one of them on first start),
#     MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER +
#     MARIADB_PASSWORD; each also under its MYSQL_ name (MARIADB_ wins), and
#     each also as VAR_FILE, read from a file such as a Docker secret;
#   * the data directory and socket are the server's own settings (its
#     config files and the command's options), read with
#     `mariadbd --verbose --help`;
#   * the temporary server runs with --wsrep_on=OFF, so the init phase of a
#     Galera node replicates nothing;
#   * on an empty datadir only: a temporary server with networking off, root
#     password, database and user set up, then /docker-entrypoint-initdb.d/*
#     in name order: *.sh executed when executable, sourced otherwise (with
#     docker_process_sql, file_env, mysql_note/_warn/_error available), *.sql
#     and *.sql.gz|.xz|.zst fed to the client in MYSQL_DATABASE if set;
#   * then the real server, as the mysql user, exec'ed with the CMD's
#     arguments; a first argument starting with "-" means `mysqld <options>`.
#
# Not implemented (nothing here relies on them): time zone tables, the
# *_PASSWORD_HASH variables, replication, healthcheck.sh itself (the image
# has its own check, dws-db health; the healthcheck accounts and
# .my-healthcheck.cnf the official init creates are here), the upgrade
# step (MARIADB_AUTO_UPGRADE), initialising from a backup tarball.
set -Eeuo pipefail

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

# mariadb_file_env MYSQL_X [DEFAULT]: MYSQL_X and MARIADB_X (or their _FILE)
# set both, MARIADB_X winning, as the official image does.
mariadb_file_env() {
	local name=$1 maria="MARIADB_${1#MYSQL_}"
	file_env "$name" "${2:-}"
	file_env "$maria" "${!name}"
	if [ -n "${!maria}" ]; then
		export "$name"="${!maria}"
	fi
}

# The server's effective value of an option (config files and arguments).
server_config() {
	local name=$1
	shift
	"$@" --verbose --help 2>/dev/null |
		awk -v name="$name" '$1 == name && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
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
	"$@" --skip-networking --socket="$SOCKET" --wsrep_on=OFF &
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
	local root_pw health_pw
	root_pw=$(sql_escape "$MYSQL_ROOT_PASSWORD")
	health_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
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
		# The official image's healthcheck accounts: USAGE only, a random
		# password, kept in $DATADIR/.my-healthcheck.cnf for healthcheck.sh.
		local host
		for host in 127.0.0.1 ::1 localhost; do
			echo "CREATE USER IF NOT EXISTS healthcheck@'$host' IDENTIFIED BY '$health_pw';"
			echo "GRANT USAGE ON *.* TO healthcheck@'$host';"
		done
		echo "FLUSH PRIVILEGES;"
	} | MYSQL_DATABASE= docker_process_sql --dont-use-mysql-root-password
	(
		umask 0077
		printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
			"$(server_config port "${SERVER[@]}")" "$SOCKET" "$health_pw" >"$DATADIR/.my-healthcheck.cnf"
	)
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
	mariadb_file_env MYSQL_ROOT_HOST %
	mariadb_file_env MYSQL_DATABASE
	mariadb_file_env MYSQL_USER
	mariadb_file_env MYSQL_PASSWORD
	mariadb_file_env MYSQL_ROOT_PASSWORD
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
	: "${MARIADB_RANDOM_ROOT_PASSWORD:=${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
	export MYSQL_ALLOW_EMPTY_PASSWORD=$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
	export MYSQL_RANDOM_ROOT_PASSWORD=$MARIADB_RANDOM_ROOT_PASSWORD
	if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] \
		&& [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
		mysql_error "database is uninitialized and password option is not specified:" \
			"set MARIADB_ROOT_PASSWORD(_FILE), MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD (or their MYSQL_ names)"
	fi
	if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ] && [ -z "$MYSQL_ROOT_PASSWORD" ]; then
		MYSQL_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
		export MYSQL_ROOT_PASSWORD MARIADB_ROOT_PASSWORD=$MYSQL_ROOT_PASSWORD
		mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi

	mysql_note "initializing database files in $DATADIR"
	# Other options are the server's, as the official entrypoint passes them.
	mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
		--skip-test-db "${@:2}" >/dev/null
	mysql_note "starting temporary server"
	start_temp_server "$@"
	setup_accounts
	run_init_files
	mysql_note "stopping temporary server"
	stop_temp_server
	mysql_note "init process done; ready for start up"
}

if [ "${1:0:1}" = - ]; then
	set -- mariadbd "$@"
fi

if [ "$1" = mysqld ] || [ "$1" = mariadbd ]; then
	SERVER=("$@")
	DATADIR=$(server_config datadir "$@")
	DATADIR=${DATADIR%/}
	SOCKET=$(server_config socket "$@")
	if [ "$(id -u)" = 0 ]; then
		# A fresh volume or bind mount may belong to root; the server runs as
		# mysql. /run is empty in an imported image.
		mkdir -p "$DATADIR" "${SOCKET%/*}"
		find "$DATADIR" "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql:mysql '{}' +
		find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
		exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
	fi
	if [ ! -d "$DATADIR/mysql" ]; then
		init_datadir "$@"
	fi
	# The server needs none of the passwords; keep them out of its environment.
	unset MYSQL_ROOT_PASSWORD MARIADB_ROOT_PASSWORD MYSQL_PASSWORD MARIADB_PASSWORD \
		MYSQL_ROOT_PASSWORD_FILE MARIADB_ROOT_PASSWORD_FILE MYSQL_PASSWORD_FILE MARIADB_PASSWORD_FILE
fi
exec "$@"
