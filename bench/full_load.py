"""Full load, PostgreSQL -> PostgreSQL: OpenDMS beside a plain COPY pipe between the same servers.

Baselines, on the same throwaway servers in the same run:
- `COPY t TO STDOUT (FORMAT binary)` piped into `COPY t FROM STDIN (FORMAT binary)` (two psql processes)
- the same in text format
OpenDMS is timed from `dms task start` to the StopDate its worker records when the last table is
loaded; the worker's peak resident memory comes from /proc (VmHWM).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dms_env import DmsEnv, execute  # noqa: E402
from services import PostgresServer, RedisServer, fresh_db  # noqa: E402

from worker.state import StateStore  # noqa: E402

TABLE = """CREATE TABLE bench (id bigint PRIMARY KEY, i integer, n numeric(12,2), t text, ts timestamptz,
                               b boolean, j jsonb)"""
FILL = """INSERT INTO bench SELECT g, (g::bigint * 7919) % 100000, (g % 100000) / 100.0, md5(g::text) || 'abcdefgh',
          timestamptz '2024-01-01' + g * interval '1 second', g % 3 = 0, jsonb_build_object('k', g % 1000)
          FROM generate_series(1, {rows}) g"""


def _psql_pipe(src: str, dst: str, fmt: str) -> float:
    execute(dst, "TRUNCATE bench")
    started = time.monotonic()
    out = subprocess.Popen(["psql", "-X", "-q", src, "-c", f"COPY bench TO STDOUT (FORMAT {fmt})"],
                           stdout=subprocess.PIPE)
    subprocess.run(["psql", "-X", "-q", dst, "-c", f"COPY bench FROM STDIN (FORMAT {fmt})"], stdin=out.stdout,
                   check=True)
    out.wait()
    return time.monotonic() - started


def _opendms(dms: DmsEnv, src: str, dst: str, run: int) -> tuple[float, float]:
    """(seconds from `dms task start` to the task stopped, seconds the table's load took in the worker)"""
    name = f"bench{run}"
    dms.task(name, src, dst, "full-load")
    live = redis.Redis.from_url(dms.env["DMS_REDIS_URL"], decode_responses=True)
    started = time.time()
    dms.dms("task", "start", name)
    # Poll Redis itself: a `dms` process per poll would eat the CPU the load needs.
    while live.hget(StateStore.task_key(name), "Status") not in ("stopped", "failed"):
        time.sleep(0.02)
    task = dms.describe(name)
    if task["Status"] != "stopped":
        raise RuntimeError(f"benchmark task failed: {task.get('LastFailureMessage')}")
    (table,) = dms.stats(name).values()
    return task["ReplicationTaskStats"]["StopDate"] - started, table["FullLoadEndTime"] - table["FullLoadStartTime"]


def _checkpoint(*urls: str) -> None:
    for url in urls:
        execute(url, "CHECKPOINT")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(rows: int, repeat: int) -> dict:
    servers = [PostgresServer().start(logical=True), PostgresServer().start(logical=False), RedisServer().start()]
    source, target, redis = servers
    try:
        src, pipe_dst = fresh_db(source), fresh_db(target)
        execute(src, TABLE, FILL.format(rows=rows), "VACUUM ANALYZE bench")
        execute(pipe_dst, TABLE)
        with psycopg2.connect(src) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_total_relation_size('bench'), sum(length(bench::text) + 1) FROM bench")
            table_bytes, text_bytes = cur.fetchone()
        conn.close()
        mb = float(text_bytes) / 1e6
        timings: dict[str, list[float]] = {"copy binary pipe": [], "copy text pipe": [], "opendms (1 worker)": [],
                                           "opendms table load": []}
        with tempfile.TemporaryDirectory() as tmp:
            dms = DmsEnv(Path(tmp), redis.url)
            dms_dst = fresh_db(target)  # reused by every run, like the pipes' target (DROP_AND_CREATE each time)
            worker = dms.start_worker(concurrency=2)
            time.sleep(2)
            try:
                for n in range(repeat):
                    # A checkpoint before each run, so no run pays for the WAL its predecessor wrote.
                    _checkpoint(src, pipe_dst)
                    timings["copy binary pipe"].append(_psql_pipe(src, pipe_dst, "binary"))
                    _checkpoint(src, pipe_dst)
                    timings["copy text pipe"].append(_psql_pipe(src, pipe_dst, "text"))
                    _checkpoint(src, dms_dst)
                    wall, load = _opendms(dms, src, dms_dst, n)
                    timings["opendms (1 worker)"].append(wall)
                    timings["opendms table load"].append(load)
                peak = _peak_rss_mb(worker.pid)
            finally:
                dms.close()
    finally:
        for server in servers:
            server.stop()

    base = statistics.median(timings["copy binary pipe"])
    results = {"rows": rows, "table_mb": round(table_bytes / 1e6, 1), "copy_text_mb": round(mb, 1),
               "worker_peak_rss_mb": round(peak, 1), "methods": {}}
    print(f"\nFull load PostgreSQL -> PostgreSQL: {rows:,} rows, {table_bytes / 1e6:.0f} MB on disk, "
          f"{mb:.0f} MB as COPY text; median of {repeat}")
    print(f"{'method':22} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'vs binary pipe':>15}")
    for method, values in timings.items():
        seconds = statistics.median(values)
        figures = {"seconds": round(seconds, 3), "rows_per_s": int(rows / seconds), "mb_per_s": round(mb / seconds, 1),
                   "ratio_to_binary_pipe": round(base / seconds, 3), "runs": [round(v, 3) for v in values]}
        results["methods"][method] = figures
        print(f"{method:22} {seconds:8.2f} {figures['rows_per_s']:10,} {figures['mb_per_s']:7.1f} "
              f"{figures['ratio_to_binary_pipe']:14.2f}x")
    print("opendms (1 worker): from `dms task start` to the task stopped; opendms table load: the table's "
          "FullLoadStartTime to FullLoadEndTime inside the worker")
    print(f"OpenDMS worker peak resident memory: {peak:.0f} MB")
    return results
