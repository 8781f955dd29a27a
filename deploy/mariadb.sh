#!/usr/bin/env bash
# Throwaway MariaDB 10.11 servers (Debian's mariadb-server) for tests, set up as a change-capture source:
# row-based binary log with whole row images and full metadata, a server id, and LOAD DATA LOCAL allowed.
#   mariadb.sh start DIR PORT   -> last stdout line: mysql://dms:dms@127.0.0.1:PORT/app
#   mariadb.sh stop DIR
#   mariadb.sh ready DIR
# Progress goes to stderr so callers can read the URL from stdout alone. The system service is never
# used: each server runs mariadbd directly with its data, socket and log inside DIR.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MARIADBD="${MARIADBD:-/usr/sbin/mariadbd}"
INSTALL_DB="${MARIADB_INSTALL_DB:-/usr/bin/mariadb-install-db}"
CLIENT="${MARIADB_CLIENT:-/usr/bin/mariadb}"

usage() { echo "usage: $0 start DIR PORT | stop DIR | ready DIR" >&2; exit 2; }

# mariadbd refuses to run as root unless told which user to be; as root the server runs as mysql.
run_user() { if [ "$(id -u)" -eq 0 ]; then echo mysql; else id -un; fi; }

root_sql() { "$CLIENT" --no-defaults --socket="$1/sock" -u root --batch --skip-column-names -e "$2"; }

ready() {
    local dir; dir="$(realpath -m "$1")"
    root_sql "$dir" "SELECT 1" >/dev/null 2>&1
}

start() {
    local dir port user
    dir="$(realpath -m "$1")"; port="$2"; user="$(run_user)"
    for bin in "$MARIADBD" "$INSTALL_DB" "$CLIENT"; do
        [ -x "$bin" ] || { echo "$bin missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    done

    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown mysql:mysql "$dir"

    # Re-running start on an existing data dir just starts it again (on the port given now).
    if [ ! -f "$dir/my.cnf" ]; then
        {
            echo "[mariadbd]"
            echo "user = $user"
            echo "datadir = $dir/data"
            echo "socket = $dir/sock"
            echo "pid-file = $dir/pid"
            echo "log-error = $dir/log.err"
            echo "bind-address = 127.0.0.1"
            echo "skip-name-resolve"
            echo "character-set-server = utf8mb4"
            # What change capture needs (DMS's MySQL source prerequisites).
            echo "log-bin = $dir/data/mariadb-bin"
            echo "binlog_format = ROW"
            echo "binlog_row_image = FULL"
            echo "binlog_row_metadata = FULL"
            echo "server_id = 1"
            echo "expire_logs_days = 1"
            # The target's bulk load streams a file from the client.
            echo "local_infile = 1"
            # A throwaway server need not survive a machine crash, but it must keep every commit it
            # acknowledged when the process is killed (tests kill a target to prove nothing is lost):
            # commits reach the OS at once (=2), only the fsyncs are skipped.
            echo "innodb_flush_log_at_trx_commit = 2"
            echo "sync_binlog = 0"
            echo "innodb_doublewrite = 0"
            echo "innodb_buffer_pool_size = 128M"
            echo "innodb_log_file_size = 64M"
            echo "performance_schema = OFF"
            echo "max_connections = 300"
            echo "max_allowed_packet = 256M"
        } > "$dir/my.cnf"
        [ "$(id -u)" -eq 0 ] && chown mysql:mysql "$dir/my.cnf"
        # root@localhost by password (empty) over the socket only, whoever runs this script.
        (cd / && "$INSTALL_DB" --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
            --skip-test-db >&2)
    fi

    # Detached from this script's output: callers read stdout until it closes.
    (cd / && exec "$MARIADBD" --defaults-file="$dir/my.cnf" --port="$port") </dev/null >/dev/null 2>&1 &
    if ! wait_ready "" 1200 ready "$dir"; then  # up to 2 minutes on a busy machine
        echo "mariadbd did not start on port $port; its log:" >&2
        tail -20 "$dir/log.err" >&2 || true
        exit 1
    fi

    root_sql "$dir" "CREATE USER IF NOT EXISTS 'dms'@'%' IDENTIFIED BY 'dms';
        GRANT ALL PRIVILEGES ON *.* TO 'dms'@'%' WITH GRANT OPTION;
        CREATE DATABASE IF NOT EXISTS app CHARACTER SET utf8mb4;"
    echo "mysql://dms:dms@127.0.0.1:$port/app"
}

stop() {
    local dir pid i; dir="$(realpath -m "$1")"
    [ -f "$dir/pid" ] || return 0
    pid="$(cat "$dir/pid")"
    # Like postgres.sh's immediate stop: tests stop a server to see a task cope with it going away.
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$dir/pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -eq 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    ready) [ $# -eq 1 ] || usage; ready "$@" ;;
    *) usage ;;
esac
