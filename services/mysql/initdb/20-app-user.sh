#!/bin/bash
# Init script (first start only): the application's own account, with
# SELECT, INSERT, UPDATE and DELETE on MYSQL_DATABASE only: no DDL, no other
# database, no GRANT; and the healthcheck's account, with no privileges. Runs after 10-citydb.sql, against the init phase's
# temporary server (socket only), as root.
#
#   MYSQL_APP_USER           account name (default dws)
#   MYSQL_APP_PASSWORD_FILE  file holding its password (a Docker secret);
#                            a trailing newline is ignored
#   MYSQL_DATABASE           database to grant on (default citydb)
#   MYSQL_MIGRATE_USER       the schema migrations' account (default dws_migrate)
#   MYSQL_MIGRATE_PASSWORD_FILE  its password (a Docker secret); without it no
#                            migration account is created
set -euo pipefail

fail() {
	echo "20-app-user.sh: $*" >&2
	exit 1
}

user=${MYSQL_APP_USER:-dws}
database=${MYSQL_DATABASE:-citydb}
password_file=${MYSQL_APP_PASSWORD_FILE:-}

# Names go into SQL unquoted by the client, so only allow plain identifiers.
[[ $user =~ ^[A-Za-z0-9_]{1,32}$ ]] || fail "MYSQL_APP_USER must be 1-32 letters, digits or _"
[[ $database =~ ^[A-Za-z0-9_]{1,64}$ ]] || fail "MYSQL_DATABASE must be letters, digits or _"
# Only from a file: an environment variable would show in `docker inspect`.
[ -n "$password_file" ] || fail "MYSQL_APP_PASSWORD_FILE is not set (the application account's password file)"
[ -r "$password_file" ] || fail "MYSQL_APP_PASSWORD_FILE: cannot read $password_file"
password=$(<"$password_file") # $(...) drops trailing newlines
password=${password%$'\r'}
[ -n "$password" ] || fail "MYSQL_APP_PASSWORD_FILE: $password_file is empty"

# SQL string literal: escape backslashes, then quotes.
sql_literal() {
	local value=${1//\\/\\\\}
	printf '%s' "${value//\'/\\\'}"
}
literal=$(sql_literal "$password")

# The account `python -m bootservice.migrate` (the stack's one-shot migrate
# task) uses: it may change the schema of this database and nothing else.
migrate_user=${MYSQL_MIGRATE_USER:-dws_migrate}
migrate_sql=""
if [ -n "${MYSQL_MIGRATE_PASSWORD_FILE:-}" ]; then
	[[ $migrate_user =~ ^[A-Za-z0-9_]{1,32}$ ]] || fail "MYSQL_MIGRATE_USER must be 1-32 letters, digits or _"
	[ -r "$MYSQL_MIGRATE_PASSWORD_FILE" ] || fail "MYSQL_MIGRATE_PASSWORD_FILE: cannot read $MYSQL_MIGRATE_PASSWORD_FILE"
	migrate_password=$(<"$MYSQL_MIGRATE_PASSWORD_FILE")
	migrate_password=${migrate_password%$'\r'}
	[ -n "$migrate_password" ] || fail "MYSQL_MIGRATE_PASSWORD_FILE: $MYSQL_MIGRATE_PASSWORD_FILE is empty"
	migrate_sql="CREATE USER IF NOT EXISTS '$migrate_user'@'%' IDENTIFIED BY '$(sql_literal "$migrate_password")';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON \`$database\`.* TO '$migrate_user'@'%';"
fi
# Option-file value for the root password: keeps it off the command line.
root_option=${MYSQL_ROOT_PASSWORD:-}
root_option=${root_option//\\/\\\\}
root_option=${root_option//\"/\\\"}

# --defaults-extra-file must come first; the client's default socket is the
# temporary server's (the official image and Debian's MariaDB agree on it).
mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$root_option") \
	--protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$literal';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`$database\`.* TO '$user'@'%';
-- The HEALTHCHECK's account: no privileges at all (USAGE), and reachable only
-- over TCP from inside the container (127.0.0.1; names are not resolved), so
-- it needs no password. Without it each ping would log "access denied".
CREATE USER IF NOT EXISTS 'healthcheck'@'127.0.0.1' IDENTIFIED BY '';
-- The official image created it already, with a password only this node's
-- .my-healthcheck.cnf knows; nodes that join a cluster get the account but
-- not that file.
ALTER USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '';
$migrate_sql
FLUSH PRIVILEGES;
SQL
echo "20-app-user.sh: account '$user'@'%' may SELECT, INSERT, UPDATE, DELETE on $database.*"
if [ -n "$migrate_sql" ]; then
	echo "20-app-user.sh: account '$migrate_user'@'%' may also change the schema of $database.*"
fi
