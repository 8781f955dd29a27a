"""The benchmarks keep working: a tiny run of each, checking the figures they report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_full_load_bench_smoke(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "full-load", "--rows", "3000", "--repeat", "1",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())["full-load"]
    assert figures["rows"] == 3000
    assert set(figures["methods"]) == {"copy binary pipe", "copy text pipe", "opendms (1 worker)", "opendms table load"}
    assert all(m["rows_per_s"] > 0 for m in figures["methods"].values())
    assert "vs binary pipe" in proc.stdout
