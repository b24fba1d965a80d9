#!/bin/sh
# Customize hook for the alertmanager stand-in (mmdebstrap passes the chroot
# as $1). The official prom/alertmanager image's layout that
# stack.monitoring.yml relies on: /bin/alertmanager (Debian names it
# prometheus-alertmanager), /etc/alertmanager, and /alertmanager for its
# state, owned by nobody, the image's user.
set -eu
root="$1"
ln -sf prometheus-alertmanager "$root"/usr/bin/alertmanager
mkdir -p "$root"/etc/alertmanager "$root"/alertmanager
chroot "$root" chown nobody:nogroup /alertmanager
rm -f "$root"/etc/prometheus/alertmanager.yml "$root"/etc/default/prometheus-alertmanager
chroot "$root" dpkg-query -W -f='${Version}' prometheus-alertmanager \
    | sed -e 's/^[0-9]*://' -e 's/[+-].*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
