#!/usr/bin/env bash
# Debezium's PostgreSQL connector on Kafka Connect (standalone worker), for the PostgreSQL -> Kafka benchmark
# (bench/kafka.py). The connector's jars (deploy/debezium/pom.xml) and the Connect runtime of the Kafka
# version Debezium is built for (deploy/debezium/connect-pom.xml: 4.3; Kafka 4.4's own Connect lacks a class
# Debezium 3.6 uses) come from Maven Central into caches under ~/.cache/opendms the first time.
#   debezium.sh start DIR PORT BROKER  -> last stdout line: http://127.0.0.1:PORT (Connect's REST API)
#   debezium.sh stop DIR
# The worker runs no connector at first: the benchmark posts one to the REST API. Progress goes to stderr.
set -euo pipefail

DEBEZIUM_VERSION="${DEBEZIUM_VERSION:-3.6.1.Final}"
DEBEZIUM_PLUGINS="${DEBEZIUM_PLUGINS:-$HOME/.cache/opendms/debezium-$DEBEZIUM_VERSION}"
CONNECT_VERSION="${CONNECT_VERSION:-4.3.2}"
CONNECT_LIBS="${CONNECT_LIBS:-$HOME/.cache/opendms/kafka-connect-$CONNECT_VERSION/libs}"
here="$(cd "$(dirname "$0")" && pwd)"

usage() { echo "usage: $0 start DIR PORT BROKER | stop DIR" >&2; exit 2; }

install() {  # the connector plugin's jars, less Kafka's own (the runtime has them); the runtime
    local plugin="$DEBEZIUM_PLUGINS/debezium-connector-postgres"
    if ! ls "$plugin"/debezium-connector-postgres-"$DEBEZIUM_VERSION".jar >/dev/null 2>&1; then
        command -v mvn >/dev/null || { echo "maven missing: run deploy/install-test-deps.sh" >&2; exit 3; }
        echo "mvn dependency:copy-dependencies (debezium $DEBEZIUM_VERSION) -> $plugin" >&2
        rm -rf "$plugin.part"
        mvn -q -B -f "$here/debezium/pom.xml" -Ddebezium.version="$DEBEZIUM_VERSION" dependency:copy-dependencies \
            -DincludeScope=runtime -DexcludeGroupIds=org.apache.kafka,org.slf4j -DoutputDirectory="$plugin.part" >&2
        mv "$plugin.part" "$plugin"
    fi
    if ! ls "$CONNECT_LIBS"/connect-runtime-"$CONNECT_VERSION".jar >/dev/null 2>&1; then
        command -v mvn >/dev/null || { echo "maven missing: run deploy/install-test-deps.sh" >&2; exit 3; }
        echo "mvn dependency:copy-dependencies (kafka connect $CONNECT_VERSION) -> $CONNECT_LIBS" >&2
        rm -rf "$CONNECT_LIBS.part"
        mvn -q -B -f "$here/debezium/connect-pom.xml" -Dkafka.version="$CONNECT_VERSION" \
            dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$CONNECT_LIBS.part" >&2
        mv "$CONNECT_LIBS.part" "$CONNECT_LIBS"
    fi
}

start() {
    local dir port="$2" broker="$3"; dir="$(realpath -m "$1")"
    command -v java >/dev/null || { echo "java missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    install
    mkdir -p "$dir"
    cat > "$dir/worker.properties" <<EOF2
bootstrap.servers=$broker
listeners=http://127.0.0.1:$port
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
offset.storage.file.filename=$dir/offsets
offset.flush.interval.ms=1000
plugin.path=$DEBEZIUM_PLUGINS
EOF2
    cat > "$dir/log4j2.properties" <<EOF2
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/connect.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.debezium.name=io.debezium
logger.debezium.level=INFO
EOF2
    nohup java ${CONNECT_HEAP:--Xmx1g} -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$CONNECT_LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone "$dir/worker.properties" \
        > "$dir/stdout.log" 2>&1 < /dev/null &
    echo $! > "$dir/connect.pid"
    for _ in $(seq 3000); do  # up to 5 minutes: the machine's two cores may be busy
        if ! kill -0 "$(cat "$dir/connect.pid")" 2>/dev/null; then
            echo "kafka connect in $dir exited while starting; see $dir/connect.log" >&2
            tail -20 "$dir/stdout.log" >&2; exit 1
        fi
        if curl -sf "http://127.0.0.1:$port/connector-plugins" 2>/dev/null | grep -q PostgresConnector; then
            echo "http://127.0.0.1:$port"; return 0
        fi
        sleep 0.1
    done
    echo "kafka connect on port $port did not start in 5 minutes; see $dir/connect.log" >&2; exit 1
}

stop() {
    local dir pid; dir="$(realpath -m "$1")"
    [ -f "$dir/connect.pid" ] || return 0
    pid="$(cat "$dir/connect.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/connect.pid"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/connect.pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -eq 3 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
