#!/usr/bin/env bash
# Installs what the benchmarks need beyond the tests' servers (deploy/install-test-deps.sh):
# pgloader, Debian's package (3.6.9 on bookworm), the plain tool bench/mariadb_load.py runs beside
# OpenDMS's MariaDB -> PostgreSQL full load. Idempotent: skips what is there. CI does not need it.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if command -v pgloader >/dev/null; then
    echo "pgloader: already installed ($(pgloader --version | head -1))"
else
    echo "apt-get install pgloader"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends pgloader >/dev/null
    pgloader --version | head -1
fi
