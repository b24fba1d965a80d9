#!/bin/sh
# Customize hook for the nginx stand-in (mmdebstrap passes the chroot as $1).
# Reproduces the layout of the official nginx image that our image relies on:
# /etc/nginx/nginx.conf including /etc/nginx/conf.d/*.conf, an `nginx` user
# (uid/gid 101 as in the official image), /var/cache/nginx, logs that are
# symlinks to the container's stdout/stderr, no Debian sites-enabled.
set -eu
root="$1"
chroot "$root" groupadd --system --gid 101 nginx
chroot "$root" useradd --system --uid 101 --gid nginx --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin nginx
rm -rf "$root"/etc/nginx/sites-enabled "$root"/etc/nginx/sites-available \
    "$root"/etc/nginx/modules-enabled "$root"/var/www/html
mkdir -p "$root"/etc/nginx/conf.d "$root"/var/cache/nginx "$root"/usr/share/nginx/html
cp "$STANDIN_DIR/nginx.conf" "$root/etc/nginx/nginx.conf"
cp "$STANDIN_DIR/default.conf" "$root/etc/nginx/conf.d/default.conf"
printf '<!doctype html><title>nginx stand-in</title><p>nginx stand-in\n' \
    >"$root/usr/share/nginx/html/index.html"
chroot "$root" chown nginx:nginx /var/cache/nginx
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"
chroot "$root" dpkg-query -W -f='${Version}' nginx | sed 's/-.*//' >"$STANDIN_VERSION_FILE"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
