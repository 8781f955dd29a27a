"""A task's state tells the truth under faults: a dead worker, a target away, a Redis that lost its data."""

from __future__ import annotations

import time

import pytest
from dms_env import converged, execute, wait_for
from services import PostgresServer, fresh_db

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


def test_target_away_latency_grows_and_the_failure_clears_when_it_is_back_kept_in_the_events(dms, pg):
    dms.env["DMS_CDC_STALE_SECONDS"] = str(STALE)
    target = PostgresServer().start(logical=False)  # our own target, so stopping it disturbs no other test
    try:
        src, dst = fresh_db(pg), fresh_db(target)
        execute(src, ORDERS, SEED)
        quick = {"ErrorBehavior": {"RecoverableErrorInterval": 1, "RecoverableErrorThrottling": False}}
        dms.start_live("away", src, dst, settings=quick)
        target.pause()
        execute(src, "INSERT INTO orders VALUES (1000, 1, 'waits for the target', 1)")
        inserted = time.time()
        doc = wait_for(lambda: (d := dms.describe("away")).get("LastFailureMessage") and d["Warnings"] and d, 30,
                       "the failure and the warning while the target is away")
        assert doc["Status"] == "running"
        assert doc["Warnings"][0].startswith("changes have been neither read nor applied for ")
        assert f"(last failure: {doc['LastFailureMessage']})" in doc["Warnings"][0]
        elapsed = time.time() - inserted
        latency = dms.describe("away")["Metrics"]
        assert all(value >= elapsed for value in latency.values()), (latency, elapsed)
        failure = doc["LastFailureMessage"]
        target.resume()
        wait_for(lambda: converged(src, dst, "orders"), 60, "the change to reach the target once it is back")
        doc = wait_for(lambda: "LastFailureMessage" not in (d := dms.describe("away")) and d, 20,
                       "the failure message to clear")
        assert doc["Warnings"] == [] and doc["Metrics"]["CDCLatencySource"] < STALE
        events = dms.json("task", "events", "away")["Events"]
        categories = [e["EventCategories"][0] for e in events]
        assert categories[0] == "state change" and events[0]["Message"] == "started (start-replication)"
        failures = [e["Message"] for e in events if e["EventCategories"] == ["failure"]]
        assert f"cdc: {failure} (retrying)" in failures
        assert events[-1]["Message"].startswith("cdc: recovered after ")
        assert all(e["SourceIdentifier"] == "away" and e["SourceType"] == "replication-task" for e in events)
        plain = dms.dms("task", "events", "away").stdout
        assert "  failure       cdc: " in plain and "  state change  cdc: recovered after " in plain
    finally:
        target.stop()
