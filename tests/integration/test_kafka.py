"""PostgreSQL -> Apache Kafka through the dms CLI, checked by a consumer as an application would read the
topic (read_committed): every change exactly once, in source order, after writes during the load and a
worker killed while changes flow; and the endpoint's bad input, one clear line each."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from dms_env import ITEMS, SEED, SELECT_ALL, SeqWriter, execute, rows, wait_for
from kafka import KafkaConsumer, TopicPartition
from servers_kafka import SASL_PASSWORD, SASL_USER
from services import fresh_db

pytestmark = pytest.mark.integration



def consume(broker: str, topic: str, changes_only: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """Every committed record of the topic as (partition, JSON), each partition in offset order; with
    ``changes_only``, only those CDC sent (they carry their source position in a header)."""
    consumer = KafkaConsumer(bootstrap_servers=broker, isolation_level="read_committed", enable_auto_commit=False,
                             group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: dict[int, list] = {p.partition: [] for p in parts}
        deadline = time.monotonic() + 60
        while any(consumer.position(p) < ends[p] for p in parts) and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500).items():
                out[tp.partition] += [json.loads(m.value) for m in messages if m.offset < ends[tp] and (
                    not changes_only or any(k == "dms-position" for k, _ in m.headers or ()))]
        return [(p, doc) for p in sorted(out) for doc in out[p]]
    finally:
        consumer.close()


def _kafka_endpoint(dms, name: str, settings: dict[str, Any], check: bool = True):
    return dms.dms("endpoint", "create", name, "--type", "target", "--engine", "kafka",
                   "--kafka-settings", json.dumps(settings), check=check)


def test_postgres_to_kafka_every_change_exactly_once_in_order_through_a_worker_kill(dms, pg, kafka_server):
    src = fresh_db(pg)
    execute(src, ITEMS, SEED)
    topic = f"items-{dms.suffix}"
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    _kafka_endpoint(dms, f"kafka-{dms.suffix}", {"Broker": kafka_server.broker, "Topic": topic,
                                                  "CheckpointTopic": f"checkpoints-{dms.suffix}",
                                                  "MessageFormat": "json-unformatted",
                                                  "IncludeTransactionDetails": True})
    assert "OK" in dms.dms("endpoint", "test", f"kafka-{dms.suffix}").stdout
    mappings = dms.tmp / "mappings.json"
    mappings.write_text(json.dumps(SELECT_ALL))
    dms.dms("task", "create", "tokafka", "--source", source, "--target", f"kafka-{dms.suffix}", "--instance",
            dms.instance, "--migration-type", "full-load-and-cdc", "--table-mappings", str(mappings))
    worker = dms.start_worker()
    dms.dms("task", "start", "tokafka")
    writer = SeqWriter(src)
    writer.start()  # during the load
    dms.wait_live("tokafka")
    time.sleep(1.0)
    dms.kill(worker)  # mid-stream: whatever batch it had open is aborted, never half-visible
    time.sleep(1.0)
    dms.start_worker()
    time.sleep(2.0)
    last = writer.stop() + 1
    execute(src, f"UPDATE items SET seq = {last} WHERE id = 3000")  # the last change, to wait for

    def cdc() -> list[tuple[int, dict[str, Any]]]:
        return [(p, d) for p, d in consume(kafka_server.broker, topic) if d["metadata"]["operation"] != "load"
                and d["metadata"]["record-type"] == "data"]

    wait_for(lambda: any(d["data"].get("seq") == last for _, d in cdc()), 120, "the last change to reach the topic")
    records = cdc()
    # Each record's change number (a delete's from the writer's note of it): once each, in order, no gap.
    seqs = [writer.deleted[d["data"]["id"]] if d["metadata"]["operation"] == "delete" else d["data"]["seq"]
            for _, d in records]
    assert len(seqs) == len(set(seqs)), "a change reached the topic twice"
    assert seqs == sorted(seqs), "changes out of source order"
    assert seqs == list(range(seqs[0], last + 1)), "a change is missing"
    assert {p for p, _ in records} == {records[0][0]}  # schema.table: one partition for the table's changes
    meta = records[0][1]["metadata"]
    assert (meta["partition-key-type"], meta["schema-name"], meta["table-name"]) == ("schema-table", "public", "items")
    assert {"transaction-id", "commit-timestamp", "stream-position"} <= set(meta)

    # The topic folded into rows (the latest image per key) is the source table.
    image: dict[int, dict] = {}
    for _, doc in consume(kafka_server.broker, topic):
        if doc["metadata"]["record-type"] != "data":
            continue
        if doc["metadata"]["operation"] == "delete":
            image.pop(doc["data"]["id"], None)
        else:
            image[doc["data"]["id"]] = {**image.get(doc["data"]["id"], {}), **doc["data"]}
    assert sorted((r["id"], r["seq"], r.get("t")) for r in image.values()) == rows(src, "items", "id")
    assert dms.describe("tokafka")["Status"] == "running"
    assert "source and target are identical (1 tables)" in dms.dms("task", "validate", "tokafka").stdout


def test_bad_kafka_endpoints_say_what_is_wrong_in_one_line(dms, kafka_server):
    unknown = _kafka_endpoint(dms, f"k-typo-{dms.suffix}", {"Broker": kafka_server.broker, "Topik": "x"}, check=False)
    assert unknown.returncode == 2 and "KafkaSettings has no key 'Topik': did you mean Topic?" in unknown.stderr

    _kafka_endpoint(dms, f"k-away-{dms.suffix}", {"Broker": "127.0.0.1:1", "Topic": "x"})
    away = dms.dms("endpoint", "test", f"k-away-{dms.suffix}", check=False)
    assert away.returncode != 0 and "Traceback" not in away.stderr
    assert "the broker at 127.0.0.1:1 does not answer" in away.stderr and len(away.stderr.strip().splitlines()) == 1

    sasl = {"Broker": f"127.0.0.1:{kafka_server.sasl_port}", "Topic": f"sasl-{dms.suffix}",
            "SecurityProtocol": "sasl-plaintext", "SaslMechanism": "plain", "SaslUsername": SASL_USER}
    _kafka_endpoint(dms, f"k-bad-{dms.suffix}", {**sasl, "SaslPassword": "wrong"})
    bad = dms.dms("endpoint", "test", f"k-bad-{dms.suffix}", check=False)
    # kafka-python may show a refused login only as a bootstrap timeout: the line then names both causes.
    assert bad.returncode == 2 and "refused the SASL login" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "wrong" not in bad.stderr
    _kafka_endpoint(dms, f"k-good-{dms.suffix}", {**sasl, "SaslPassword": SASL_PASSWORD})
    assert "OK" in dms.dms("endpoint", "test", f"k-good-{dms.suffix}").stdout
    shown = dms.dms("endpoint", "describe", f"k-good-{dms.suffix}").stdout
    assert "KafkaSettings" in shown and "sasl-plaintext" in shown and SASL_PASSWORD not in shown


def test_a_message_over_message_max_bytes_fails_its_table(dms, pg, kafka_server):
    src = fresh_db(pg)
    execute(src, "CREATE TABLE small (id int PRIMARY KEY, t text)", "CREATE TABLE big (id int PRIMARY KEY, t text)",
            "INSERT INTO small VALUES (1, 'a')", "INSERT INTO big VALUES (1, repeat('x', 5000))")
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    _kafka_endpoint(dms, f"k-max-{dms.suffix}", {"Broker": kafka_server.broker, "Topic": f"max-{dms.suffix}",
                                                 "CheckpointTopic": f"checkpoints-{dms.suffix}",
                                                 "MessageMaxBytes": 1000})
    mappings = dms.tmp / "mappings.json"
    mappings.write_text(json.dumps(SELECT_ALL))
    dms.dms("task", "create", "kmax", "--source", source, "--target", f"k-max-{dms.suffix}", "--instance",
            dms.instance, "--migration-type", "full-load", "--table-mappings", str(mappings))
    dms.start_worker()
    dms.dms("task", "start", "kmax")
    wait_for(lambda: dms.stats("kmax").get("public.big", {}).get("TableState") == "Table error", 60, "big to fail")
    stats = dms.stats("kmax")
    assert "MessageMaxBytes" in stats["public.big"]["TableError"]
    wait_for(lambda: dms.stats("kmax")["public.small"]["TableState"] == "Table completed", 60, "small to load")


def test_object_mapping_routes_a_table_to_its_topic_and_keys_and_before_images_follow_the_task(kafka_server):
    """What a task's object-mapping rule and BeforeImageSettings do to the records (TaskDef.target_options puts
    them on the target's endpoint), through the connector on the real broker."""
    from connectors.base import Batch, Change, Column, Endpoint, Op, TableId, TableSchema
    from connectors.model.catalog import TaskDef
    from connectors.positions import Position
    from connectors.registry import open_target

    suffix = secrets.token_hex(3)
    rules = [*SELECT_ALL["rules"],
             {"rule-type": "object-mapping", "rule-id": "2", "rule-name": "2", "rule-action": "map-record-to-record",
              "object-locator": {"schema-name": "public", "table-name": "orders"},
              "kafka-target-topic": f"orders-{suffix}",
              "mapping-parameters": {"partition-key-type": "attribute-name", "partition-key-name": "customer"}}]
    task = TaskDef("routed", "src", "dst", "ri", "full-load-and-cdc", json.dumps({"rules": rules}),
                   json.dumps({"BeforeImageSettings": {"EnableBeforeImage": True, "FieldName": "before-image",
                                                       "ColumnFilter": "all"}}))
    extra = {"Broker": kafka_server.broker, "Topic": f"other-{suffix}", "CheckpointTopic": f"checkpoints-{suffix}",
             **task.target_options()}
    target = open_target(Endpoint("routed", "target", "kafka", extra=extra))
    orders = TableSchema(TableId("public", "orders"), (Column("id", "int8", False), Column("customer", "text")),
                         ("id",))
    other = TableSchema(TableId("public", "other"), (Column("id", "int8", False),), ("id",))
    try:
        for table in (orders, other):
            target.prepare(table, "drop")
        assert target.load(orders, [Batch(2, [{"id": 1, "customer": "ann"}, {"id": 2, "customer": "bob"}])]) == 2
        assert target.load(other, [Batch(1, [{"id": 7}])]) == 1
        target.apply("routed", {orders: [Change(orders.table, Op.UPDATE, Position("l", 5, 1, "5"),
                                                {"id": 1, "customer": "ann"}, {"id": 1, "customer": "cat"})]})
        assert [r for rows in target.read(orders) for r in rows] == [{"id": 1, "customer": "cat"},
                                                                     {"id": 2, "customer": "bob"}]
    finally:
        target.close()
    routed = [d for _, d in consume(kafka_server.broker, f"orders-{suffix}") if d["metadata"]["record-type"] == "data"]
    assert [d["metadata"]["partition-key-type"] for d in routed] == ["attribute-name"] * 3
    assert routed[-1]["before-image"] == {"id": 1, "customer": "ann"} and routed[-1]["data"]["customer"] == "cat"
    rest = [d for _, d in consume(kafka_server.broker, f"other-{suffix}") if d["metadata"]["record-type"] == "data"]
    assert [(d["data"], d["metadata"]["partition-key-type"]) for d in rest] == [({"id": 7}, "primary-key")]


