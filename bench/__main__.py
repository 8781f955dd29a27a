"""python -m bench full-load [--rows N] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.full_load import run as run_full_load

BENCHES = {"full-load": run_full_load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the benchmark table")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method; the median is reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    names = list(BENCHES) if args.bench == "all" else [args.bench]
    results = {name: BENCHES[name](rows=args.rows, repeat=args.repeat) for name in names}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
