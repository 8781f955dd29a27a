#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: gofakes3 (MIT, Go), data in one bolt file under DIR.
#   s3.sh start DIR PORT   -> last stdout line: http://127.0.0.1:PORT (bucket "opendms" made at start)
#   s3.sh stop DIR
# It takes any access key (it checks no signatures): clients still need one, e.g. AWS_ACCESS_KEY_ID=test.
# The binary is installed by deploy/install-test-deps.sh into ${OPENDMS_CACHE:-~/.cache/opendms}/bin.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="${OPENDMS_CACHE:-$HOME/.cache/opendms}/bin/gofakes3"

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

start() {
    local dir port
    dir="$(realpath -m "$1")"; port="$2"
    [ -x "$BIN" ] || { echo "$BIN missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "http://127.0.0.1:$(cat "$dir/port")"; return 0
    fi
    "$BIN" -backend bolt -bolt.db "$dir/s3.db" -host "127.0.0.1:$port" -initialbucket opendms \
        >"$dir/log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    echo "$port" >"$dir/port"
    # up to 2 minutes on a busy machine
    if wait_ready "$dir/pid" 1200 port_open "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    echo "gofakes3 did not start on 127.0.0.1:$port; its log:" >&2
    tail -20 "$dir/log" >&2 || true
    exit 1
}

stop() {
    local dir; dir="$(realpath -m "$1")"
    [ -f "$dir/pid" ] || return 0
    local pid; pid="$(cat "$dir/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -ge 2 ] || usage; start "$@" ;;
    stop) [ $# -ge 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
