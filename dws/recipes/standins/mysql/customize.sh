#!/bin/sh
# Customize hook for the mysql stand-in (MariaDB; mmdebstrap passes the chroot
# as $1). Prepares what docker-entrypoint.sh expects: an empty datadir owned by
# mysql (the package's postinst initialised one; the entrypoint must find it
# empty to run the init phase), a socket directory, the init directory, and a
# server that listens on all interfaces like the official image's.
set -eu
root="$1"
rm -rf "$root"/var/lib/mysql
mkdir -p "$root"/var/lib/mysql "$root"/docker-entrypoint-initdb.d
chroot "$root" chown mysql:mysql /var/lib/mysql
# /run/mysqld (the socket) is created by the entrypoint: /run does not
# survive mmdebstrap's cleanup.
# Debian binds to 127.0.0.1 only and logs to a file; a container must listen
# on its network interface and log to stderr.
sed -i -e 's/^\s*\(bind-address\|log_error\|log-error\)\s*=/#&/' \
    "$root"/etc/mysql/mariadb.conf.d/50-server.cnf
install -m 0755 "$STANDIN_DIR/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
chroot "$root" dpkg-query -W -f='${Version}' mariadb-server \
    | sed -e 's/^[0-9]*://' -e 's/-.*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
