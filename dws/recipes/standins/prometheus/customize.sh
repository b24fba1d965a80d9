#!/bin/sh
# Customize hook for the prometheus stand-in (mmdebstrap passes the chroot as
# $1). The official prom/prometheus image's layout that stack.monitoring.yml
# relies on: /bin/prometheus (Debian's is /usr/bin/prometheus, and /bin is
# /usr/bin), /bin/promtool, /etc/prometheus, and /prometheus for the
# database, owned by nobody, the image's user.
set -eu
root="$1"
mkdir -p "$root"/etc/prometheus "$root"/prometheus
chroot "$root" chown nobody:nogroup /prometheus
# Debian's example configuration is not the image's.
rm -f "$root"/etc/prometheus/prometheus.yml "$root"/etc/default/prometheus
chroot "$root" dpkg-query -W -f='${Version}' prometheus \
    | sed -e 's/^[0-9]*://' -e 's/[+-].*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
