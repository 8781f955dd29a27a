"""Full load, PostgreSQL -> PostgreSQL: OpenDMS beside the best plain tools between the same servers.

Two shapes: one big table, and many middle-sized tables. Baselines, on the same servers in the same
run: `COPY t TO STDOUT (FORMAT binary)` piped into `COPY t FROM STDIN (FORMAT binary)` (two psql
processes, table after table), and `pg_dump --data-only -t ... | psql`. OpenDMS is timed from
`dms task start` to the StopDate its workers record when the last table is completed; each worker's
peak resident memory comes from /proc (VmHWM). Autovacuum is off on the target while loads are
timed: each run's fresh rows would otherwise be vacuumed during a later run, whichever it is.
"""

from __future__ import annotations

import time

from services import PG_BIN

from .common import (
    FULL_LOBS,
    Servers,
    checkpoint,
    create_table,
    execute,
    fresh_db,
    full_load_seconds,
    opendms,
    peak_rss_mb,
    pipe,
    print_table,
    query,
    text_mb,
    versus,
    wait_workers,
)

# OpenDMS twice: with CreatePkAfterFullLoad, as a DMS user sets it for a big load (the key is built
# once, sorted, instead of row by row), and with DMS's default, the key there before the first row.
KEY_AFTER = {**FULL_LOBS, "FullLoadSettings": {"CreatePkAfterFullLoad": True}}
OPENDMS = {"opendms": KEY_AFTER, "opendms, key during load": FULL_LOBS}
METHODS = ("copy binary pipe", "pg_dump | psql", *OPENDMS)


def run(srv: Servers, *, rows: int, tables: int, table_rows: int, repeat: int, workers: int) -> dict:
    shapes = {f"1 table x {rows:,} rows": [("bench", rows)],
              f"{tables} tables x {table_rows:,} rows": [(f"t{n:02}", table_rows) for n in range(1, tables + 1)]}
    return {title: measure(srv, title, spec, repeat, workers) for title, spec in shapes.items()}


def measure(srv: Servers, title: str, spec: list[tuple[str, int]], repeat: int, workers: int) -> dict:
    src, plain_dst, dms_dst = fresh_db(srv.source), fresh_db(srv.target), fresh_db(srv.target)
    names = [name for name, _ in spec]
    for name, rows in spec:
        create_table(src, name, rows)
        create_table(plain_dst, name, 0)
    total = sum(rows for _, rows in spec)
    mb = text_mb(src, names)
    disk_mb = sum(query(src, f"SELECT pg_total_relation_size('{n}')")[0][0] for n in names) / 1e6
    timings: dict[str, list[float]] = {m: [] for m in METHODS}
    # Every run leaves millions of fresh rows that autovacuum goes over a minute later, in whichever
    # run is timed then (a run it fell in took 7.0 s instead of 6.0 s): off on the target while loads
    # are timed, the same for every method.
    execute(srv.target.url, "ALTER SYSTEM SET autovacuum = off", "SELECT pg_reload_conf()",
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
    try:
        with opendms(srv.redis.url) as dms:
            procs = [dms.start_worker(concurrency=1) for _ in range(workers)]
            wait_workers(dms, workers)
            time.sleep(1)  # and consuming their queues before the first timed job arrives
            # A first round of every method is not timed: in the last run, each method's first run
            # was its slowest (the pipe's 7.2 s against 6.1 to 6.3 s), whichever method it was.
            for run_no in range(repeat + 1):
                times = timings if run_no else {m: [] for m in METHODS}
                checkpoint(src, plain_dst)
                execute(plain_dst, f"TRUNCATE {', '.join(names)}")
                times["copy binary pipe"].append(sum(
                    pipe([["psql", "-X", "-q", src, "-c", f"COPY {n} TO STDOUT (FORMAT binary)"],
                          ["psql", "-X", "-q", plain_dst, "-c", f"COPY {n} FROM STDIN (FORMAT binary)"]])
                    for n in names))
                checkpoint(src, plain_dst)
                execute(plain_dst, f"TRUNCATE {', '.join(names)}")
                times["pg_dump | psql"].append(
                    pipe([[str(PG_BIN / "pg_dump"), "--data-only", *(f"--table={n}" for n in names), src],
                          ["psql", "-X", "-q", plain_dst]]))
                # Task names are unique in the run: live state in the shared Redis outlives each catalog.
                for n, (method, settings) in enumerate(OPENDMS.items()):
                    checkpoint(src, dms_dst)
                    name = f"load-{dms.suffix}-{run_no}-{n}"
                    times[method].append(full_load_seconds(dms, src, dms_dst, name, settings))
            peaks = [peak_rss_mb(p.pid) for p in procs]
    finally:
        execute(srv.target.url, "ALTER SYSTEM RESET autovacuum", "SELECT pg_reload_conf()")

    figures, table = versus(timings, total, "copy binary pipe", "ratio_to_binary_pipe",
                            extra=lambda method, seconds: {"mb_per_s": round(mb / seconds, 1)})
    results: dict = {"rows": total, "tables": len(spec), "table_mb": round(disk_mb, 1), "copy_text_mb": round(mb, 1),
                     "repeat": repeat, "workers": workers, "worker_peak_rss_mb": peaks, "methods": figures}
    print_table(
        f"Full load PostgreSQL -> PostgreSQL, {title}: {disk_mb:,.0f} MB on disk, {mb:,.0f} MB as COPY text; "
        f"median of {repeat} after an untimed round", ["method", "seconds", "rows/s", "MB/s", "vs binary pipe"], table,
        [f"opendms: {workers} worker(s) of concurrency 1, from `dms task start` to the last table completed, "
         "with CreatePkAfterFullLoad (the other row: DMS's default, the key there during the load); "
         f"peak resident memory per worker: {', '.join(f'{p:.0f} MB' for p in peaks)}"])
    return results

