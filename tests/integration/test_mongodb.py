"""MongoDB -> PostgreSQL through the real `dms` CLI and workers (mongo-java-server as the replica set, see
docs/engines/mongodb.md): full-load-and-cdc in document mode while a writer changes the collection, every
document equal after a round trip of its JSON; and a server outside a replica set refused in one line."""

from __future__ import annotations

import datetime
import json
import random
import threading
from typing import Any

import pytest
from bson import Decimal128, ObjectId
from dms_env import DmsEnv, connect, wait_for

from connectors.mongodb.values import from_json

pytestmark = pytest.mark.integration

DOCS = 1_000
SEGMENTED = 2_000
UTC = datetime.UTC


def _doc(i: int, rng: random.Random) -> dict[str, Any]:
    return {"_id": ObjectId() if i % 3 else i, "n": i, "name": f"customer {i} 'é' \"q\"",
            "when": datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=37 * i),
            "price": Decimal128(f"{rng.randint(0, 10**8) / 100:.2f}"),
            "items": [{"sku": f"s{j}", "qty": j} for j in range(i % 4)], "address": {"zip": f"{i:05d}"}}


def _endpoint(dms: DmsEnv, name: str, port: int, database: str) -> str:
    dms.dms("endpoint", "create", name, "--type", "source", "--engine", "mongodb", "--mongo-db-settings",
            json.dumps({"ServerName": "127.0.0.1", "Port": port, "DatabaseName": database}))
    return name


def _task(dms: DmsEnv, task: str, source: str, target: str, database: str, migration: str) -> None:
    """A task of every collection of ``database``."""
    mappings = dms.tmp / f"{task}-mappings.json"
    mappings.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                               "object-locator": {"schema-name": database, "table-name": "%"},
                                               "rule-action": "include"}]}))
    dms.dms("task", "create", task, "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", migration, "--table-mappings", str(mappings))


def _target_docs(url: str, table: str) -> dict[str, Any]:
    conn = connect(url)
    cur = conn.cursor()
    cur.execute(f'SELECT _id, _doc::text FROM {table}')
    found = {k: doc if doc is None else from_json(doc) for k, doc in cur.fetchall()}
    conn.close()
    return found


def _source_docs(coll) -> dict[str, Any]:
    return {str(d["_id"]) if not isinstance(d["_id"], int) else str(d["_id"]): d for d in coll.find()}


class _Writer(threading.Thread):
    """Inserts, updates and deletes on the collection until stopped, as an application would."""

    def __init__(self, coll) -> None:
        super().__init__(daemon=True)
        self.coll, self.made, self.halt = coll, {"insert": 0, "update": 0, "delete": 0}, threading.Event()

    def run(self) -> None:
        rng, i = random.Random(5), 0
        while not self.halt.is_set() and i < 500:
            i += 1
            self.coll.insert_one(_doc(100_000 + i, rng))
            self.made["insert"] += 1
            self.made["update"] += self.coll.update_one({"n": rng.randrange(DOCS)},
                                                        {"$set": {"name": f"changed {i}"}}).modified_count
            if i % 4 == 0:
                self.made["delete"] += self.coll.delete_one({"n": rng.randrange(DOCS)}).deleted_count

    def stop(self) -> dict[str, int]:
        self.halt.set()
        self.join(30)
        return self.made


def test_full_load_and_cdc_from_mongodb_into_postgres_with_writes_during_the_load(dms, mongodb, dst):
    client = mongodb.client()
    database = f"shop_{dms.suffix}"
    coll = client[database]["orders"]
    rng = random.Random(3)
    coll.insert_many([_doc(i, rng) for i in range(DOCS)])
    source = _endpoint(dms, f"mongo-{dms.suffix}", mongodb.port, database)
    target = dms.endpoint(f"pg-{dms.suffix}", "target", dst)
    task = f"mongo-pg-{dms.suffix}"
    _task(dms, task, source, target, database, "full-load-and-cdc")
    writer = _Writer(coll)
    dms.start_worker()
    writer.start()
    dms.dms("task", "start", task)
    dms.wait_live(task)
    made = writer.stop()
    assert made["insert"] > 10 and made["update"] > 5, made
    coll.insert_one(_doc(200_000, rng))  # an insert after the load, whenever the writer's landed
    coll.update_many({"n": {"$lt": 20}}, {"$set": {"after": {"load": True}}})
    coll.delete_many({"n": {"$gte": 20, "$lt": 30}})
    coll.replace_one({"n": 30}, {"_id": 30, "replaced": [1, 2, 3]})
    table = f'"{database}"."orders"'
    want = _source_docs(client.get_database(database, codec_options=coll.codec_options.with_options(
        tz_aware=True, tzinfo=UTC))["orders"])
    try:
        wait_for(lambda: _target_docs(dst, table) == want, 90, "every document on the target")
    except AssertionError:
        got = _target_docs(dst, table)
        bad = [(k, got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)]
        raise AssertionError(f"{len(bad)} differ, e.g. {bad[:3]}\n{dms.worker_log()[-3000:]}") from None
    stats = dms.stats(task)[f"{database}.orders"]
    assert stats["TableState"] == "Table completed" and stats["Inserts"] >= 1, stats
    dms.dms("task", "stop", task)
    dms.wait_status(task, "stopped")
    dms.dms("task", "delete", task)
    client.drop_database(database)
    client.close()


