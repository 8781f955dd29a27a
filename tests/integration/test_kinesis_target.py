"""Kinesis through the real `dms` CLI on kinesalite: --kinesis-settings, `endpoint test` with one line per
mistake, and PostgreSQL -> Kinesis full load and CDC whose records fold back into the source's rows."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from dms_env import ITEMS, SEED, SELECT_ALL, SeqWriter, execute, wait_for
from servers_kinesis import CREDENTIALS, KinesisServer

from connectors.base import Endpoint, TableRule
from connectors.errors import DmsError
from connectors.registry import open_source, open_target

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"


def arn(stream: str) -> str:
    return f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"


def kinesis_endpoint(dms, name: str, server, stream: str, **settings) -> str:
    given = {"StreamArn": arn(stream), "EndpointUrl": server.url, "IncludeNullAndEmpty": True, **settings}
    dms.dms("endpoint", "create", name, "--type", "target", "--engine", "kinesis",
            "--kinesis-settings", json.dumps(given))
    return name


@pytest.fixture
def stream(kinesis_server) -> str:
    name = f"it-{secrets.token_hex(4)}"
    kinesis_server.client().create_stream(StreamName=name, ShardCount=2)
    return name


def test_endpoint_test_names_each_mistake_in_one_line(dms, kinesis_server, stream, monkeypatch):
    kinesis_endpoint(dms, "good", kinesis_server, stream)
    assert "OK: connected to kinesis endpoint good" in dms.dms("endpoint", "test", "good").stdout
    described = json.loads(dms.dms("endpoint", "describe", "good").stdout)["Endpoint"]["KinesisSettings"]
    assert described["StreamArn"] == arn(stream) and described["EndpointUrl"] == kinesis_server.url
    good = {"StreamArn": arn(stream), "EndpointUrl": kinesis_server.url}
    mistakes = {  # checked in this process (each `dms` costs seconds on a busy machine)
        "missing": ({"StreamArn": arn("no-such-stream")}, "(stream no-such-stream) does not exist"),
        "not-arn": ({"StreamArn": "my-stream"}, "is not a stream's ARN: give arn:aws:kinesis:REGION"),
        "away": ({"EndpointUrl": "http://127.0.0.1:9"}, "cannot reach kinesis endpoint away (stream"),
    }
    for name, (change, message) in mistakes.items():
        problems = _problems(Endpoint(name, "target", "kinesis", extra={**good, **change}))
        assert len(problems) == 1 and message in problems[0] and "\n" not in problems[0], (name, problems)
    for key in CREDENTIALS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (problem,) = _problems(Endpoint("bare", "target", "kinesis", extra=good))
    assert "no AWS credentials: set AWS_ACCESS_KEY_ID" in problem


def _problems(ep: Endpoint) -> list[str]:
    try:
        target = open_target(ep)
    except DmsError as exc:
        return [str(exc)]
    try:
        return target.check()
    finally:
        target.close()


def test_full_load_and_cdc_fold_back_into_the_source_rows(dms, src, kinesis_server, stream):
    execute(src, ORDERS, "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 2000) g")
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    target = kinesis_endpoint(dms, f"kin-{dms.suffix}", kinesis_server, stream)
    (dms.tmp / "all.json").write_text(json.dumps({"rules": [{
        "rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
        "object-locator": {"schema-name": "public", "table-name": "orders"}}]}))
    dms.dms("task", "create", "to-kinesis", "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    dms.start_worker()
    dms.dms("task", "start", "to-kinesis")
    dms.wait_live("to-kinesis")
    execute(src, "UPDATE orders SET t = 'changed' WHERE id % 100 = 0", "DELETE FROM orders WHERE id % 7 = 0",
            "UPDATE orders SET id = id + 100000 WHERE id % 13 = 0", "INSERT INTO orders VALUES (99999, 1, NULL, 2.5)")
    src_ep = Endpoint("s", "source", "postgres", *_pg(src))
    kin_ep = Endpoint("k", "target", "kinesis", extra={"StreamArn": arn(stream), "EndpointUrl": kinesis_server.url,
                                                        "IncludeNullAndEmpty": "true"})
    source_conn, target_conn = open_source(src_ep), open_target(kin_ep)
    try:
        (schema,) = source_conn.tables([TableRule("public", "orders", "explicit")])
        expected = [r for b in source_conn.snapshot(schema, ordered=True) for r in b.rows()]
        wait_for(lambda: [r for rows in target_conn.read(schema) for r in rows] == expected, 90,
                 "the folded stream to equal the source")
    finally:
        source_conn.close()
        target_conn.close()
    assert "source and target are identical (1 tables)" in dms.dms("task", "validate", "to-kinesis").stdout
    raw = _raw(kinesis_server, stream)  # DMS's layout, partition keys as DMS chooses them, our position
    loads = [(k, d) for k, d in raw if d["metadata"].get("operation") == "load"]
    assert len(loads) == 2000 and all(k == str(d["data"]["id"]) for k, d in loads)
    changes = [(k, d) for k, d in raw if d["metadata"].get("operation") in ("insert", "update", "delete")]
    assert changes and all(k == "public.orders" and d["metadata"]["partition-key-type"] == "schema-table"
                           and d["metadata"]["opendms-position"] and set(d) == {"data", "metadata"} for k, d in changes)
    moved = [d for _, d in changes if "opendms-old-key" in d["metadata"]]
    assert moved and all(d["metadata"]["opendms-old-key"][0] % 13 == 0 for d in moved)


def test_object_mapping_keys_a_table_and_before_images_follow_the_task(kinesis_server, stream):
    """A task's object-mapping rule (partition-key-type attribute-name) and BeforeImageSettings (TaskDef.
    target_options puts them on the endpoint) shape the records, as for Kafka (connectors/streams/routes.py)."""
    from connectors.base import Batch, Change, Column, Op, TableId, TableSchema
    from connectors.model.catalog import TaskDef
    from connectors.positions import Position

    rules = [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
              "object-locator": {"schema-name": "%", "table-name": "%"}},
             {"rule-type": "object-mapping", "rule-id": "2", "rule-name": "2", "rule-action": "map-record-to-record",
              "object-locator": {"schema-name": "public", "table-name": "orders"},
              "mapping-parameters": {"partition-key-type": "attribute-name", "partition-key-name": "customer"}}]
    task = TaskDef("routed", "src", "dst", "ri", "full-load-and-cdc", json.dumps({"rules": rules}),
                   json.dumps({"BeforeImageSettings": {"EnableBeforeImage": True, "FieldName": "before-image",
                                                       "ColumnFilter": "all"}}))
    target = open_target(Endpoint("routed", "target", "kinesis", extra={
        "StreamArn": arn(stream), "EndpointUrl": kinesis_server.url, **task.target_options()}))
    orders = TableSchema(TableId("public", "orders"), (Column("id", "int8", False), Column("customer", "text")),
                         ("id",))
    other = TableSchema(TableId("public", "other"), (Column("id", "int8", False),), ("id",))
    try:
        assert target.load(orders, [Batch(2, [{"id": 1, "customer": "ann"}, {"id": 2, "customer": "bob"}])]) == 2
        assert target.load(other, [Batch(1, [{"id": 7}])]) == 1
        target.apply("routed", {orders: [Change(orders.table, Op.UPDATE, Position("l", 5, 1, "5"),
                                                {"id": 1, "customer": "ann"}, {"id": 1, "customer": "cat"})],
                                other: [Change(other.table, Op.DELETE, Position("l", 6, 1, "6"), {"id": 7}, None)]})
        assert [r for rows in target.read(orders) for r in rows] == [{"id": 1, "customer": "cat"},
                                                                     {"id": 2, "customer": "bob"}]
        assert [r for rows in target.read(other) for r in rows] == []
    finally:
        target.close()
    data = [(k, d) for k, d in _raw(kinesis_server, stream) if d["metadata"]["record-type"] == "data"]
    routed = sorted(((k, d) for k, d in data if d["metadata"]["table-name"] == "orders"),
                    key=lambda kd: kd[1]["metadata"]["operation"] == "update")
    assert [(k, d["metadata"]["partition-key-type"]) for k, d in routed] in (
        [("ann", "attribute-name"), ("bob", "attribute-name"), ("cat", "attribute-name")],
        [("bob", "attribute-name"), ("ann", "attribute-name"), ("cat", "attribute-name")])
    assert routed[-1][1]["before-image"] == {"id": 1, "customer": "ann"} and routed[-1][1]["data"]["customer"] == "cat"
    rest = sorted((d["metadata"]["operation"], k, d["metadata"]["partition-key-type"], d.get("before-image"))
                  for k, d in data if d["metadata"]["table-name"] == "other")
    assert rest == [("delete", "public.other", "schema-table", {"id": 7}), ("load", "7", "primary-key", None)]


@pytest.fixture
def kinesis_own() -> Iterator[KinesisServer]:
    """A kinesalite of this test's own: the shared one holds every test's streams, and this test reads a
    whole stream again and again (the shared server once stopped answering under that, late in a run)."""
    server = KinesisServer(private=True).start()  # before `dms`: it sets the AWS credentials dms is run with
    try:
        yield server
    finally:
        server.stop()


def test_a_worker_killed_mid_cdc_leaves_every_change_at_least_once_in_order_per_key(kinesis_own, dms, src):
    """PostgreSQL -> Kinesis, numbered changes written during the load and after; a worker killed with SIGKILL
    mid-CDC and started again. At least once: every change is in the stream, each record with its source
    position; a record sent again carries the same position and data; dropping those, each key's changes
    (and the table's, one shard under schema-table keys) are in source order."""
    kinesis_server, stream = kinesis_own, f"it-{secrets.token_hex(4)}"
    kinesis_server.client().create_stream(StreamName=stream, ShardCount=2)
    execute(src, ITEMS, SEED)
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    target = kinesis_endpoint(dms, f"kin-{dms.suffix}", kinesis_server, stream, MessageFormat="json-unformatted")
    (dms.tmp / "all.json").write_text(json.dumps(SELECT_ALL))
    dms.dms("task", "create", "kin-kill", "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    worker = dms.start_worker()
    dms.dms("task", "start", "kin-kill")
    writer = SeqWriter(src)
    writer.start()  # during the load
    dms.wait_live("kin-kill")
    wait_for(lambda: writer.seq > 300, 60, "changes during CDC")
    dms.kill(worker)  # SIGKILL mid-stream: a batch may be half sent, its checkpoint not
    dms.start_worker()
    wait_for(lambda: writer.seq > 600, 60, "changes after the kill")
    last = writer.stop() + 1
    execute(src, f"UPDATE items SET seq = {last} WHERE id = 3000")  # the last change, to wait for

    def changes() -> list[tuple[str, dict]]:
        return [(k, d) for k, d in _raw(kinesis_server, stream) if d["metadata"]["record-type"] == "data"
                and d["metadata"]["operation"] != "load"]

    wait_for(lambda: any(d["data"].get("seq") == last for _, d in changes()), 120, "the last change in the stream",
             interval=2)  # each look reads the whole stream
    records = changes()
    assert all(d["metadata"].get("opendms-position") for _, d in records), "a change without its position"
    assert {k for k, _ in records} == {"public.items"}  # schema-table: the table's changes in one shard, in order
    first: dict[str, dict] = {}
    deduped = []
    for _, d in records:  # the shard in sequence order
        position = d["metadata"]["opendms-position"]
        if position in first:
            assert first[position]["data"] == d["data"], "a record sent again differs from the first"
            continue
        first[position] = d
        deduped.append(d)

    def number(d: dict) -> int:
        return writer.deleted[d["data"]["id"]] if d["metadata"]["operation"] == "delete" else d["data"]["seq"]

    seqs = [number(d) for d in deduped]
    assert seqs == sorted(seqs), "changes out of source order"
    assert seqs == list(range(seqs[0], last + 1)), "a change is missing"
    per_key: dict[int, list[int]] = {}
    for d in deduped:
        per_key.setdefault(d["data"]["id"], []).append(number(d))
    assert all(v == sorted(v) for v in per_key.values())
    assert "source and target are identical (1 tables)" in dms.dms("task", "validate", "kin-kill").stdout
    assert dms.describe("kin-kill")["Status"] == "running"


def _raw(server, stream: str) -> list[tuple[str, dict]]:
    client, out = server.client(), []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = client.get_records(ShardIterator=it, Limit=10_000)
            out += [(r["PartitionKey"], json.loads(r["Data"])) for r in page["Records"]]
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    return out


def _pg(url: str) -> tuple:
    u = urlsplit(url)
    return u.hostname, u.port, u.path.lstrip("/"), u.username or "", u.password or ""
