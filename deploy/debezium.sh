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
. "$here/lib.sh"

usage() { echo "usage: $0 start DIR PORT BROKER | stop DIR" >&2; exit 2; }

install() {  # the connector plugin's jars, less Kafka's own (the runtime has them); the runtime
    local plugin="$DEBEZIUM_PLUGINS/debezium-connector-postgres"
    ls "$plugin"/debezium-connector-postgres-"$DEBEZIUM_VERSION".jar >/dev/null 2>&1 \
        || mvn_copy_dependencies "debezium $DEBEZIUM_VERSION" "$plugin" "$here/debezium/pom.xml" \
            -Ddebezium.version="$DEBEZIUM_VERSION" -DexcludeGroupIds=org.apache.kafka,org.slf4j
    ls "$CONNECT_LIBS"/connect-runtime-"$CONNECT_VERSION".jar >/dev/null 2>&1 \
        || mvn_copy_dependencies "kafka connect $CONNECT_VERSION" "$CONNECT_LIBS" "$here/debezium/connect-pom.xml" \
            -Dkafka.version="$CONNECT_VERSION"
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
    log4j2_properties "$dir/log4j2.properties" "$dir/connect.log" io.debezium
    nohup java ${CONNECT_HEAP:--Xmx1g} -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$CONNECT_LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone "$dir/worker.properties" \
        > "$dir/stdout.log" 2>&1 < /dev/null &
    echo $! > "$dir/connect.pid"
    await_start "kafka connect" "$dir/connect.pid" "http://127.0.0.1:$port" "$dir/connect.log" connector_listed "$port"
}

connector_listed() { curl -sf "http://127.0.0.1:$1/connector-plugins" 2>/dev/null | grep -q PostgresConnector; }

stop() {
    stop_pidfile "$(realpath -m "$1")/connect.pid" 150
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -eq 3 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