def test_without_transactions_every_change_record_carries_its_source_position(kafka_server):
    """ExactlyOnce false (a broker or a user without transactions): at-least-once, each change's position in the
    header dms-position, by which a consumer drops what it already has; the checkpoint still reads back."""
    from connectors.base import Change, Column, Endpoint, Op, TableId, TableSchema
    from connectors.positions import Position
    from connectors.registry import open_target

    suffix = secrets.token_hex(3)
    target = open_target(Endpoint("plain", "target", "kafka", extra={
        "Broker": kafka_server.broker, "Topic": f"plain-{suffix}", "CheckpointTopic": f"checkpoints-{suffix}",
        "ExactlyOnce": "false"}))
    table = TableSchema(TableId("public", "t"), (Column("id", "int8", False),), ("id",))
    changes = [Change(table.table, Op.INSERT, Position("l", n, 1, str(n)), None, {"id": n}) for n in (3, 4)]
    try:
        target.prepare(table, "drop")
        target.apply("plain", {table: changes})
        target.apply("plain", {table: changes[1:]})  # sent again, as after a crash before the checkpoint
        assert target.applied("plain") == {table.table: changes[1].position}
        assert [r for rows in target.read(table) for r in rows] == [{"id": 3}, {"id": 4}]
    finally:
        target.close()
    consumer = KafkaConsumer(f"plain-{suffix}", bootstrap_servers=kafka_server.broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, group_id=None)
    try:
        seen = [dict(m.headers).get("dms-position") for m in consumer if b'"data"' in m.value]
    finally:
        consumer.close()
    assert seen == [p.encode() for p in ("l|3|1|3", "l|4|1|4", "l|4|1|4")]  # the duplicate is known by it


