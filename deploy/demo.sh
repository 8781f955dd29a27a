#!/usr/bin/env bash
# The README's first command: a virtualenv (deploy/venv.sh; on Debian and Ubuntu python3-venv is installed if
# the system Python lacks it), OpenDMS in it, and `dms demo` (SQLite to SQLite, embedded mode, no server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DMS_VENV:-.venv}"
bash deploy/venv.sh
echo "$VENV/bin/pip install ."
"$VENV/bin/python" -m pip install -q --disable-pip-version-check .
exec "$VENV/bin/dms" demo "$@"
