"""Full load, PostgreSQL -> S3 Parquet files: OpenDMS beside `COPY TO` + pyarrow writing the same files.

Both write into a local folder on the same disk (the S3 target's folder mode, the same code as a bucket's
but for the final PUT), so the figures compare the work, not a test server. Baseline, in this process:
`COPY (SELECT ...) TO STDOUT (FORMAT csv)` read by pyarrow's CSV reader in blocks and written by a
ParquetWriter with the same schema and settings as the S3 target's (Parquet 1.0, statistics, dictionary,
uncompressed), a file per 1 GB as DMS's MaxFileSize cuts. OpenDMS: one worker, from `dms task start` to
the table completed; its peak resident memory from /proc.
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
    fresh_db,
    median,
    opendms,
    peak_rss_mb,
    print_table,
    state_of,
    wait_status,
    wait_workers,
)

COLUMNS = "id, i, n, t, ts, b, j"


def run(srv: Servers, *, rows: int, repeat: int) -> dict:
    src = fresh_db(srv.source)
    create_table(src, "bench", rows)
    timings: dict[str, list[float]] = {"copy to + pyarrow": [], "opendms": []}
    out = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    sizes: dict[str, int] = {}
    try:
        with opendms(srv.redis.url) as dms:
            proc = dms.start_worker(concurrency=1)
            wait_workers(dms, 1)
            for run_no in range(repeat + 1):  # the first round is not timed
                times = timings if run_no else {m: [] for m in timings}
                folder = out / f"base-{run_no}"
                times["copy to + pyarrow"].append(_baseline(src, folder))
                sizes["copy to + pyarrow"] = _bytes(folder)
                folder = out / f"dms-{run_no}"
                times["opendms"].append(_opendms(dms, src, folder, f"s3-{dms.suffix}-{run_no}"))
                sizes["opendms"] = _bytes(folder)
                for path in out.iterdir():
                    shutil.rmtree(path)
            peak = peak_rss_mb(proc.pid)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    base = median(timings["copy to + pyarrow"])
    results: dict = {"rows": rows, "repeat": repeat, "worker_peak_rss_mb": peak, "methods": {}}
    table = []
    for method, values in timings.items():
        seconds = median(values)
        figures = {"seconds": round(seconds, 3), "rows_per_s": int(rows / seconds),
                   "parquet_mb": round(sizes[method] / 1e6, 1), "ratio_to_baseline": round(base / seconds, 3),
                   "runs": [round(v, 3) for v in values]}
        results["methods"][method] = figures
        table.append([method, seconds, figures["rows_per_s"], figures["parquet_mb"],
                      f"{figures['ratio_to_baseline']:.2f}x"])
    print_table(f"Full load PostgreSQL -> S3 Parquet (local folder), 1 table x {rows:,} rows; median of {repeat} "
                "after an untimed round", ["method", "seconds", "rows/s", "Parquet MB", "vs baseline"], table,
                [f"opendms: 1 worker of concurrency 1, peak resident memory {peak:.0f} MB"])
    return results


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def _baseline(src: str, folder: Path) -> float:
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


def _opendms(dms, src: str, folder: Path, name: str) -> float:
    folder.mkdir(parents=True)
    target = f"{name}-dst"
    dms.dms("endpoint", "create", target, "--type", "target", "--engine", "s3", "--s3-settings",
            json.dumps({"BucketName": f"file://{folder}", "DataFormat": "parquet"}))
    source = dms.endpoint(f"{name}-src", "source", src)
    mapping = dms.tmp / f"{name}.json"
    mapping.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                              "rule-action": "include",
                                              "object-locator": {"schema-name": "public", "table-name": "bench"}}]}))
    dms.dms("task", "create", name, "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load", "--table-mappings", str(mapping))
    started = time.time()
    dms.dms("task", "start", name)
    if wait_status(dms, name, ("stopped", "failed")) != "stopped":
        raise RuntimeError(f"benchmark task {name} failed: {dms.describe(name).get('LastFailureMessage')}")
    return float(state_of(dms).task(name)["StopDate"]) - started
