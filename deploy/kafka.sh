#!/usr/bin/env bash
# Throwaway Apache Kafka brokers for tests, in KRaft mode (broker and controller in one process, no
# ZooKeeper), run from the jars on Maven Central that deploy/install-test-deps.sh copied.
#   kafka.sh start DIR PORT [--sasl SASL_PORT]  -> last stdout line: kafka://127.0.0.1:PORT
#   kafka.sh stop DIR
# With --sasl a second listener on SASL_PORT takes SASL_PLAINTEXT with PLAIN, user dms, password dms-secret.
# The controller listens on a free port of its own (in DIR/controller.port). Progress goes to stderr.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_LIBS="${KAFKA_LIBS:-$HOME/.cache/opendms/kafka-$KAFKA_VERSION/libs}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx256m}"

usage() { echo "usage: $0 start DIR PORT [--sasl SASL_PORT] | stop DIR" >&2; exit 2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

java_run() {  # java_run CLASS ARGS...: a JVM on the broker's jars, logging per DIR's log4j2.properties
    java $KAFKA_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_LIBS/*" "$@"
}

start() {
    dir="$(realpath -m "$1")"; local port="$2" sasl_port=""
    [ "${3:-}" = "--sasl" ] && sasl_port="${4:?--sasl needs a port}"
    command -v java >/dev/null || { echo "java missing: run deploy/install-test-deps.sh" >&2; exit 3; }
    ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 \
        || { echo "Kafka $KAFKA_VERSION jars missing in $KAFKA_LIBS: run deploy/install-test-deps.sh" >&2; exit 3; }
    mkdir -p "$dir"
    if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
        echo "kafka already running in $dir" >&2; echo "kafka://127.0.0.1:$port"; return 0
    fi
    local cport listeners protocols
    cport="$(cat "$dir/controller.port" 2>/dev/null || free_port)"; echo "$cport" > "$dir/controller.port"
    listeners="PLAINTEXT://127.0.0.1:$port"
    protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [ -n "$sasl_port" ]; then
        listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
        protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
    fi
    cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.segment.bytes=16777216
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
    if [ -n "$sasl_port" ]; then
        cat >> "$dir/server.properties" <<'EOF'
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="dms" password="dms-secret" user_dms="dms-secret";
EOF
    fi
    log4j2_properties "$dir/log4j2.properties" "$dir/server.log" kafka
    if [ ! -f "$dir/data/meta.properties" ]; then
        local cluster
        # Kafka's own ids never start with "-" (Uuid.randomUuid draws again): the format tool would read such an
        # id as an option and refuse to start, one time in 64.
        cluster="$(python3 -c 'import base64, uuid
while (id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(id)')"
        java_run kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" >&2
    fi
    nohup java $KAFKA_HEAP -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$KAFKA_LIBS/*" \
        kafka.Kafka "$dir/server.properties" > "$dir/stdout.log" 2>&1 < /dev/null &
    echo $! > "$dir/kafka.pid"
    # Ready when the broker has registered (it logs "Kafka Server started") and its port accepts.
    await_start kafka "$dir/kafka.pid" "kafka://127.0.0.1:$port" "$dir/server.log and $dir/stdout.log" \
        broker_started "$port"
}

broker_started() { grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null && port_open "$1"; }

stop() {  # SIGKILL after 15 s: a test broker need not wait for a slower clean shutdown
    stop_pidfile "$(realpath -m "$1")/kafka.pid" 150
}

cmd="${1:-}"; shift || true
case "$cmd" in
    start) [ $# -ge 2 ] || usage; start "$@" ;;
    stop)  [ $# -eq 1 ] || usage; stop "$@" ;;
    *) usage ;;
esac
