#!/usr/bin/env bash
# Installs what the test tiers need on a Debian 12 machine and starts the
# Docker engine if none runs. Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    mariadb-server mariadb-client   # integration: a real MariaDB
    nginx wrk                       # integration and benchmark
    chromium chromium-driver        # browser tier
    fonts-wqy-zenhei                # CJK glyphs, so the browser tier's screenshots are readable
    docker.io docker-registry mmdebstrap iptables iproute2  # docker and e2e tiers
    prometheus prometheus-alertmanager  # unit: promtool and amtool check the monitoring files
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd"
    nohup dockerd >/var/log/dws-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start, see /var/log/dws-dockerd.log" >&2; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[dev]"
echo "setup: ready"
