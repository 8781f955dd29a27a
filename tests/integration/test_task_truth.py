"""A task's state tells the truth under faults: a dead worker, a target away, a Redis that lost its data."""

from __future__ import annotations

import time

import pytest
from dms_env import converged, execute, wait_for

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 200) g"
STALE = 2  # seconds without a CDC report before latency grows (DMS_CDC_STALE_SECONDS)


def test_a_killed_worker_is_reported_and_latency_grows_with_wall_time(dms, src, dst):
    dms.env["DMS_CDC_STALE_SECONDS"] = str(STALE)
    execute(src, ORDERS, SEED)
    dms.start_live("dead", src, dst)
    healthy = dms.describe("dead")
    assert healthy["Warnings"] == [] and healthy["Metrics"]["CDCLatencySource"] < STALE
    dms.kill(dms.workers[0])  # kill -9: no goodbye, its keys expire
    killed = time.time()
    execute(src, "INSERT INTO orders VALUES (1000, 1, 'nobody reads me', 1)")
    doc = wait_for(lambda: (d := dms.describe("dead"))["Warnings"] and len(d["Warnings"]) == 2 and d, 20,
                   "describe to warn of the dead worker")
    assert doc["Status"] == "running"  # DMS's status stays; the warnings say what it hides
    assert doc["Warnings"][0].startswith(f"no live worker has served instance {dms.instance} for ")
    assert doc["Warnings"][0].endswith(f"start one with `dms worker --instance {dms.instance}`")
    assert doc["Warnings"][1].startswith("changes have been neither read nor applied for ")
    elapsed = time.time() - killed
    metrics = dms.json("task", "metrics", "dead")["Metrics"]
    for name in ("CDCLatencySource", "CDCLatencyTarget"):
        assert metrics[name] >= elapsed, (name, metrics, elapsed)
    time.sleep(1)
    elapsed = time.time() - killed
    later = dms.describe("dead")["Metrics"]
    assert all(value >= elapsed for value in later.values()), (later, elapsed)
    plain = dms.dms("task", "describe", "dead").stdout
    assert f"warning: no live worker has served instance {dms.instance} for " in plain
    # A worker again: the CDC job is taken over, the change applied, the warnings gone, latency back down.
    dms.start_worker()
    wait_for(lambda: converged(src, dst, "orders"), 30, "the new worker to apply the change")
    doc = wait_for(lambda: (d := dms.describe("dead"))["Warnings"] == [] and d, 20, "the warnings to clear")
    assert doc["Metrics"]["CDCLatencySource"] < STALE
