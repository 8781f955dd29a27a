#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for tests.
#   postgres.sh start DIR PORT [--logical]   -> last stdout line: postgresql://dms:dms@127.0.0.1:PORT/app
#   postgres.sh stop DIR
#   postgres.sh ready DIR PORT
# Progress goes to stderr so callers can read the URL from stdout alone.
set -euo pipefail

PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"

usage() { echo "usage: $0 start DIR PORT [--logical] | stop DIR | ready DIR PORT" >&2; exit 2; }

# initdb and postgres refuse to run as root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        # A cwd the postgres user cannot read makes initdb and pg_ctl complain.
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

start() {
    local dir port wal_level=replica
    dir="$(realpath -m "$1")"; port="$2"
    [ "${3:-}" = "--logical" ] && wal_level=logical
    [ -x "$PGBIN/postgres" ] || { echo "$PGBIN/postgres missing: run deploy/install-test-deps.sh" >&2; exit 3; }

    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"

    # Re-running start on an existing cluster just starts it again.
    if [ ! -f "$dir/PG_VERSION" ]; then
        # Host connections need a real password so tests catch bad credentials.
        as_pg "$PGBIN/initdb" -D "$dir" -U postgres -E UTF8 --locale=C --no-sync \
            --auth-local=trust --auth-host=scram-sha-256 >&2
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = '$dir'"
            # A throwaway cluster need not survive a machine crash (fsync off), but it must keep every
            # commit it acknowledged when its server is killed: tests kill a target to prove that
            # nothing is lost, and with synchronous_commit off the last commits die with the server.
            echo "fsync = off"
            echo "full_page_writes = off"
            echo "shared_buffers = 128MB"
            echo "max_connections = 100"
            echo "wal_level = $wal_level"
            if [ "$wal_level" = logical ]; then
                echo "max_replication_slots = 100  # every CDC task of a test run keeps its slot"
                echo "max_wal_senders = 100"
            fi
        } >> "$dir/postgresql.conf"
    fi

    as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir/log" -o "-p $port" -w start >&2

    local psql=("$PGBIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1)
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'dms'")" != 1 ]; then
        "${psql[@]}" -c "CREATE ROLE dms LOGIN SUPERUSER REPLICATION PASSWORD 'dms'"
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'app'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE app OWNER dms"
    fi
    echo "postgresql://dms:dms@127.0.0.1:$port/app"
}

stop() {
    local dir; dir="$(realpath -m "$1")"
    [ -f "$dir/postmaster.pid" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$dir" -m immediate -w stop >&2 || true
}

ready() {
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$2"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -ge 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    ready) [ $# -eq 2 ] || usage; ready "$@" ;;
    *) usage ;;
esac
