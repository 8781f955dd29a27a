"""python -m bench {all,full-load,cdc,latency,memory,kafka,s3,mongodb,mongodb-cdc} [--smoke] [--json FILE] [sizes]

Starts throwaway PostgreSQL and Redis servers (deploy/), runs the chosen benchmarks on them, prints
one table of figures per benchmark and writes them all to --json. --smoke runs tiny sizes, as CI does.
`kafka` (PostgreSQL -> Kafka, with a throwaway Kafka broker of its own and Debezium beside OpenDMS on Kafka
Connect) runs only when named: `all` leaves it out, so that CI's smoke run needs no Java.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from . import cdc, full_load, kafka, latency, memory, mongodb, mongodb_cdc, s3
from .common import arguments, servers

BENCHES = ("full-load", "cdc", "latency", "memory", "kafka", "s3", "mongodb", "mongodb-cdc")
FULL = {"rows": 5_000_000, "tables": 20, "table_rows": 250_000, "repeat": 5, "workers": 2, "updates": 1_000_000,
        "rate": 2_000, "seconds": 60.0, "memory_sizes": "1000000,5000000", "kafka_rows": 1_000_000,
        "mongo_docs": 1_000_000}
# Only that every benchmark runs (tests/integration/test_bench_smoke.py, in every test run): the least work.
SMOKE = {"rows": 2_000, "tables": 2, "table_rows": 500, "repeat": 1, "workers": 2, "updates": 500,
         "rate": 200, "seconds": 1.0, "memory_sizes": "1000,5000", "kafka_rows": 1_000,
         "mongo_docs": 1_000}


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m bench", __doc__)
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every benchmark still runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--rows", type=int, help=f"rows of the one-table full load (default {FULL['rows']:,})")
    parser.add_argument("--tables", type=int, help=f"tables of the many-table full load (default {FULL['tables']})")
    parser.add_argument("--table-rows", type=int, help=f"rows of each of those (default {FULL['table_rows']:,})")
    parser.add_argument("--repeat", type=int, help="runs of each full-load method; the median is reported (default 5)")
    parser.add_argument("--workers", type=int, help="OpenDMS workers for the full load (default 2)")
    parser.add_argument("--updates", type=int, help=f"single-row updates of each CDC run (default {FULL['updates']:,})")
    parser.add_argument("--rate", type=int, help="changes/s of the latency run (default 2,000)")
    parser.add_argument("--seconds", type=float, help="length of the latency run (default 60)")
    parser.add_argument("--kafka-rows", type=int, help="rows of the PostgreSQL -> Kafka full load (default 1,000,000)")
    parser.add_argument("--s3-formats", default="parquet,csv", help="DataFormats of the s3 run (default parquet,csv)")
    parser.add_argument("--mongo-docs", type=int, help="documents of mongodb-cdc (default 1,000,000)")
    parser.add_argument("--memory-sizes", help="comma-separated table sizes of the memory run (default 1M,5M)")
    args = parser.parse_args(argv)
    size = dict(SMOKE if args.smoke else FULL)
    size.update({k: v for k, v in vars(args).items() if k in size and v is not None})
    runs = {
        "full-load": lambda srv: full_load.run(srv, rows=size["rows"], tables=size["tables"],
                                               table_rows=size["table_rows"], repeat=size["repeat"],
                                               workers=size["workers"]),
        "cdc": lambda srv: cdc.run(srv, updates=size["updates"]),
        "latency": lambda srv: latency.run(srv, rate=size["rate"], seconds=size["seconds"]),
        "memory": lambda srv: memory.run(srv, sizes=tuple(int(n) for n in size["memory_sizes"].split(","))),
        "kafka": lambda srv: kafka.run(srv, rows=size["kafka_rows"], updates=size["updates"], rate=size["rate"],
                                       seconds=size["seconds"]),
        "s3": lambda srv: s3.run(srv, rows=size["rows"], repeat=size["repeat"],
                                 formats=tuple(args.s3_formats.split(","))),
        "mongodb": lambda srv: mongodb.run(srv, rows=size["rows"], repeat=size["repeat"]),
        "mongodb-cdc": lambda srv: mongodb_cdc.run(srv, rows=size["mongo_docs"], workers=size["workers"]),
    }
    # kafka needs a broker of its own; s3 is a full load again, into files: each only when named
    # (mongodb, mongodb-cdc: from the tests' MongoDB server, which needs Java)
    only_named = ("kafka", "s3", "mongodb", "mongodb-cdc")
    names = [b for b in BENCHES if b not in only_named] if args.bench == "all" else [args.bench]
    results: dict = {"machine": _machine(), "sizes": size, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with servers() as srv:
        for name in names:
            results[name] = runs[name](srv)
            if args.json:  # after each benchmark, so a long run that fails keeps what it measured
                args.json.write_text(json.dumps(results, indent=2))
    return 0


def _machine() -> dict:
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "postgres": pg, "load_average_at_start": os.getloadavg()}


if __name__ == "__main__":
    sys.exit(main())
