#!/usr/bin/env bash
# Install the mock BlueZ rig: a private dbus-daemon and python-dbusmock for Debian's python3.
#
# python-dbusmock needs dbus-python and GLib, which do not build inside a plain venv, so it runs
# under /usr/bin/python3 from its own directory. The tests find that directory through
# MICROPOP_DBUSMOCK_DIR, which defaults to the same path as here. Safe to run again.
set -euo pipefail

DBUSMOCK_DIR="${MICROPOP_DBUSMOCK_DIR:-/opt/micropop-rig/dbusmock}"
DBUSMOCK_VERSION="${MICROPOP_DBUSMOCK_VERSION:-0.38.1}"
APT_UPDATED=0

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        apt-get update -q
        APT_UPDATED=1
    fi
    apt-get install -y -q --no-install-recommends "$@"
}

if ! command -v dbus-daemon >/dev/null || ! /usr/bin/python3 -c 'import dbus, gi' 2>/dev/null; then
    apt_install dbus python3-dbus python3-gi
fi

if ! PYTHONPATH="$DBUSMOCK_DIR" /usr/bin/python3 -c 'import dbusmock' 2>/dev/null; then
    if ! /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    mkdir -p "$DBUSMOCK_DIR"
    /usr/bin/python3 -m pip install -q --no-deps --target "$DBUSMOCK_DIR" \
        "python-dbusmock==$DBUSMOCK_VERSION"
fi

PYTHONPATH="$DBUSMOCK_DIR" /usr/bin/python3 -c \
    'import dbusmock; print("python-dbusmock", dbusmock.__version__, "in", dbusmock.__path__[0])'