def _chunk_spans(log: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of each chunk the worker log reports loaded (JSON lines of structlog)."""
    spans = []
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "chunk_loaded":
            end = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            spans.append((end - float(event["seconds"]), end))
    return spans


def test_full_load_in_parallel_id_segments_loads_every_document_once(dms, mongodb, dst):
    """DMS's autosegmentation (table-settings parallel-load partitions-auto, number-of-partitions 4): the
    collection is cut into 4 ranges of ObjectIds, each loaded by its own job; the jobs overlap in time and
    every document arrives once (the statistics count each once, the target holds each)."""
    client = mongodb.client()
    database = f"seg_{dms.suffix}"
    coll = client[database]["events"]
    coll.insert_many([{"n": i, "body": "x" * 50, "tags": [i % 5, i % 7], "at": {"day": i % 30}}
                      for i in range(SEGMENTED)])
    source = _endpoint(dms, f"mongo-seg-{dms.suffix}", mongodb.port, database)
    target = dms.endpoint(f"pg-seg-{dms.suffix}", "target", dst)
    mappings = dms.tmp / "seg-mappings.json"
    mappings.write_text(json.dumps({"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": database, "table-name": "%"}},
        {"rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
         "object-locator": {"schema-name": database, "table-name": "events"},
         "parallel-load": {"type": "partitions-auto", "number-of-partitions": 4}}]}))
    task = f"mongo-seg-{dms.suffix}"
    dms.dms("task", "create", task, "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load", "--table-mappings", str(mappings))
    dms.start_worker(concurrency=4)
    dms.dms("task", "start", task)
    dms.wait_status(task, "stopped", timeout=180)
    stats = dms.stats(task)[f"{database}.events"]
    assert stats["TableState"] == "Table completed" and stats["FullLoadRows"] == SEGMENTED, stats
    want = _source_docs(coll)
    assert _target_docs(dst, f'"{database}"."events"') == want
    spans = sorted(_chunk_spans(dms.worker_log()))
    assert len(spans) == 4, dms.worker_log()[-3000:]
    overlapping = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
    assert overlapping, f"the segments ran one after another: {spans}"
    client.drop_database(database)
    client.close()


def _start_refused(dms, task: str) -> str:
    """`dms task start` refused: exit 2, no traceback, one line (returned)."""
    proc = dms.dms("task", "start", task, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_capture_from_a_server_outside_a_replica_set_is_refused_in_one_line(dms, mongodb_standalone, dst):
    source = _endpoint(dms, f"alone-{dms.suffix}", mongodb_standalone.port, "db")
    target = dms.endpoint(f"pg-alone-{dms.suffix}", "target", dst)
    task = f"mongo-alone-{dms.suffix}"
    _task(dms, task, source, target, "db", "full-load-and-cdc")
    assert "is not a replica set" in _start_refused(dms, task)


def test_cdc_without_update_lookup_is_refused_in_one_line(dms, mongodb, dst):
    """Without updateLookup an update carries only its changed fields: refused, never dropped."""
    source = f"nolookup-{dms.suffix}"
    dms.dms("endpoint", "create", source, "--type", "source", "--engine", "mongodb", "--mongo-db-settings",
            json.dumps({"ServerName": "127.0.0.1", "Port": mongodb.port, "DatabaseName": "db",
                        "UseUpdateLookUp": False}))
    target = dms.endpoint(f"pg-nolookup-{dms.suffix}", "target", dst)
    task = f"mongo-nolookup-{dms.suffix}"
    _task(dms, task, source, target, "db", "full-load-and-cdc")
    assert "UseUpdateLookUp false is not supported" in _start_refused(dms, task)


def _target_tables(url: str, schema: str) -> set[str]:
    conn = connect(url)
    cur = conn.cursor()
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    found = {name for (name,) in cur.fetchall()}
    conn.close()
    return found


def test_collections_created_and_dropped_during_cdc_follow_the_source_on_postgres(dms, mongodb, dst):
    """A collection the rules select created during CDC arrives with its documents and their changes; a
    dropped one is dropped on the target (HandleSourceTableDropped, default true); the rest goes on."""
    client = mongodb.client()
    database = f"life_{dms.suffix}"
    db = client[database]
    db["orders"].insert_many([{"n": i} for i in range(20)])
    db["old"].insert_many([{"n": i} for i in range(5)])
    source = _endpoint(dms, f"mongo-life-{dms.suffix}", mongodb.port, database)
    target = dms.endpoint(f"pg-life-{dms.suffix}", "target", dst)
    task = f"mongo-life-{dms.suffix}"
    _task(dms, task, source, target, database, "full-load-and-cdc")
    dms.start_worker()
    dms.dms("task", "start", task)
    dms.wait_live(task)
    assert _target_tables(dst, database) >= {"orders", "old"}
    db["orders"].insert_one({"n": 100})
    db["fresh"].insert_many([{"_id": i, "v": i} for i in range(5)])  # created by its first insert
    db["orders"].update_one({"n": 0}, {"$set": {"n": -1}})
    db["old"].drop()
    db["fresh"].update_one({"_id": 1}, {"$set": {"v": "one"}})
    db["fresh"].delete_one({"_id": 4})
    db["orders"].insert_one({"n": 101})
    want = {name: _source_docs(db[name]) for name in ("orders", "fresh")}
    try:
        wait_for(lambda: "old" not in _target_tables(dst, database) and all(
            _target_docs(dst, f'"{database}"."{name}"') == docs for name, docs in want.items()), 60,
            "fresh created with its documents, old dropped, orders equal")
    except AssertionError:
        raise AssertionError(f"{_target_tables(dst, database)}\n{dms.worker_log()[-3000:]}") from None
    stats = dms.stats(task)
    assert f"{database}.old" not in stats and stats[f"{database}.fresh"]["Ddls"] == 1, stats
    assert all(s["TableState"] != "Table error" for s in stats.values()), stats
    assert dms.describe(task)["Status"] == "running"
    dms.dms("task", "stop", task)
    dms.wait_status(task, "stopped")
    client.drop_database(database)
    client.close()
