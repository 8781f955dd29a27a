#!/usr/bin/env bash
# The one test command (README, CI): install what the tests need, lint, run every test.
#   ./deploy/test.sh                 everything (about 20 minutes on 2 cores)
#   ./deploy/test.sh tests/unit      the unit tests alone (about a minute)
#   DMS_TEST_WORKERS=1 ./deploy/test.sh   one test at a time, in one process (as -n 0 does)
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
# Tests run in parallel (pytest-xdist): integration tests mostly wait on servers, workers and sleeps, so
# twice as many test processes as cores. Each process starts its own PostgreSQL and Redis servers
# (tests/conftest.py). worksteal hands out single tests and lets an idle process take queued tests from
# a busy one, so no slow module holds up the end of the run.
WORKERS="${DMS_TEST_WORKERS:-$(( $(nproc) * 2 ))}"
PARALLEL=(-n "$WORKERS" --dist worksteal)
[ "$WORKERS" -gt 1 ] || PARALLEL=(-p no:xdist)
exec python -m pytest -v -o console_output_style=count --durations=10 "${PARALLEL[@]}" "$@"
