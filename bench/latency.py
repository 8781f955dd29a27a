"""Latency: a steady stream of changes, and how long each takes from its commit to the target.

Every source row records when it was written (`committed`); the target's copy of the table has
one more column, `applied timestamptz DEFAULT clock_timestamp()`, filled as the row lands there.
Both servers share this machine's clock. Native logical replication runs the same load first, for
reference.
"""

from __future__ import annotations

import time

import psycopg2

from .common import Servers, execute, fresh_db, opendms, print_table, query
from .replicators import Fence, Native, OpenDms

SOURCE = "CREATE TABLE lat (id bigint PRIMARY KEY, v int, committed timestamptz)"
TARGET = ("CREATE TABLE lat (id bigint PRIMARY KEY, v int, committed timestamptz, "
          "applied timestamptz DEFAULT clock_timestamp())")
PUBLICATION = "lat_pub"
TICK = 0.01  # one small transaction every 10 ms


def steady(src: str, first_id: int, rate: int, seconds: float) -> int:
    """Insert `rate` rows a second for `seconds`, in a transaction every TICK; the last id written."""
    per_tick = max(1, round(rate * TICK))
    conn_started = time.monotonic()
    n = first_id
    ticks = int(seconds / TICK)
    conn = psycopg2.connect(src)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for tick in range(ticks):
                cur.execute("INSERT INTO lat SELECT g, 0, clock_timestamp() FROM generate_series(%s, %s) g",
                            (n, n + per_tick - 1))
                n += per_tick
                pause = conn_started + (tick + 1) * TICK - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
    finally:
        conn.close()
    return n - 1


def run(srv: Servers, *, rate: int, seconds: float) -> dict:
    src, dms_dst, native_dst = fresh_db(srv.source), fresh_db(srv.target), fresh_db(srv.target)
    execute(src, SOURCE, Fence.TABLE, f"CREATE PUBLICATION {PUBLICATION} FOR TABLE lat, fence")
    for dst in (dms_dst, native_dst):
        execute(dst, TARGET, Fence.TABLE)
    fence = Fence(src)
    results: dict = {"rate": rate, "seconds": seconds, "systems": {}}
    table = []
    with opendms(srv.redis.url) as dms:
        dms.start_worker(concurrency=1)
        first = 1
        for replicator in (Native(src, native_dst, PUBLICATION), OpenDms(dms, src, dms_dst)):
            replicator.start()
            fence.through(replicator.dst)
            last = steady(src, first, rate, seconds)
            fence.seen(replicator.dst, fence.write())
            replicator.stop()
            (p50, p95, p99), worst, count = query(
                replicator.dst,
                "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s), max(s), count(*) FROM "
                "(SELECT extract(epoch FROM applied - committed)::float8 AS s FROM lat WHERE id BETWEEN %s AND %s) x",
                (first, last))[0]
            p50, p95, p99, worst = (round(v, 3) for v in (p50, p95, p99, worst))
            first = last + 1
            results["systems"][replicator.name] = {"changes": count, "p50_s": p50, "p95_s": p95, "p99_s": p99,
                                                   "max_s": worst}
            table.append([replicator.name, count, p50, p95, p99, worst])
    print_table(f"Latency at {rate:,} changes/s for {seconds:g} s (commit to applied, seconds)",
                ["system", "changes", "p50", "p95", "p99", "max"], table)
    return results
