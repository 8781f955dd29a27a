# Helpers the throwaway-server scripts of deploy/ share. Sourced, never run:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PIDFILE TRIES CHECK...: runs CHECK every 0.1 s, at most TRIES times, until it succeeds (0). Returns 1
# when the tries run out, 2 as soon as the process in PIDFILE is gone (an empty PIDFILE: no such check).
wait_ready() {
    local pidfile="$1" tries="$2"; shift 2
    for _ in $(seq "$tries"); do
        "$@" && return 0
        if [ -n "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 2; fi
        sleep 0.1
    done
    return 1
}

# stop_pidfile PIDFILE TRIES: SIGTERM to the process in PIDFILE, SIGKILL if it still runs after TRIES times
# 0.1 s; then PIDFILE goes. Nothing to do without PIDFILE.
stop_pidfile() {
    local pidfile="$1" tries="$2" pid
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq "$tries"); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# mvn_copy_dependencies WHAT DEST POM MVN_ARGS...: the runtime jars of POM from Maven Central into DEST,
# through DEST.part so that an interrupted copy is never taken for a complete one.
mvn_copy_dependencies() {
    local what="$1" dest="$2" pom="$3"; shift 3
    command -v mvn >/dev/null || { echo "maven missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    echo "mvn dependency:copy-dependencies ($what) -> $dest" >&2
    rm -rf "$dest.part"
    mvn -q -B -f "$pom" "$@" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.part" >&2
    mv "$dest.part" "$dest"
}

# await_start WHAT PIDFILE URL LOGS CHECK...: up to 5 minutes (a parallel test run starts several JVMs at once on
# two cores) for CHECK to succeed, then URL on stdout. Exits 1 naming LOGS when the process ends first (with the
# end of the stdout.log beside PIDFILE) or the time runs out.
await_start() {
    local what="$1" pidfile="$2" url="$3" logs="$4" ready=0; shift 4
    wait_ready "$pidfile" 3000 "$@" || ready=$?
    case "$ready" in
        0) echo "$url"; return 0 ;;
        2) echo "$what in $(dirname "$pidfile") exited while starting; see $logs" >&2
           tail -20 "$(dirname "$pidfile")/stdout.log" >&2; exit 1 ;;
    esac
    echo "$what at $url did not start in 5 minutes; see $logs" >&2; exit 1
}

# log4j2_properties FILE LOG LOGGER: a JVM's log4j2 settings: warnings and errors into LOG, LOGGER's INFO too.
log4j2_properties() {
    cat > "$1" <<EOF2
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$2
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.main.name=$3
logger.main.level=INFO
EOF2
}

# npm_server_start NAME DIR PORT ARGS...: the npm test server NAME (its cli.js, which deploy/install-test-deps.sh
# installs into $DMS_NPM_DIR) on PORT with ARGS, its data in DIR/data and its log and pid in DIR; prints its URL
# once the port accepts (up to 2 minutes on a busy machine).
npm_server_start() {
    local name="$1" dir port="$3" cli; dir="$(realpath -m "$2")"; shift 3
    cli="${DMS_NPM_DIR:-$HOME/.cache/opendms/npm}/node_modules/$name/cli.js"
    command -v node >/dev/null || { echo "node missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    [ -f "$cli" ] || { echo "$name missing ($cli): run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir/data"
    nohup node "$cli" --port "$port" --path "$dir/data" "$@" >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    if wait_ready "$dir/$name.pid" 1200 port_open "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    echo "$name on port $port did not start; see $dir/$name.log" >&2; exit 1
}
