"""MongoDB -> PostgreSQL full-load-and-cdc through the `dms` CLI and workers, document mode, with changes
during the load (issue 17's "what it must show"): N documents (nested objects, arrays, ObjectIds, dates,
decimals) loaded in parallel `_id` segments (parallel-load partitions-auto) while a writer inserts, updates
and deletes; then every document on the target, read back from its `jsonb`, must equal the source's
after a round trip of its JSON (compared one by one in `_id` order, streaming both sides).

The MongoDB server is the tests' (mongo-java-server, tests/servers_mongodb.py); its heap is raised for a
big collection (DMS_MONGODB_HEAP). Figures: insert, load and catch-up seconds, documents/s of the load,
changes made during it, documents compared and how many differ (must be 0).
"""

from __future__ import annotations

import datetime
import json
import random
import threading
import time
from typing import Any

import psycopg2
from bson import Decimal128, ObjectId
from bson.codec_options import CodecOptions

from connectors.mongodb.values import from_json, id_text

from .common import Servers, fresh_db, opendms, print_table, wait_workers
from .mongodb import start_server

BATCH = 10_000
UTC = datetime.UTC


def _docs(first: int, count: int) -> list[dict]:
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    return [{"_id": ObjectId(), "n": i, "name": f"customer {i} 'é' \"q\"",
             "when": start + datetime.timedelta(seconds=i),
             "price": Decimal128(f"{i % 100000}.{i % 100:02d}"), "tags": ["a", str(i % 7), {"k": i % 3}],
             "ref": ObjectId(), "address": {"street": f"{i} main street", "geo": {"lat": 1.5, "lon": -2.5},
                                            "since": start - datetime.timedelta(days=i % 400)}}
            for i in range(first, first + count)]


class _Writer(threading.Thread):
    """Inserts, updates (nested fields, arrays) and deletes until stopped, as an application would."""

    def __init__(self, coll, rows: int, ids: list[ObjectId]) -> None:
        super().__init__(daemon=True)
        self.coll, self.rows, self.ids, self.halt = coll, rows, ids, threading.Event()
        self.made = {"insert": 0, "update": 0, "delete": 0, "errors": 0}

    def run(self) -> None:
        from pymongo.errors import PyMongoError

        rng, i = random.Random(17), 0
        while not self.halt.is_set():
            i += 1
            try:  # by _id: the test server has no other index, and a scan of a big collection takes seconds
                self.coll.insert_one(_docs(self.rows + i, 1)[0])
                self.made["insert"] += 1
                self.made["update"] += self.coll.update_one(
                    {"_id": rng.choice(self.ids)},
                    {"$set": {"address.geo.lat": rng.random(), "price": Decimal128(f"{i}.5")},
                     "$push": {"tags": f"t{i}"}}).modified_count
                if i % 5 == 0:
                    self.made["delete"] += self.coll.delete_one({"_id": rng.choice(self.ids)}).deleted_count
            except PyMongoError:  # a slow answer of the loaded test server: the comparison reads what is there
                self.made["errors"] += 1
            time.sleep(0.01)

    def stop(self) -> dict[str, int]:
        self.halt.set()
        self.join(120)
        return self.made


def _compare(coll, url: str, table: str) -> tuple[int, int, list[str]]:
    """(documents compared, how many differ or are missing on either side, a few of those ids): both sides
    in `_id` order (ObjectId order is its hex's byte order: COLLATE "C" on the target)."""
    conn = psycopg2.connect(url)
    differ, seen, examples = 0, 0, []
    try:
        with conn, conn.cursor("docs") as cur:
            cur.itersize = BATCH
            cur.execute(f'SELECT _id, _doc::text FROM {table} ORDER BY _id COLLATE "C"')
            target = iter(cur)
            pending = next(target, None)
            for doc in coll.find(batch_size=BATCH).sort("_id", 1):
                key = id_text(doc["_id"])
                seen += 1
                while pending is not None and pending[0] < key:  # on the target only
                    differ, examples = differ + 1, examples + [pending[0]]
                    pending = next(target, None)
                if pending is None or pending[0] != key or from_json(pending[1]) != doc:
                    differ, examples = differ + 1, examples + [key]
                if pending is not None and pending[0] == key:
                    pending = next(target, None)
            while pending is not None:
                differ, examples = differ + 1, examples + [pending[0]]
                pending = next(target, None)
    finally:
        conn.close()
    return seen, differ, examples[:5]


