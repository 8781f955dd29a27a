"""PostgreSQL -> Apache Kafka: OpenDMS beside a bare kafka-python producer of the same messages, same run.

Full load: a `full-load` task of the benchmark table into a topic, timed from `dms task start` to the
StopDate its worker records; the baseline reads the same table with a server-side cursor, builds the same
DMS records (connectors/streams/records.py) and sends them with an idempotent producer without transactions,
timed to its final flush. CDC: N single-row updates (transactions of 100) while a `cdc` task runs, timed from
the workload's start until a read_committed consumer sees the topic's last change; the baseline sends N
change records of those rows with the bare producer. The broker is a throwaway KRaft broker
(deploy/kafka.sh); its topic has one partition, as a table's changes have in DMS's default partitioning.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg2
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from servers_kafka import KafkaServer

from connectors.base import Change, Column, Op, TableId, TableSchema
from connectors.positions import Position
from connectors.streams.records import Records, RecordSettings

from .cdc import workload
from .common import Servers, create_table, fresh_db, opendms, print_table, state_of, wait_status, wait_workers

SCHEMA = TableSchema(TableId("public", "bench"), (
    Column("id", "int8", False), Column("i", "int4"), Column("n", "numeric"), Column("t", "text"),
    Column("ts", "timestamptz"), Column("b", "bool"), Column("j", "json")), ("id",))


def run(srv: Servers, *, rows: int, updates: int) -> dict:
    kafka = KafkaServer().start()
    try:
        return _measure(srv, kafka.broker, rows, updates)
    finally:
        kafka.stop()


def _measure(srv: Servers, broker: str, rows: int, updates: int) -> dict:
    src = fresh_db(srv.source)
    create_table(src, "bench", rows)
    results: dict[str, Any] = {"rows": rows, "updates": updates}
    with opendms(srv.redis.url) as dms:
        dms.start_worker(concurrency=1)
        wait_workers(dms, 1)
        source = dms.endpoint(f"src-{dms.suffix}", "source", src)

        def target(name: str, topic: str) -> str:
            dms.dms("endpoint", "create", name, "--type", "target", "--engine", "kafka", "--kafka-settings",
                    json.dumps({"Broker": broker, "Topic": topic, "MessageFormat": "json-unformatted"}))
            return name

        base_load = _bare_load(src, broker, "bare-load")
        load_target = target(f"k-load-{dms.suffix}", "dms-load")
        dms_load = _task_seconds(dms, "kload", source, load_target, "full-load")

        cdc_target = target(f"k-cdc-{dms.suffix}", "dms-cdc")
        _create_task(dms, "kcdc", source, cdc_target, "cdc")
        dms.dms("task", "start", "kcdc")
        wait_status(dms, "kcdc", ("running",))
        time.sleep(2.0)  # capture set up before the workload starts
        started = time.monotonic()
        workload(src, updates, 100)
        _wait_records(broker, "dms-cdc", updates)
        dms_cdc = time.monotonic() - started
        dms.dms("task", "stop", "kcdc")
        base_cdc = _bare_changes(src, broker, "bare-cdc", updates)

    table = []
    for label, count, seconds in (("full load: opendms", rows, dms_load), ("full load: bare producer", rows, base_load),
                                  ("cdc: opendms (end to end)", updates, dms_cdc),
                                  ("cdc: bare producer", updates, base_cdc)):
        results[label] = {"seconds": round(seconds, 3), "rows_per_s": int(count / seconds)}
        table.append([label, seconds, int(count / seconds)])
    results["full_load_ratio"] = round(base_load / dms_load, 3)
    results["cdc_ratio"] = round(base_cdc / dms_cdc, 3)
    print_table(f"PostgreSQL -> Kafka: {rows:,} rows, {updates:,} updates", ["method", "seconds", "rows/s"], table,
                ["opendms: one worker of concurrency 1, exactly once (a Kafka transaction per chunk and per batch); "
                 "bare producer: kafka-python, idempotent, no transactions, the same DMS records",
                 f"opendms / bare: full load {results['full_load_ratio']:.2f}x, cdc {results['cdc_ratio']:.2f}x"])
    return results


def _create_task(dms, name: str, source: str, target: str, kind: str) -> None:
    mappings = dms.tmp / f"{name}.json"
    mappings.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                               "rule-action": "include",
                                               "object-locator": {"schema-name": "public", "table-name": "bench"}}]}))
    dms.dms("task", "create", name, "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", kind, "--table-mappings", str(mappings))


def _task_seconds(dms, name: str, source: str, target: str, kind: str) -> float:
    _create_task(dms, name, source, target, kind)
    started = time.time()
    dms.dms("task", "start", name)
    if wait_status(dms, name, ("stopped", "failed")) != "stopped":
        raise RuntimeError(f"benchmark task {name} failed: {dms.describe(name).get('LastFailureMessage')}")
    return float(state_of(dms).task(name)["StopDate"]) - started


def _producer(broker: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=True, linger_ms=5,
                         batch_size=512 * 1024)


def _bare_load(src: str, broker: str, topic: str) -> float:
    records = Records(RecordSettings(message_format="json-unformatted"))
    started = time.monotonic()
    producer = _producer(broker)
    conn = psycopg2.connect(src)
    try:
        with conn.cursor(name="bare") as cur:
            cur.itersize = 10_000
            cur.execute("SELECT id, i, n, t, ts::text, b, j::text FROM bench")
            names = SCHEMA.column_names
            for values in cur:
                record = records.load(SCHEMA, dict(zip(names, values, strict=True)))
                producer.send(topic, key=record.key.encode(), value=record.value)
        producer.flush()
    finally:
        conn.close()
        producer.close()
    return time.monotonic() - started


def _bare_changes(src: str, broker: str, topic: str, updates: int) -> float:
    records = Records(RecordSettings(message_format="json-unformatted"))
    conn = psycopg2.connect(src)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, i, n, t, ts::text, b, j::text FROM bench WHERE id <= %s", (updates,))
            rows = [dict(zip(SCHEMA.column_names, values, strict=True)) for values in cur]
    finally:
        conn.close()
    started = time.monotonic()
    producer = _producer(broker)
    for n, row in enumerate(rows, 1):
        change = Change(SCHEMA.table, Op.UPDATE, Position("bench", n, 1, str(n)), {"id": row["id"]}, row)
        record = records.change(SCHEMA, change)
        producer.send(topic, key=record.key.encode(), value=record.value,
                      headers=[("dms-position", record.position.encode())])
    producer.flush()
    producer.close()
    return time.monotonic() - started


def _wait_records(broker: str, topic: str, count: int, timeout: float = 3600) -> None:
    """Until the topic's committed end holds ``count`` change records (transaction markers aside)."""
    consumer = KafkaConsumer(bootstrap_servers=broker, isolation_level="read_committed", enable_auto_commit=False,
                             group_id=None)
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while not consumer.partitions_for_topic(topic):
            time.sleep(0.1)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        while seen < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {seen} of {count} changes reached topic {topic}")
            for messages in consumer.poll(timeout_ms=200).values():
                seen += sum(1 for m in messages if b'"operation":"update"' in m.value)
    finally:
        consumer.close()
