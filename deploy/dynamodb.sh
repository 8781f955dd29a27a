#!/usr/bin/env bash
# A throwaway DynamoDB API server for tests: dynalite (npm; never the vendor's own local DynamoDB), its data
# in DIR (LevelDB).
#   dynamodb.sh start DIR PORT   -> last stdout line: http://127.0.0.1:PORT (the endpoint's EndpointUrl)
#   dynamodb.sh stop DIR
# dynalite is installed by deploy/install-test-deps.sh into $DMS_NPM_DIR (default ~/.cache/opendms/npm).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

start() {  # Tables are ACTIVE at once (no 500 ms create/delete/update delays).
    npm_server_start dynalite "$1" "$2" --host 127.0.0.1 --createTableMs 0 --deleteTableMs 0 --updateTableMs 0
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