def test_the_record_producer_names_a_refused_login_and_an_absent_broker_in_one_line(kafka_server, monkeypatch):
    """The records' producer (librdkafka) classifies its failures as the endpoint test does (kafka-python's)."""
    from connectors.base import Change, Column, Endpoint, Op, TableId, TableSchema
    from connectors.errors import ConfigError, TransientError
    from connectors.kafka import producer

    monkeypatch.setattr(producer, "INIT_SECONDS", 5.0)  # the wait for a broker that will not answer: shorter
    from connectors.positions import Position
    from connectors.registry import open_target

    table = TableSchema(TableId("public", "t"), (Column("id", "int4", False),), ("id",))
    changes = {table: [Change(table.table, Op.INSERT, Position("l", 1, 1, "1"), None, {"id": 1})]}
    suffix = secrets.token_hex(3)
    sasl = {"Broker": f"127.0.0.1:{kafka_server.sasl_port}", "SecurityProtocol": "sasl-plaintext",
            "SaslMechanism": "plain"}
    for extra, error, words in ((sasl, ConfigError, "the broker refused the SASL login"),
                                ({"Broker": "127.0.0.1:1"}, TransientError,
                                 "the broker at 127.0.0.1:1 does not answer")):
        target = open_target(Endpoint("rd", "target", "kafka", user=SASL_USER, password="wrong",
                                      extra={**extra, "Topic": f"rd-{suffix}"}))
        target._topics.update({f"rd-{suffix}", target.checkpoints})  # straight to the producer
        try:
            with pytest.raises(error) as raised:
                target.apply("rd", changes)
        finally:
            target.close()
        assert words in str(raised.value) and "\n" not in str(raised.value) and "wrong" not in str(raised.value)
