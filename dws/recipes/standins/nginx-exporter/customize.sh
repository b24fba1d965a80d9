#!/bin/sh
# Customize hook for the nginx-exporter stand-in (mmdebstrap passes the
# chroot as $1). The official nginx/nginx-prometheus-exporter image's entry
# point is /usr/bin/nginx-prometheus-exporter; Debian names the binary
# prometheus-nginx-exporter.
set -eu
root="$1"
ln -sf prometheus-nginx-exporter "$root"/usr/bin/nginx-prometheus-exporter
chroot "$root" dpkg-query -W -f='${Version}' prometheus-nginx-exporter \
    | sed -e 's/^[0-9]*://' -e 's/[+-].*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
