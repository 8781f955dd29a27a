"""The benchmarks keep working: `python -m bench all --smoke`, checking the figures it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)  # every benchmark with its servers: minutes when the parallel run shares two cores
def test_every_bench_runs_at_smoke_size(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "all", "--smoke", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())

    loads = figures["full-load"]
    assert len(loads) == 2  # one big table, many small ones
    for shape in loads.values():
        assert set(shape["methods"]) == {"copy binary pipe", "pg_dump | psql", "opendms", "opendms, key during load"}
        assert all(m["rows_per_s"] > 0 and m["ratio_to_binary_pipe"] > 0 for m in shape["methods"].values())
        assert len(shape["worker_peak_rss_mb"]) == shape["workers"] and all(shape["worker_peak_rss_mb"])

    cdc = figures["cdc"]
    assert len(cdc["workloads"]) == 2
    reader = "plain pgoutput reader (parses, applies nothing)"
    for run, systems in [*((w, set()) for w in cdc["workloads"].values()), (cdc["backlog"], {reader})]:
        assert set(run) == {"native logical replication", "opendms"} | systems
        assert all(r["rows_per_s"] > 0 and r["ratio_to_native"] > 0 for r in run.values())
        # where the CPU went (at smoke size a part may use less than a clock tick)
        assert all(set(r["cpu_s"]) >= {"source", "target"} and min(r["cpu_s"].values()) >= 0 for r in run.values())
        assert set(run["opendms"]["cpu_s"]) == {"source", "target", "opendms"}

    latency = figures["latency"]["systems"]["opendms"]
    expected = figures["sizes"]["rate"] * figures["sizes"]["seconds"]
    assert latency["changes"] == expected  # every change arrived, and was timed
    assert 0 < latency["p50_s"] <= latency["p95_s"] <= latency["p99_s"] <= latency["max_s"]

    memory = figures["memory"]
    assert len(memory["sizes"]) == 2 and all(s["peak_rss_mb"] > 0 for s in memory["sizes"].values())
    for title in ("vs binary pipe", "vs native", "CPU s: source", "p99", "peak MB"):
        assert title in proc.stdout