def run(srv: Servers, *, rows: int, segments: int = 4, workers: int = 2) -> dict:
    mongo = start_server(rows)
    results: dict[str, Any] = {"docs": rows, "segments": segments, "workers": workers}
    try:
        client = mongo.client()
        database = "benchcdc"
        coll = client[database]["orders"]
        began = time.monotonic()
        ids: list[ObjectId] = []  # some documents' _id, for the writer's updates and deletes
        for first in range(0, rows, BATCH):
            docs = _docs(first, min(BATCH, rows - first))
            ids += [d["_id"] for d in docs[::97]]
            coll.insert_many(docs, ordered=False)
            if first and first % 100_000 == 0:
                print(f"inserted {first:,} in {time.monotonic() - began:.0f} s", flush=True)
        results["insert_seconds"] = round(time.monotonic() - began, 1)
        dst = fresh_db(srv.target)
        with opendms(srv.redis.url) as dms:
            for _ in range(workers):
                dms.start_worker(concurrency=2)
            wait_workers(dms, workers)
            dms.dms("endpoint", "create", "mongo", "--type", "source", "--engine", "mongodb", "--mongo-db-settings",
                    json.dumps({"ServerName": "127.0.0.1", "Port": mongo.port, "DatabaseName": database}))
            target = dms.endpoint("pg", "target", dst)
            mappings = dms.tmp / "mappings.json"
            mappings.write_text(json.dumps({"rules": [
                {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
                 "object-locator": {"schema-name": database, "table-name": "orders"}},
                {"rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
                 "object-locator": {"schema-name": database, "table-name": "orders"},
                 "parallel-load": {"type": "partitions-auto", "number-of-partitions": segments}}]}))
            dms.dms("task", "create", "mongocdc", "--source", "mongo", "--target", target, "--instance",
                    dms.instance, "--migration-type", "full-load-and-cdc", "--table-mappings", str(mappings))
            writer = _Writer(coll, rows, ids[1:])
            started = time.monotonic()
            dms.dms("task", "start", "mongocdc")
            writer.start()  # changes during the load
            dms.wait_live("mongocdc", timeout=max(600, rows / 100))
            results["load_seconds"] = round(time.monotonic() - started, 1)
            print(f"loaded and live in {results['load_seconds']} s", flush=True)
            results["made_during_load"] = writer.stop()
            coll.update_one({"_id": ids[0]}, {"$set": {"last": True}})
            table = f'"{database}"."orders"'
            marker = str(ids[0])
            caught = time.monotonic()
            deadline = caught + 600
            while time.monotonic() < deadline:
                with psycopg2.connect(dst) as conn, conn.cursor() as cur:
                    cur.execute(f"SELECT _doc ? 'last' FROM {table} WHERE _id = %s", (marker,))
                    if (cur.fetchone() or (False,))[0]:
                        break
                time.sleep(1)
            results["catch_up_seconds"] = round(time.monotonic() - caught, 1)
            results["stats"] = {k: v for k, v in dms.stats("mongocdc")[f"{database}.orders"].items()
                                if k in ("FullLoadRows", "Inserts", "Updates", "Deletes", "TableState")}
        codec = CodecOptions(tz_aware=True, tzinfo=UTC)
        began = time.monotonic()
        seen, differ, examples = _compare(client.get_database(database, codec_options=codec)["orders"], dst, table)
        results.update(compared=seen, differ=differ, differ_examples=examples,
                       compare_seconds=round(time.monotonic() - began, 1))
        client.close()
    finally:
        mongo.stop()
    results["load_docs_per_s"] = int(rows / results["load_seconds"])
    print_table(f"MongoDB -> PostgreSQL full-load-and-cdc, {rows:,} documents, {segments} segments",
                ["figure", "value"], [[k, v] for k, v in results.items()],
                ["load: `dms task start` to ongoing replication (segments, cached changes applied); "
                 "catch-up: from then to the last change on the target; differ must be 0"])
    return results
