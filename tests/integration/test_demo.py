"""The README's first command, as a new user runs it: a fresh virtual environment, `pip install .`, `dms demo`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_dms_demo_in_a_fresh_virtual_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Built from a copy of the tree, as a user's clone would be: nothing of the test run's own install leaks in.
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DMS_")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), PATH=f"{venv / 'bin'}:{env['PATH']}")

    started = time.monotonic()
    demo = subprocess.run(["dms", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "source and target are identical (3 tables" in demo.stdout
    print(f"dms demo took {seconds:.1f} s\n{demo.stdout}")

    source, target = tmp_path / "opendms-demo" / "source.db", tmp_path / "opendms-demo" / "target.db"
    for table in ("customers", "products", "orders"):
        query = f"SELECT * FROM {table} ORDER BY id"
        with sqlite3.connect(source) as s, sqlite3.connect(target) as t:
            assert s.execute(query).fetchall() == t.execute(query).fetchall(), table

    # The task stays in the catalog; its statistics survive the embedded Redis going away with the demo.
    stats = subprocess.run(["dms", "task", "stats", "demo", "--json"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    tables = {t["TableName"]: t for t in json.loads(stats.stdout)["TableStatistics"]}
    assert tables["customers"]["FullLoadRows"] == 2_000 and tables["products"]["FullLoadRows"] == 500
    assert 19_000 < tables["orders"]["FullLoadRows"] < 21_000  # the writer changes orders from before the load
    assert tables["orders"]["Inserts"] > 0 and tables["orders"]["Updates"] > 0
