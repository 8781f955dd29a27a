"""PostgreSQL -> Apache Kafka: OpenDMS beside Debezium's PostgreSQL connector and a bare producer, same run.

Full load: a `full-load` task of the benchmark table into a topic, timed from `dms task start` to the
StopDate its worker records; Debezium's connector (on Kafka Connect, bench/debezium.py) snapshots the same
table into its topic, timed from posting the connector until the topic holds every row; the bare producer
reads the table with a server-side cursor, builds the same DMS records (connectors/streams/records.py) and
sends them with confluent-kafka, idempotent, without transactions, timed to its final flush.
CDC: N single-row updates (transactions of 100) made while OpenDMS's `cdc` task is stopped and Debezium's
connector paused, then each resumed in turn, alone, and timed until its topic holds the last change
(OpenDMS: a read_committed consumer sees the last update; Debezium: the topic's end offset); OpenDMS is
resumed twice, each time after its own run of the workload: by `dms task start` (a CLI process, which
imports and checks before it enqueues) and by DMS's API (StartReplicationTask to a running `dms api`, the
counterpart of Debezium's REST call to its running Connect worker); the bare producer sends N change
records of those rows. The broker is a throwaway KRaft broker (deploy/kafka.sh);
every topic has one partition, as a table's changes have in DMS's default partitioning.
Latency: bench/kafka_latency.py, at --rate inserts/s for --seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import psycopg2
from api_env import ApiServer
from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition
from servers_kafka import KafkaServer

from connectors.base import Change, Column, Op, TableId, TableSchema
from connectors.positions import Position
from connectors.streams.records import Records, RecordSettings

from . import kafka_latency
from .cdc import workload
from .common import (
    Servers,
    create_table,
    create_task,
    fresh_db,
    load_seconds,
    opendms,
    print_table,
    wait_status,
    wait_workers,
)
from .debezium import Debezium, wait_offset

SCHEMA = TableSchema(TableId("public", "bench"), (
    Column("id", "int8", False), Column("i", "int4"), Column("n", "numeric"), Column("t", "text"),
    Column("ts", "timestamptz"), Column("b", "bool"), Column("j", "json")), ("id",))


def run(srv: Servers, *, rows: int, updates: int, rate: int, seconds: float) -> dict:
    if updates > rows:  # the workload updates ids 1..updates: the last would match no row, waited for in vain
        raise SystemExit(f"--updates ({updates:,}) must not exceed --kafka-rows ({rows:,}): the CDC run updates "
                         "rows 1..N of the loaded table")
    kafka = KafkaServer().start()
    debezium = Debezium(kafka.broker)
    try:
        debezium.start_worker()  # its JVM up before anything is timed
        return _measure(srv, kafka.broker, debezium, rows, updates, rate, seconds)
    finally:
        debezium.stop_worker()
        kafka.stop()


def _measure(srv: Servers, broker: str, debezium: Debezium, rows: int, updates: int, rate: int, seconds: float
             ) -> dict:
    src = fresh_db(srv.source)
    create_table(src, "bench", rows)
    results: dict[str, Any] = {"rows": rows, "updates": updates}
    with opendms(srv.redis.url) as dms:
        dms.start_worker(concurrency=1)
        wait_workers(dms, 1)
        source = dms.endpoint(f"src-{dms.suffix}", "source", src)

        def target(name: str, topic: str) -> str:
            dms.dms("endpoint", "create", name, "--type", "target", "--engine", "kafka", "--kafka-settings",
                    json.dumps({"Broker": broker, "Topic": topic}))
            return name

        base_load = _bare_load(src, broker, "bare-load")
        dms_load = _task_seconds(dms, "kload", source, target(f"k-load-{dms.suffix}", "dms-load"), "full-load")
        started = time.monotonic()
        debezium.start(src, "bench")
        dbz_load = wait_offset(broker, debezium.topic("bench"), rows) - started

        create_task(dms, "kcdc", source, target(f"k-cdc-{dms.suffix}", "dms-cdc"), "cdc", "bench")
        dms.dms("task", "start", "kcdc")
        wait_status(dms, "kcdc", ("running",))
        time.sleep(2.0)  # capture set up before it stops
        dms.dms("task", "stop", "kcdc")
        wait_status(dms, "kcdc", ("stopped",))
        debezium.pause("bench")
        time.sleep(3.0)  # the connector's task has stopped polling
        workload(src, updates, 100)
        # Each resumed alone; timed from the resume, and from the first records to arrive (its streaming
        # rate: the changes after that first commit over the time they took, without the start-up)
        procs: list[subprocess.Popen] = []
        cdc = {"opendms": _dms_backlog(broker, updates, lambda: procs.append(subprocess.Popen(
            [sys.executable, "-m", "scheduler", "task", "start", "kcdc", "--type", "resume-processing"],
            env=dms.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))}
        if procs[0].wait(timeout=600) != 0:
            raise RuntimeError("dms task start kcdc --type resume-processing failed")
        dms.dms("task", "stop", "kcdc")
        topic = debezium.topic("bench")
        base = _end(broker, topic, "read_uncommitted")
        started = time.monotonic()
        debezium.resume("bench")
        first, end = _growth(broker, topic, base, "read_uncommitted")
        done = wait_offset(broker, topic, base + updates)
        cdc["debezium"] = (done - started, (updates - (end - base)) / (done - first))
        debezium.delete(src, "bench")
        cdc["opendms, started by the API"] = _api_backlog(dms, src, broker, updates)
        base_cdc = _bare_changes(src, broker, "bare-cdc", updates)
        results["latency"] = kafka_latency.run(dms, source, src, broker, debezium, rate=rate, seconds=seconds)

    table = []
    for label, count, took in (("full load: opendms", rows, dms_load), ("full load: debezium", rows, dbz_load),
                               ("full load: bare producer", rows, base_load),
                               ("cdc backlog: opendms", updates, cdc["opendms"][0]),
                               ("cdc backlog: opendms, started by the API", updates,
                                cdc["opendms, started by the API"][0]),
                               ("cdc backlog: debezium", updates, cdc["debezium"][0]),
                               ("cdc: bare producer", updates, base_cdc)):
        results[label] = {"seconds": round(took, 3), "rows_per_s": int(count / took)}
        table.append([label, took, int(count / took), None])
    rows_of = {line[0]: line for line in table}
    for name, (_took, streaming) in cdc.items():
        results[f"cdc backlog: {name}"]["streaming_rows_per_s"] = int(streaming)
        rows_of[f"cdc backlog: {name}"][3] = int(streaming)
    results["full_load_vs_debezium"] = round(dbz_load / dms_load, 3)
    results["cdc_vs_debezium"] = round(cdc["debezium"][0] / cdc["opendms"][0], 3)
    results["cdc_api_vs_debezium"] = round(cdc["debezium"][0] / cdc["opendms, started by the API"][0], 3)
    results["cdc_streaming_vs_debezium"] = round(cdc["opendms"][1] / cdc["debezium"][1], 3)
    results["full_load_vs_bare"] = round(base_load / dms_load, 3)
    print_table(f"PostgreSQL -> Kafka: {rows:,} rows, {updates:,} updates",
                ["method", "seconds", "rows/s", "streaming rows/s"], table,
                ["opendms: one worker of concurrency 1, exactly once (a Kafka transaction per chunk and per batch), "
                 "DMS's default MessageFormat json (tab-indented), timed from `dms task start` (a CLI process); "
                 "debezium 3.6.1.Final on Kafka Connect 4.3.2 (standalone), at least once, timed from its REST call; "
                 "bare producer: confluent-kafka, idempotent, no transactions, the same DMS records (MessageFormat "
                 "json); streaming: after the first records arrived",
                 "started by the API: StartReplicationTask through boto3 to a running `dms api`, as Debezium is "
                 "resumed by a REST call to its running Connect worker; each backlog is its own run of the workload",
                 f"opendms / debezium: full load {results['full_load_vs_debezium']:.2f}x, cdc backlog "
                 f"{results['cdc_vs_debezium']:.2f}x from `dms task start`, {results['cdc_api_vs_debezium']:.2f}x "
                 f"from the API (streaming {results['cdc_streaming_vs_debezium']:.2f}x); "
                 f"opendms / bare producer: full load {results['full_load_vs_bare']:.2f}x"])
    print_table(f"Latency into Kafka at {rate:,} inserts/s for {seconds:g} s (commit to a read_committed "
                "consumer's receipt, seconds)", ["system", "changes", "p50", "p95", "p99", "max"],
                [[name, f["changes"], f["p50_s"], f["p95_s"], f["p99_s"], f["max_s"]]
                 for name, f in results["latency"].items()])
    return results


def _api_backlog(dms, src: str, broker: str, updates: int) -> tuple[float, float]:
    """With the `cdc` task stopped, the workload made again, and the task resumed by DMS's API (boto3's
    StartReplicationTask to a `dms api` already running, as Debezium is resumed by a REST call to its running
    Connect worker): the seconds from that call to the last change on the topic, and the streaming rate."""
    api = ApiServer(dms)
    try:
        client = api.client()
        arn = next(t["ReplicationTaskArn"] for t in client.describe_replication_tasks()["ReplicationTasks"]
                   if t["ReplicationTaskIdentifier"] == "kcdc")
        workload(src, updates, 100)
        timed = _dms_backlog(broker, updates, lambda: client.start_replication_task(
            ReplicationTaskArn=arn, StartReplicationTaskType="resume-processing"))
    finally:
        api.close()
    dms.dms("task", "stop", "kcdc")
    return timed


def _dms_backlog(broker: str, updates: int, resume) -> tuple[float, float]:
    """OpenDMS's task resumed by ``resume()`` on a backlog of ``updates``: the seconds from the resume until a
    read_committed consumer sees the last update, and the streaming rate (the changes after the first commit
    to arrive over the time they took, without the start-up)."""
    base = _end(broker, "dms-cdc", "read_committed")
    started = time.monotonic()
    resume()
    first, end = _growth(broker, "dms-cdc", base, "read_committed")
    _wait_last_update(broker, "dms-cdc", updates)
    done = time.monotonic()
    return done - started, (updates - (end - base - 1)) / (done - first)  # less the transaction marker


def _end(broker: str, topic: str, isolation: str) -> int:
    """The topic's end offset as a consumer of that isolation sees it (its one partition)."""
    consumer = KafkaConsumer(bootstrap_servers=broker, isolation_level=isolation, enable_auto_commit=False,
                             group_id=None)
    try:
        part = TopicPartition(topic, 0)
        return consumer.end_offsets([part])[part] if topic in consumer.topics() else 0
    finally:
        consumer.close()


