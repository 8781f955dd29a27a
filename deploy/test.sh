#!/usr/bin/env bash
# The one test command (README, CI): install what the tests need, lint, run every test.
#   ./deploy/test.sh                 everything (about 12 minutes on 2 cores)
#   ./deploy/test.sh tests/unit      the server-free unit tests alone (about 15 seconds)
# Integration tests start their own PostgreSQL and Redis servers on free loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DMS_VENV:-.venv}"

bash deploy/install-test-deps.sh
# Tests run `dms` and `python` as a user of the virtualenv would.
export PATH="$PWD/$VENV/bin:$PATH"
echo "ruff check"
ruff check .
# A server that cannot start fails the run here, locally as in CI: it never skips.
export DMS_TEST_REQUIRE_SERVERS=1
# One line per test with a running count, written as it happens (a pipe would buffer it).
export PYTHONUNBUFFERED=1
exec python -m pytest -v -o console_output_style=count --durations=10 "$@"
