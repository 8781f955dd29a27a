#!/usr/bin/env bash
# A throwaway Kinesis Data Streams API server for tests: kinesalite (npm), with its data in DIR.
#   kinesis.sh start DIR PORT   -> last stdout line: http://127.0.0.1:PORT (boto3's endpoint_url)
#   kinesis.sh stop DIR
# kinesalite is installed by deploy/install-test-deps.sh into $DMS_NPM_DIR (default ~/.cache/opendms/npm).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

start() {  # Streams are ACTIVE at once (no 500 ms create/delete/update delays), 100 shards allowed.
    npm_server_start kinesalite "$1" "$2" --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 100
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
