"""Full load, MongoDB -> PostgreSQL in document mode: OpenDMS's connectors beside a `mongoexport`-style
baseline, a bare pymongo cursor written as relaxed extended JSON into `COPY ... FROM STDIN`.

The MongoDB server is the tests' (mongo-java-server, tests/servers_mongodb.py), started for the run. Both
sides read the same collection (nested documents, arrays, ObjectIds, dates, decimals) into a fresh
`(_id text, _doc jsonb)` table of the target, in this process: OpenDMS's MongoDB source snapshot into its
PostgreSQL target's load (the full load's work without the task machinery around it). Goal: at least 0.8x
the baseline's documents/s.
"""

from __future__ import annotations

import datetime
import io
import os
import time
from urllib.parse import urlsplit

import psycopg2
from bson import Decimal128, ObjectId, json_util
from servers_mongodb import MongoServer

from connectors.base import Endpoint, TableId, document_table
from connectors.mongodb.values import RELAXED, id_text
from connectors.registry import open_source, open_target

from .common import Servers, fresh_db, median, print_table

BATCH = 10_000


def _docs(first: int, count: int) -> list[dict]:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return [{"_id": ObjectId(), "n": i, "name": f"customer {i}", "when": start + datetime.timedelta(seconds=i),
             "price": Decimal128(f"{i % 100000}.{i % 100:02d}"), "tags": ["a", "b", str(i % 7)],
             "address": {"street": f"{i} main street", "zip": f"{i % 99999:05d}", "geo": {"lat": 1.5, "lon": -2.5}}}
            for i in range(first, first + count)]


def _endpoint(url: str) -> Endpoint:
    u = urlsplit(url)
    return Endpoint("bench-pg", "target", "postgres", u.hostname or "", u.port or 5432, u.path.lstrip("/"),
                    u.username or "", u.password or "")


def _baseline(coll, url: str) -> float:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS base; CREATE TABLE base (_id text PRIMARY KEY, _doc jsonb)")
    began = time.monotonic()
    with conn, conn.cursor() as cur:
        buf = io.StringIO()
        for n, doc in enumerate(coll.find(batch_size=BATCH), 1):
            text = json_util.dumps(doc, json_options=RELAXED, ensure_ascii=False).replace("\\", "\\\\")
            buf.write(f"{id_text(doc['_id'])}\t{text}\n")
            if n % BATCH == 0:
                buf.seek(0)
                cur.copy_expert("COPY base FROM STDIN", buf)
                buf = io.StringIO()
        buf.seek(0)
        cur.copy_expert("COPY base FROM STDIN", buf)
    conn.close()
    return time.monotonic() - began


def _opendms(mongo_port: int, database: str, url: str) -> float:
    source = open_source(Endpoint("bench-mongo", "source", "mongodb", host="127.0.0.1", port=mongo_port,
                                  database=database))
    target = open_target(_endpoint(url))
    table = document_table(TableId(database, "orders"), engine="mongodb")
    try:
        began = time.monotonic()
        target.prepare(table, "drop")
        target.load(table, source.snapshot(table, batch_rows=BATCH))
        return time.monotonic() - began
    finally:
        source.close()
        target.close()


def start_server(rows: int) -> MongoServer:
    """The tests' MongoDB server, its heap sized for ``rows`` documents: it keeps everything in its JVM heap,
    and 200,000 documents outgrow the tests' 512 MB."""
    os.environ.setdefault("DMS_MONGODB_HEAP", "512m" if rows <= 100_000 else "6g")
    return MongoServer().start()


def run(srv: Servers, *, rows: int, repeat: int) -> dict:
    mongo = start_server(rows)
    try:
        client = mongo.client()
        coll = client.bench.orders
        for first in range(0, rows, BATCH):
            coll.insert_many(_docs(first, min(BATCH, rows - first)), ordered=False)
        url = fresh_db(srv.target)
        timings: dict[str, list[float]] = {"pymongo cursor + COPY": [], "opendms": []}
        for run_no in range(repeat + 1):  # the first round is not timed
            base, dms = _baseline(coll, url), _opendms(mongo.port, "bench", url)
            if run_no:
                timings["pymongo cursor + COPY"].append(base)
                timings["opendms"].append(dms)
        client.close()
    finally:
        mongo.stop()
    figures = {m: {"seconds": median(t), "docs_per_s": rows / median(t)} for m, t in timings.items()}
    ratio = figures["opendms"]["docs_per_s"] / figures["pymongo cursor + COPY"]["docs_per_s"]
    print_table(f"MongoDB -> PostgreSQL full load, {rows:,} documents (document mode)",
                ["method", "seconds", "docs/s"],
                [[m, f"{f['seconds']:.2f}", f"{f['docs_per_s']:,.0f}"] for m, f in figures.items()],
                [f"OpenDMS at {ratio:.2f}x the baseline (goal: 0.8x)"])
    return {"docs": rows, "methods": figures, "ratio": round(ratio, 3)}
