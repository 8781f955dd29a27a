#!/usr/bin/env bash
# A throwaway DynamoDB API server for tests: dynalite (npm; never the vendor's own local DynamoDB), its data
# in DIR (LevelDB).
#   dynamodb.sh start DIR PORT   -> last stdout line: http://127.0.0.1:PORT (the endpoint's EndpointUrl)
#   dynamodb.sh stop DIR
# dynalite is installed by deploy/install-test-deps.sh into $DMS_NPM_DIR (default ~/.cache/opendms/npm).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NPM_DIR="${DMS_NPM_DIR:-$HOME/.cache/opendms/npm}"
CLI="$NPM_DIR/node_modules/dynalite/cli.js"

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

start() {
    local dir port; dir="$(realpath -m "$1")"; port="$2"
    command -v node >/dev/null || { echo "node missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    [ -f "$CLI" ] || { echo "dynalite missing ($CLI): run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir/data"
    # Tables are ACTIVE at once (no 500 ms create/delete/update delays).
    nohup node "$CLI" --host 127.0.0.1 --port "$port" --path "$dir/data" --createTableMs 0 --deleteTableMs 0 \
        --updateTableMs 0 >"$dir/dynalite.log" 2>&1 &
    echo $! >"$dir/dynalite.pid"
    # up to 2 minutes on a busy machine
    if wait_ready "$dir/dynalite.pid" 1200 port_open "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    echo "dynalite on port $port did not start; see $dir/dynalite.log" >&2; exit 1
}

stop() {
    stop_pidfile "$(realpath -m "$1")/dynalite.pid" 50
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -eq 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
