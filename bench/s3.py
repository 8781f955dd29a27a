"""Full load, PostgreSQL -> S3 files: OpenDMS beside `COPY TO` + pyarrow writing the same files.

Both write into a local folder on the same disk (the S3 target's folder mode, the same code as a bucket's
but for the final PUT), so the figures compare the work, not a test server. Parquet (the issue's bench)
baseline, in this process: `COPY (SELECT ...) TO STDOUT (FORMAT csv)` read by pyarrow's CSV reader in blocks
and written by a ParquetWriter with the same schema and settings as the S3 target's (Parquet 1.0,
statistics, dictionary, uncompressed, row groups of 10,000). CSV (DMS's default DataFormat) baseline:
`COPY ... TO STDOUT (FORMAT csv, NULL 'NULL')` straight into the file, the least any CSV writer can do.
OpenDMS as a user runs it: a `dms worker` with its default flags, an endpoint with only BucketName and
DataFormat, a task with default settings, timed from `dms task start` to the task's StopDate.
Memory: the worker's peak resident memory (VmHWM) over all the timed loads, beside a fresh worker's over
one load of a table a tenth the size: flat when the two are alike.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

from .common import (
    Servers,
    create_table,
    create_task,
    fresh_db,
    load_seconds,
    opendms,
    peak_rss_mb,
    print_table,
    versus,
    wait_workers,
)

COLUMNS = "id, i, n, t, ts, b, j"
FORMATS = ("parquet", "csv")


def run(srv: Servers, *, rows: int, repeat: int, formats: tuple[str, ...] = FORMATS) -> dict:
    src = fresh_db(srv.source)
    create_table(src, "bench", rows)
    small = max(rows // 10, 1)
    create_table(src, "bench_small", small)
    timings = {f"{f} {m}": [] for f in formats for m in ("baseline", "opendms")}
    out = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    sizes: dict[str, int] = {}
    try:
        with opendms(srv.redis.url) as dms:
            _installed(dms)
            proc = dms.start_worker()  # as `dms worker` starts by default
            wait_workers(dms, 1)
            for run_no in range(repeat + 1):  # the first round is not timed
                times = timings if run_no else {m: [] for m in timings}
                for fmt in formats:
                    for method, how in (("baseline", _BASELINES[fmt]), ("opendms", _opendms)):
                        folder = out / f"{fmt}-{method}-{run_no}"
                        name = f"s3-{dms.suffix}-{fmt}-{run_no}"
                        times[f"{fmt} {method}"].append(how(src, folder) if method == "baseline"
                                                        else how(dms, src, folder, name, fmt, "bench"))
                        sizes[f"{fmt} {method}"] = _bytes(folder)
                        shutil.rmtree(folder)
            peak = peak_rss_mb(proc.pid)
        with opendms(srv.redis.url) as dms:  # a fresh worker, one load of the small table
            _installed(dms)
            proc = dms.start_worker()
            wait_workers(dms, 1)
            idle = peak_rss_mb(proc.pid)
            for fmt in formats:
                _opendms(dms, src, out / f"small-{fmt}", f"s3-{dms.suffix}-small-{fmt}", fmt, "bench_small")
            small_peak = peak_rss_mb(proc.pid)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    results: dict = {"rows": rows, "repeat": repeat, "worker_peak_rss_mb": peak,
                     "memory": {"idle_rss_mb": idle, f"peak_rss_mb_{small}_rows": small_peak,
                                f"peak_rss_mb_{rows}_rows": peak}, "methods": {}}
    table = []
    for fmt in formats:
        figures, lines = versus({m: timings[m] for m in (f"{fmt} baseline", f"{fmt} opendms")}, rows,
                                f"{fmt} baseline", "ratio_to_baseline",
                                extra=lambda method, seconds: {"mb": round(sizes[method] / 1e6, 1)})
        results["methods"].update(figures)
        table += lines
    print_table(f"Full load PostgreSQL -> S3 files (local folder), 1 table x {rows:,} rows; median of {repeat} "
                "after an untimed round", ["method", "seconds", "rows/s", "file MB", "vs baseline"], table,
                [f"opendms: 1 worker (default flags); peak resident memory {peak:.0f} MB over the {rows:,}-row loads; "
                 f"a fresh worker: {idle:.0f} MB idle, {small_peak:.0f} MB after loading {small:,} rows"])
    return results


def _installed(dms) -> None:
    """Each `dms` command as an installed OpenDMS runs it: from compiled bytecode. (A shell that sets
    PYTHONDONTWRITEBYTECODE, as this project's test machine does, makes every command compile the project
    again, a second or more of each `dms task start` on a loaded machine.)"""
    dms.env.pop("PYTHONDONTWRITEBYTECODE", None)


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "_opendms" not in p.parts)


def _parquet_baseline(src: str, folder: Path) -> float:
    """COPY's CSV streamed through a pipe into pyarrow, written as Parquet of the target's schema."""
    import os

    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.int64()), ("i", pa.int32()), ("n", pa.decimal128(12, 2)), ("t", pa.string()),
                        ("ts", pa.timestamp("us", tz="UTC")), ("b", pa.bool_()), ("j", pa.string())])
    folder.mkdir(parents=True)
    started = time.monotonic()
    read_fd, write_fd = os.pipe()
    conn = psycopg2.connect(src)

    def produce() -> None:
        with os.fdopen(write_fd, "wb") as sink, conn.cursor() as cur:
            cur.copy_expert(f"COPY (SELECT {COLUMNS} FROM bench) TO STDOUT (FORMAT csv)", sink)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_fd, "rb") as source:
        reader = pcsv.open_csv(source, read_options=pcsv.ReadOptions(column_names=schema.names, block_size=8 << 20),
                               convert_options=pcsv.ConvertOptions(column_types=schema, true_values=["t"],
                                                                   false_values=["f"]))
        with pq.ParquetWriter(folder / "LOAD00000001.parquet", schema, version="1.0", compression="none") as writer:
            for batch in reader:
                writer.write_batch(batch, row_group_size=10_000)
    producer.join()
    conn.close()
    return time.monotonic() - started


def _csv_baseline(src: str, folder: Path) -> float:
    """COPY's CSV straight into the file."""
    folder.mkdir(parents=True)
    started = time.monotonic()
    conn = psycopg2.connect(src)
    with open(folder / "LOAD00000001.csv", "wb") as sink, conn.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {COLUMNS} FROM bench) TO STDOUT (FORMAT csv, NULL 'NULL')", sink)
    conn.close()
    return time.monotonic() - started


_BASELINES = {"parquet": _parquet_baseline, "csv": _csv_baseline}


def _opendms(dms, src: str, folder: Path, name: str, fmt: str = "parquet", table: str = "bench") -> float:
    folder.mkdir(parents=True)
    target = f"{name}-dst"
    dms.dms("endpoint", "create", target, "--type", "target", "--engine", "s3", "--s3-settings",
            json.dumps({"BucketName": f"file://{folder}", "DataFormat": fmt}))
    create_task(dms, name, dms.endpoint(f"{name}-src", "source", src), target, "full-load", table)
    return load_seconds(dms, name)
