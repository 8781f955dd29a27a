#!/usr/bin/env bash
# Throwaway MongoDB wire-protocol servers for tests: mongo-java-server (deploy/mongodb-server/, built by
# deploy/install-test-deps.sh), in memory, answering as the primary of a one-member replica set rs0 with
# change streams; --standalone answers as a server that is not in a replica set (no change streams).
#   mongodb.sh start DIR PORT [--standalone]  -> last stdout line: mongodb://127.0.0.1:PORT/?directConnection=true
#   mongodb.sh stop DIR
# Its data lives in the server's memory (DIR holds its pid and log): a stop loses it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE="${OPENDMS_CACHE:-$HOME/.cache/opendms}/mongodb-server"

usage() { echo "usage: $0 start DIR PORT [--standalone] | stop DIR" >&2; exit 2; }

start() {
    local dir port; dir="$(realpath -m "$1")"; port="$2"; shift 2
    [ -f "$CACHE/lib/mongodb-test-server-1.jar" ] || {
        echo "the test MongoDB server is not built in $CACHE: run deploy/install-test-deps.sh" >&2; exit 3; }
    command -v java >/dev/null || { echo "java not found: run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir"
    # setsid: the server outlives this script and is stopped by its pid alone.
    # DMS_MONGODB_HEAP: the JVM's heap (it holds the data and its oplog), raised by big benchmarks.
    setsid java "-Xmx${DMS_MONGODB_HEAP:-512m}" -cp "$CACHE/lib/*" opendms.MongoTestServer "$port" "$@" >"$dir/mongodb.log" 2>&1 &
    echo $! >"$dir/mongodb.pid"
    # up to 5 minutes: parallel test runs start several JVMs at once
    if wait_ready "$dir/mongodb.pid" 3000 grep -qs "^listening on" "$dir/mongodb.log"; then
        echo "mongodb://127.0.0.1:$port/?directConnection=true"; return 0
    fi
    echo "the MongoDB test server on port $port did not start; see $dir/mongodb.log" >&2; exit 1
}

stop() {
    stop_pidfile "$(realpath -m "$1")/mongodb.pid" 50
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -ge 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