def _growth(broker: str, topic: str, base: int, isolation: str, timeout: float = 3600) -> tuple[float, int]:
    """Until the topic's end passes ``base``: the monotonic time then, and the end."""
    consumer = KafkaConsumer(bootstrap_servers=broker, isolation_level=isolation, enable_auto_commit=False,
                             group_id=None)
    part = TopicPartition(topic, 0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            end = consumer.end_offsets([part])[part]
            if end > base:
                return time.monotonic(), end
            time.sleep(0.05)
    finally:
        consumer.close()
    raise RuntimeError(f"nothing reached topic {topic} in {timeout:.0f} s")


def _task_seconds(dms, name: str, source: str, target: str, kind: str) -> float:
    create_task(dms, name, source, target, kind, "bench")
    return load_seconds(dms, name)


def _producer(broker: str) -> Producer:
    return Producer({"bootstrap.servers": broker, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                     "queue.buffering.max.messages": 500_000})


def _send(producer: Producer, topic: str, key: bytes, value: bytes, headers: list | None = None) -> None:
    while True:
        try:
            producer.produce(topic, value, key, headers=headers)
            return
        except BufferError:  # the local queue is full: let it send some
            producer.poll(0.05)


def _bare_load(src: str, broker: str, topic: str) -> float:
    records = Records(RecordSettings())
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
                _send(producer, topic, record.key.encode(), record.value)
        producer.flush()
    finally:
        conn.close()
    return time.monotonic() - started


def _bare_changes(src: str, broker: str, topic: str, updates: int) -> float:
    records = Records(RecordSettings())
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
        _send(producer, topic, record.key.encode(), record.value, [("dms-position", record.position.encode())])
    producer.flush()
    return time.monotonic() - started


def _wait_last_update(broker: str, topic: str, last_id: int, timeout: float = 7200) -> None:
    """Until a read_committed consumer sees the update of row ``last_id``, the workload's last change (the
    topic's one partition keeps source order): the tail only, so the watch takes little CPU from the run."""
    consumer = KafkaConsumer(bootstrap_servers=broker, isolation_level="read_committed", enable_auto_commit=False,
                             group_id=None)
    deadline = time.monotonic() + timeout
    part = TopicPartition(topic, 0)
    try:
        consumer.assign([part])
        while time.monotonic() < deadline:
            end = consumer.end_offsets([part])[part]  # the last stable offset, read_committed
            consumer.seek(part, max(0, end - 5))  # the last records, and transaction markers
            for messages in consumer.poll(timeout_ms=500).values():
                for m in messages:
                    doc = json.loads(m.value)
                    if doc["metadata"]["operation"] == "update" and doc["data"]["id"] == last_id:
                        return
            time.sleep(0.1)
        raise RuntimeError(f"the update of row {last_id} did not reach topic {topic} in {timeout:.0f} s")
    finally:
        consumer.close()
