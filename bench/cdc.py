"""CDC apply, PostgreSQL -> PostgreSQL: OpenDMS beside PostgreSQL's own logical replication.

Workloads on the source, each run against a fresh subscription (native) and a fresh `cdc` task
(OpenDMS), one after the other on the same servers:
- N single-row updates as transactions of 100 rows, and as one transaction;
- backlog: the same updates while replication is paused (subscription disabled, task stopped),
  then resumed: the catch-up apply rate; beside them, a bare reader of the same stream that applies
  nothing, for the rate at which the source sends it at all.
Lag after the last commit is the time until the target shows a fence row written just after the
workload; end-to-end rows/s is N over the time from the workload's start to that moment.
"""

from __future__ import annotations

import os
import time

from .common import (
    CpuMeter,
    DmsEnv,
    Servers,
    create_table,
    execute,
    fresh_db,
    opendms,
    pipe,
    postmaster_pid,
    print_table,
    wait_workers,
)
from .replicators import Fence, Native, OpenDms, PlainReader

PUBLICATION = "bench_pub"


def workload(src: str, updates: int, txn_rows: int) -> float:
    """N single-row updates, committed every txn_rows (0: one transaction); the seconds it took."""
    commit = f"IF k % {txn_rows} = 0 THEN COMMIT; END IF;" if txn_rows else ""
    started = time.monotonic()
    execute(src, f"DO $$ BEGIN FOR k IN 1..{updates} LOOP UPDATE bench SET i = i + 1 WHERE id = k; {commit} "
                 "END LOOP; END $$")
    return time.monotonic() - started


def run(srv: Servers, *, updates: int, txn_rows: int = 100) -> dict:
    src, dms_dst, native_dst = fresh_db(srv.source), fresh_db(srv.target), fresh_db(srv.target)
    create_table(src, "bench", updates)
    for dst in (dms_dst, native_dst):
        create_table(dst, "bench", 0)
        pipe([["psql", "-X", "-q", src, "-c", "COPY bench TO STDOUT (FORMAT binary)"],
              ["psql", "-X", "-q", dst, "-c", "COPY bench FROM STDIN (FORMAT binary)"]])
    for url in (src, dms_dst, native_dst):
        execute(url, Fence.TABLE)
    execute(src, f"CREATE PUBLICATION {PUBLICATION} FOR TABLE bench, fence")
    fence = Fence(src)
    workloads = {f"{updates // txn_rows:,} transactions of {txn_rows} rows": txn_rows, "one transaction": 0}
    results: dict = {"updates": updates, "workloads": {}, "backlog": {}}
    table = []
    with opendms(srv.redis.url) as dms:
        worker = dms.start_worker(concurrency=1)
        wait_workers(dms, 1)  # booted before any run is timed: its start would take CPU from the first
        # Where the CPU goes, per run: this machine's cores are shared by all three.
        meter = CpuMeter(source=postmaster_pid(srv.source), target=postmaster_pid(srv.target), opendms=worker.pid)
        systems = _systems(dms, src, native_dst, dms_dst)
        for title, rows in workloads.items():
            figures = {}
            for make in systems:
                replicator = make()
                replicator.start()
                fence.through(replicator.dst)
                started = time.monotonic()
                with meter:
                    source_seconds = workload(src, updates, rows)
                    seen = fence.seen(replicator.dst, fence.write())
                replicator.stop()
                total = seen - started
                figures[replicator.name] = {"source_s": round(source_seconds, 2),
                                            "lag_after_last_commit_s": round(seen - started - source_seconds, 2),
                                            "end_to_end_s": round(total, 2), "rows_per_s": int(updates / total),
                                            "cpu_s": meter.seconds}
            _ratio(figures, "rows_per_s")
            results["workloads"][title] = figures
            table += [[f"{title}: {name}", f["source_s"], f["lag_after_last_commit_s"], f["end_to_end_s"],
                       f["rows_per_s"], f"{f['ratio_to_native']:.2f}x", *f["cpu_s"].values()]
                      for name, f in figures.items()]
        for make in systems:
            replicator = make()
            replicator.start()
            fence.through(replicator.dst)
            replicator.pause()
            workload(src, updates, txn_rows)
            last = fence.write()
            started = time.monotonic()
            with meter:
                replicator.resume()
                seconds = fence.seen(replicator.dst, last) - started
            replicator.stop()
            results["backlog"][replicator.name] = {"catch_up_s": round(seconds, 2),
                                                   "rows_per_s": int(updates / seconds), "cpu_s": meter.seconds}
        reader = PlainReader(src, PUBLICATION)
        reader.start()
        workload(src, updates, txn_rows)
        last = fence.write()
        started = time.monotonic()
        with CpuMeter(source=postmaster_pid(srv.source), reader=os.getpid()) as reader_meter:
            seconds = reader.read_to_fence(last) - started
        reader.stop()
        results["backlog"][reader.name] = {"catch_up_s": round(seconds, 2), "rows_per_s": int(updates / seconds),
                                           "cpu_s": {**reader_meter.seconds, "target": 0.0}}
        _ratio(results["backlog"], "rows_per_s")
        table += [[f"backlog catch-up: {name}", None, None, f["catch_up_s"], f["rows_per_s"],
                   f"{f['ratio_to_native']:.2f}x", f["cpu_s"]["source"], f["cpu_s"]["target"],
                   f["cpu_s"].get("opendms", f["cpu_s"].get("reader"))]
                  for name, f in results["backlog"].items()]
    print_table(f"CDC apply PostgreSQL -> PostgreSQL: {updates:,} single-row updates",
                ["run", "source s", "lag s", "end-to-end s", "rows/s", "vs native",
                 "CPU s: source", "target", "OpenDMS"], table,
                ["lag: from the source's last commit until the target shows a fence row written after it; "
                 "backlog: updates made while paused, timed from the resume to the fence",
                 "CPU s: what each part used in that time, of the machine's "
                 f"{os.cpu_count()} cores: the source server (the workload and the walsender), the target "
                 "server, the OpenDMS worker (the bare reader's row: the bench process)"])
    return results


def _systems(dms: DmsEnv, src: str, native_dst: str, dms_dst: str) -> list:
    return [lambda: Native(src, native_dst, PUBLICATION), lambda: OpenDms(dms, src, dms_dst)]


def _ratio(figures: dict[str, dict], key: str) -> None:
    base = figures[Native.name][key]
    for f in figures.values():
        f["ratio_to_native"] = round(f[key] / base, 3) if base else None
