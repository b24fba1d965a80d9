#!/bin/sh
# Customize hook for the mysqld-exporter stand-in (mmdebstrap passes the
# chroot as $1). The official prom/mysqld-exporter image's entry point is
# /bin/mysqld_exporter; Debian names the binary prometheus-mysqld-exporter.
set -eu
root="$1"
ln -sf prometheus-mysqld-exporter "$root"/usr/bin/mysqld_exporter
chroot "$root" dpkg-query -W -f='${Version}' prometheus-mysqld-exporter \
    | sed -e 's/^[0-9]*://' -e 's/[+-].*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
