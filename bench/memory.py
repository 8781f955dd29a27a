"""Memory flatness: a worker's peak resident memory over full loads of a small and a big table.

Each size runs in a fresh worker process, so each peak (VmHWM from /proc) is that load's alone.
"""

from __future__ import annotations

from .common import (
    FULL_LOBS,
    Servers,
    create_table,
    fresh_db,
    opendms,
    peak_rss_mb,
    print_table,
    wait_status,
    wait_workers,
)


def run(srv: Servers, *, sizes: tuple[int, ...]) -> dict:
    results: dict = {"sizes": {}}
    table = []
    for rows in sizes:
        src, dst = fresh_db(srv.source), fresh_db(srv.target)
        create_table(src, "bench", rows)
        with opendms(srv.redis.url) as dms:
            worker = dms.start_worker(concurrency=2)
            wait_workers(dms, 1)
            idle = peak_rss_mb(worker.pid)
            task = f"mem-{dms.suffix}"  # unique in the shared Redis
            dms.task(task, src, dst, "full-load", settings=FULL_LOBS)
            dms.dms("task", "start", task)
            if wait_status(dms, task, ("stopped", "failed")) != "stopped":
                raise RuntimeError("memory benchmark load failed")
            peak = peak_rss_mb(worker.pid)
        results["sizes"][str(rows)] = {"idle_rss_mb": idle, "peak_rss_mb": peak}
        table.append([f"{rows:,} rows", idle, peak])
    peaks = [f["peak_rss_mb"] for f in results["sizes"].values()]
    results["growth"] = round(peaks[-1] / peaks[0] - 1, 3)
    print_table("Worker memory over a full load (one worker, concurrency 2)", ["table", "idle MB", "peak MB"], table,
                [f"largest vs smallest: {results['growth']:+.0%}"])
    return results
