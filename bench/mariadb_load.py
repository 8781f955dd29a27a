"""Full load, MariaDB -> PostgreSQL: OpenDMS beside pgloader, on the same servers in the same run.

python -m bench.mariadb_load [--rows N] [--repeat R] [--tuned]

A throwaway MariaDB (deploy/mariadb.sh), PostgreSQL and Redis (deploy/); one table of the benchmark's shape
(bigint key, int, decimal(12,2), 40-character varchar, timestamp(6), bit(1), small json) of N rows. Each run
loads it into a fresh PostgreSQL database:

- pgloader: Debian's package (deploy/install-bench-deps.sh installs it), as `pgloader SOURCE TARGET` with its
  defaults (it creates the table, loads it and builds the key), timed from its start to its exit;
- OpenDMS: one `dms worker` with its default flags and a full-load task with DMS's default settings, timed
  from `dms task start` to the StopDate the worker records when the table is loaded (key included).
  With --tuned, also a run with CreatePkAfterFullLoad, beside (never instead of) the default one.

Figures: median seconds and rows/s of R runs after an untimed round, the ratio of OpenDMS's rows/s to
pgloader's (goal: at least 3x), and the worker's peak resident memory (VmHWM; goal: under 300 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from bench.common import (
    PostgresServer,
    RedisServer,
    arguments,
    fresh_db,
    full_load_seconds,
    opendms,
    peak_rss_mb,
    print_table,
    versus,
    wait_workers,
)

TABLE = ("CREATE TABLE bench (id bigint PRIMARY KEY, i int, n decimal(12,2), t varchar(48), ts timestamp(6) NULL, "
         "b bit(1), j json)")
FILL = ("INSERT INTO bench SELECT seq, seq * 7919 % 100000, (seq % 100000) / 100, CONCAT(MD5(seq), 'abcdefgh'), "
        "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 3 = 0, JSON_OBJECT('k', seq % 1000) "
        "FROM seq_{first}_to_{last}")
TUNED = {"FullLoadSettings": {"CreatePkAfterFullLoad": True}}


def _fill(url: str, rows: int) -> None:
    from servers_mariadb import execute  # on the path once bench.common is imported

    statements = [TABLE]
    for first in range(1, rows + 1, 500_000):
        statements.append(FILL.format(first=first, last=min(first + 499_999, rows)))
    execute(url, *statements, "ANALYZE TABLE bench")


def _pgloader(source: str, target: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(["pgloader", "--no-ssl-cert-verification", source, target + "?sslmode=disable"],
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"pgloader exited {proc.returncode}: {proc.stderr[-2000:]}")
    return seconds


def _count(url: str, table: str) -> int:
    from bench.common import query

    return query(url, f"SELECT count(*) FROM {table}")[0][0]


def run(rows: int, repeat: int, tuned: bool, warmup: bool = True) -> dict:
    from servers_mariadb import MariaDBServer, fresh_mariadb  # on the path once bench.common is imported

    if not shutil.which("pgloader"):
        sys.exit("pgloader is missing: run deploy/install-bench-deps.sh")
    methods: dict[str, dict | None] = {"opendms (defaults)": None}
    if tuned:
        methods["opendms, CreatePkAfterFullLoad"] = TUNED
    timings: dict[str, list[float]] = {"pgloader": [], **{m: [] for m in methods}}
    started: list = []
    try:
        for server in (MariaDBServer(), PostgresServer(), RedisServer()):
            started.append(server.start())
        maria, pg, redis_server = started
        src = fresh_mariadb(maria)
        began = time.monotonic()
        _fill(src, rows)
        print(f"MariaDB table of {rows:,} rows filled in {time.monotonic() - began:.0f} s", flush=True)
        with opendms(redis_server.url) as dms:
            worker = dms.start_worker()  # `dms worker`'s default: --concurrency 4
            wait_workers(dms, 1)
            time.sleep(1)
            for run_no in range(0 if warmup else 1, repeat + 1):  # round 0 is not timed
                times = timings if run_no else {m: [] for m in timings}
                dst = fresh_db(pg)
                times["pgloader"].append(_pgloader(src, dst))
                schema = src.rsplit("/", 1)[1]  # pgloader puts the tables in a schema named after the database
                if _count(dst, f"{schema}.bench") != rows:
                    raise RuntimeError("pgloader loaded another number of rows")
                for n, (method, settings) in enumerate(methods.items()):
                    dst = fresh_db(pg)
                    times[method].append(full_load_seconds(dms, src, dst, f"my-{dms.suffix}-{run_no}-{n}", settings))
                    if _count(dst, f"{schema}.bench") != rows:
                        raise RuntimeError("OpenDMS loaded another number of rows")
                print(f"round {run_no}: " + ", ".join(f"{m} {t[-1]:.1f} s" for m, t in times.items()), flush=True)
            peak = peak_rss_mb(worker.pid)
    finally:
        for server in started:
            server.stop()
    figures, table = versus(timings, rows, "pgloader", "x_pgloader", digits=2)
    results: dict = {"rows": rows, "repeat": repeat, "worker_peak_rss_mb": peak, "methods": figures}
    print_table(f"Full load MariaDB -> PostgreSQL, 1 table x {rows:,} rows, median of {repeat}"
                f"{' after an untimed round' if warmup else ''}; load average at the end {os.getloadavg()[0]:.1f}",
                ["method", "seconds", "rows/s", "x pgloader"], table,
                [f"opendms: one `dms worker` (default --concurrency 4), task with DMS's default settings; "
                 f"worker peak resident memory {peak:.0f} MB (goal < 300 MB); goal >= 3x pgloader's rows/s"])
    return results


def main() -> None:
    parser = arguments("python -m bench.mariadb_load", __doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tuned", action="store_true", help="also a run with CreatePkAfterFullLoad")
    parser.add_argument("--no-warmup", action="store_true", help="no untimed round first")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = run(args.rows, args.repeat, args.tuned, not args.no_warmup)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
