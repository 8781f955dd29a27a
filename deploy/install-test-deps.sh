#!/usr/bin/env bash
# Installs what the integration tests need: PostgreSQL 15, Redis, and the package's test extras.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/bin/redis-server ]; then
    echo "postgresql-15 and redis-server: already installed"
else
    # Tests start their own throwaway servers; the packaged system services must stay down.
    echo "policy-rc.d: keeping apt from starting system services"
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    echo "apt-get update"
    $SUDO apt-get update -qq
    echo "apt-get install postgresql-15 postgresql-contrib-15 redis-server"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        postgresql-15 postgresql-contrib-15 redis-server >/dev/null
fi

echo "pip install -e .[test]"
python3 -m pip install -q -e ".[test]"
echo "done"
