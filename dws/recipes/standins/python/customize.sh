#!/bin/sh
# Customize hook for the python stand-in (mmdebstrap passes the chroot as $1).
# The official slim image has `python` and `python3` on PATH and a working
# venv module; python-is-python3 and python3-venv give the same.
set -eu
root="$1"
chroot "$root" python3 -c 'import platform; print(platform.python_version())' >"$STANDIN_VERSION_FILE"
# The official image has no apt lists either; they are only dead weight.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
