#!/usr/bin/env bash
# Creates the virtualenv OpenDMS runs from ($DMS_VENV, default .venv), never touching the system Python. On
# Debian and Ubuntu, whose python3 ships venv's ensurepip in a package of its own, it installs python3-venv
# first when the system Python lacks it (with sudo unless root). Used by deploy/demo.sh and the test command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DMS_VENV:-.venv}"
[ ! -x "$VENV/bin/python" ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_install() {
    command -v apt-get >/dev/null || { echo "python3 -m venv failed and this is no Debian or Ubuntu: install \
Python's venv module (with ensurepip) and run this again" >&2; exit 2; }
    echo "apt-get install $*"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

echo "python3 -m venv $VENV"
if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        apt_install "python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
        python3 -m venv "$VENV"
    fi
fi
