#!/usr/bin/env bash
# A throwaway Kinesis Data Streams API server for tests: kinesalite (npm), with its data in DIR.
#   kinesis.sh start DIR PORT   -> last stdout line: http://127.0.0.1:PORT (boto3's endpoint_url)
#   kinesis.sh stop DIR
# kinesalite is installed by deploy/install-test-deps.sh into $DMS_NPM_DIR (default ~/.cache/opendms/npm).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NPM_DIR="${DMS_NPM_DIR:-$HOME/.cache/opendms/npm}"
CLI="$NPM_DIR/node_modules/kinesalite/cli.js"

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

start() {
    local dir port; dir="$(realpath -m "$1")"; port="$2"
    command -v node >/dev/null || { echo "node missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    [ -f "$CLI" ] || { echo "kinesalite missing ($CLI): run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir/data"
    # Streams are ACTIVE at once (no 500 ms create/delete/update delays), 100 shards allowed.
    nohup node "$CLI" --port "$port" --path "$dir/data" --createStreamMs 0 --deleteStreamMs 0 \
        --updateStreamMs 0 --shardLimit 100 >"$dir/kinesalite.log" 2>&1 &
    echo $! >"$dir/kinesalite.pid"
    # up to 2 minutes on a busy machine
    if wait_ready "$dir/kinesalite.pid" 1200 port_open "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    echo "kinesalite on port $port did not start; see $dir/kinesalite.log" >&2; exit 1
}

stop() {
    stop_pidfile "$(realpath -m "$1")/kinesalite.pid" 50
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -eq 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
