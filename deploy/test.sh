#!/usr/bin/env bash
# The one test command (README, CI): install what the tests need, lint, run every test.
#   ./deploy/test.sh                 everything (about 20 minutes on 2 cores)
#   ./deploy/test.sh tests/unit      the unit tests alone, no server installed or started (about a minute)
#   DMS_TEST_WORKERS=1 ./deploy/test.sh   one test at a time, in one process (as -n 0 does)
# Each test process starts its own PostgreSQL and Redis servers on free loopback ports; the heavy servers
# are started once per run and shared (below).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DMS_VENV:-.venv}"

unit_only() {  # every path given is under tests/unit (options aside): no server is needed
    local arg paths=0
    for arg in "$@"; do
        case "$arg" in -*) ;; tests/unit|tests/unit/*) paths=$((paths + 1)) ;; *) return 1 ;; esac
    done
    [ "$paths" -gt 0 ]
}
# The unit tests alone need no server: nothing but the virtualenv is installed for them.
if unit_only "$@"; then DMS_TEST_DEPS=python bash deploy/install-test-deps.sh; else bash deploy/install-test-deps.sh; fi
# Tests run `dms` and `python` as a user of the virtualenv would.
export PATH="$PWD/$VENV/bin:$PATH"

# The heavy servers (Kafka and MongoDB JVMs, MariaDB, kinesalite, dynalite, gofakes3) start once per run, in
# the background while ruff and the first tests run, and every test process shares them
# (tests/shared_servers.py; tests name their topics, databases, streams and buckets uniquely). A run of the
# unit tests alone starts none; DMS_TEST_SHARED_SERVERS=0 leaves each process to start its own.
SHARED_PID=""
stop_shared() {
    [ -n "$SHARED_PID" ] || return 0
    echo "stopping the shared test servers"
    kill "$SHARED_PID" 2>/dev/null || true
    wait "$SHARED_PID" 2>/dev/null || true
    rm -rf "$DMS_TEST_SHARED_DIR"
}
if ! unit_only "$@" && [ "${DMS_TEST_SHARED_SERVERS:-1}" != 0 ]; then
    DMS_TEST_SHARED_DIR="$(mktemp -d "${TMPDIR:-/tmp}/opendms-shared.XXXXXX")"
    DMS_TEST_SHARED="$(python tests/shared_servers.py --variables)"
    export DMS_TEST_SHARED_DIR DMS_TEST_SHARED
    echo "starting the shared test servers in the background (Kafka, MongoDB, MariaDB, Kinesis, DynamoDB, S3)"
    python tests/shared_servers.py "$DMS_TEST_SHARED_DIR" &
    SHARED_PID=$!
    trap stop_shared EXIT
fi

echo "ruff check"
ruff check .
# A server that cannot start fails the run here, locally as in CI: it never skips.
export DMS_TEST_REQUIRE_SERVERS=1
# One line per test with a running count, written as it happens (a pipe would buffer it).
export PYTHONUNBUFFERED=1
# Tests run in parallel (pytest-xdist): integration tests mostly wait on servers, workers and sleeps, so
# twice as many test processes as cores. Each process starts its own PostgreSQL and Redis servers
# (tests/conftest.py); the heavy ones are shared (above). worksteal hands out single tests and lets an idle
# process take queued tests from a busy one, so no slow module holds up the end of the run.
WORKERS="${DMS_TEST_WORKERS:-$(( $(nproc) * 2 ))}"
PARALLEL=(-n "$WORKERS" --dist worksteal)
[ "$WORKERS" -gt 1 ] || PARALLEL=(-p no:xdist)
# Unit tests first: they run while the shared servers come up.
[ $# -gt 0 ] || set -- tests/unit tests/integration tests/conformance
status=0
python -m pytest -v -o console_output_style=count --durations=15 "${PARALLEL[@]}" "$@" || status=$?
exit "$status"
