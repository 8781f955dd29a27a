#!/usr/bin/env bash
# The one test command (README, CI): install what the tests need, lint, run every test.
# Integration tests start their own PostgreSQL and Redis servers on free loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/install-test-deps.sh
echo "ruff check"
python3 -m ruff check .
# A server that cannot start fails the run here, locally as in CI: it never skips.
export DMS_TEST_REQUIRE_SERVERS=1
exec python3 -m pytest -q "$@"
