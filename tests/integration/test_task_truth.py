"""A task's state tells the truth under faults: a dead worker, a target away, a Redis that lost its data."""

from __future__ import annotations

import time

import pytest
import redis
from dms_env import DmsEnv, converged, execute, wait_for
from services import PostgresServer, RedisServer, fresh_db

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 200) g"
STALE = 2  # seconds without a CDC report before latency grows (DMS_CDC_STALE_SECONDS)


def _silent(dms: DmsEnv, task: str) -> bool:
    """Its CDC job has not reported for longer than STALE: read from Redis, so that waiting costs no CLI run."""
    return time.time() - float(dms.state.task(task).get("cdc_reported") or 0) > STALE + 0.2


def _reporting(dms: DmsEnv, task: str) -> bool:
    return time.time() - float(dms.state.task(task).get("cdc_reported") or 0) < 1


def test_a_killed_worker_is_reported_and_latency_grows_with_wall_time(dms, src, dst):
    dms.env["DMS_CDC_STALE_SECONDS"] = str(STALE)
    execute(src, ORDERS, SEED)
    dms.start_live("truth-dead", src, dst)
    healthy = dms.describe("truth-dead")
    assert healthy["Warnings"] == [] and healthy["Metrics"]["CDCLatencySource"] < STALE
    dms.kill(dms.workers[0])  # kill -9: no goodbye, its keys expire
    killed = time.time()
    execute(src, "INSERT INTO orders VALUES (1000, 1, 'nobody reads me', 1)")
    wait_for(lambda: not dms.state.workers(dms.instance) and _silent(dms, "truth-dead"), 20,
             "the worker's keys to expire")
    elapsed = time.time() - killed
    doc = dms.describe("truth-dead")
    assert doc["Status"] == "running"  # DMS's status stays; the warnings say what it hides
    assert len(doc["Warnings"]) == 2, doc["Warnings"]
    assert doc["Warnings"][0].startswith(f"no live worker has served instance {dms.instance} for ")
    assert doc["Warnings"][0].endswith(f"start one with `dms worker --instance {dms.instance}`")
    assert doc["Warnings"][1].startswith("changes have been neither read nor applied for ")
    assert all(value >= elapsed for value in doc["Metrics"].values()), (doc["Metrics"], elapsed)
    elapsed = time.time() - killed  # later: they have grown with it
    metrics = dms.json("task", "metrics", "truth-dead")["Metrics"]
    for name in ("CDCLatencySource", "CDCLatencyTarget"):
        assert metrics[name] >= elapsed > doc["Metrics"][name] - 0.5, (name, metrics, elapsed)
    plain = dms.dms("task", "describe", "truth-dead").stdout
    assert f"warning: no live worker has served instance {dms.instance} for " in plain
    # A worker again: the CDC job is taken over, the change applied, the warnings gone, latency back down.
    dms.start_worker()
    wait_for(lambda: converged(src, dst, "orders"), 30, "the new worker to apply the change")
    wait_for(lambda: _reporting(dms, "truth-dead"), 20, "the CDC job to report again")
    doc = dms.describe("truth-dead")
    assert doc["Warnings"] == [] and doc["Metrics"]["CDCLatencySource"] < STALE


def test_target_away_latency_grows_and_the_failure_clears_when_it_is_back_kept_in_the_events(dms, pg):
    dms.env["DMS_CDC_STALE_SECONDS"] = str(STALE)
    target = PostgresServer(private=True).start(logical=False)  # our own target, so stopping it disturbs no other test
    try:
        src, dst = fresh_db(pg), fresh_db(target)
        execute(src, ORDERS, SEED)
        quick = {"ErrorBehavior": {"RecoverableErrorInterval": 1, "RecoverableErrorThrottling": False}}
        dms.start_live("truth-away", src, dst, settings=quick)
        target.pause()
        execute(src, "INSERT INTO orders VALUES (1000, 1, 'waits for the target', 1)")
        inserted = time.time()
        wait_for(lambda: dms.state.task("truth-away").get("LastFailureMessage") and _silent(dms, "truth-away"),
                 30, "the failure while the target is away")
        elapsed = time.time() - inserted
        doc = dms.describe("truth-away")
        assert doc["Status"] == "running"
        assert doc["Warnings"][0].startswith("changes have been neither read nor applied for ")
        assert f"(last failure: {doc['LastFailureMessage']})" in doc["Warnings"][0]
        assert all(value >= elapsed for value in doc["Metrics"].values()), (doc["Metrics"], elapsed)
        failure = doc["LastFailureMessage"]
        target.resume()
        wait_for(lambda: converged(src, dst, "orders"), 60, "the change to reach the target once it is back")
        wait_for(lambda: "LastFailureMessage" not in dms.state.task("truth-away") and _reporting(dms, "truth-away"),
                 20, "the failure message to clear")
        doc = dms.describe("truth-away")
        assert "LastFailureMessage" not in doc
        assert doc["Warnings"] == [] and doc["Metrics"]["CDCLatencySource"] < STALE
        events = dms.json("task", "events", "truth-away")["Events"]
        categories = [e["EventCategories"][0] for e in events]
        assert categories[0] == "state change" and events[0]["Message"] == "started (start-replication)"
        failures = [e["Message"] for e in events if e["EventCategories"] == ["failure"]]
        assert f"cdc: {failure} (retrying)" in failures
        assert events[-1]["Message"].startswith("cdc: recovered after ")
        assert all(e["SourceIdentifier"] == "truth-away" and e["SourceType"] == "replication-task" for e in events)
        plain = dms.dms("task", "events", "truth-away").stdout
        assert "  failure       cdc: " in plain and "  state change  cdc: recovered after " in plain
    finally:
        target.stop()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own: it is flushed, as a Redis restarted empty would be."""
    server = RedisServer().start()
    env = DmsEnv(tmp_path, server.url)
    try:
        yield env, redis.Redis.from_url(server.url)
    finally:
        env.close()
        server.stop()


def test_live_state_flushed_under_a_running_task_fails_it_then_resumes_from_the_checkpoints(own_redis, src, dst):
    dms, client = own_redis
    execute(src, ORDERS, SEED)
    dms.start_live("truth-gone", src, dst)
    execute(src, "UPDATE orders SET t = 'before the flush' WHERE id <= 5")
    wait_for(lambda: converged(src, dst, "orders"), 30, "the update to be applied")
    client.flushall()
    wait_for(lambda: dms.state.task("truth-gone").get("Status") == "failed", 20, "the worker to fail the task")
    doc = dms.describe("truth-gone")
    message = ("live state of task truth-gone vanished from Redis (was it restarted empty, or flushed?): run "
               "`dms task start truth-gone --type resume-processing` to resume from the target's checkpoints, or "
               "`--type reload-target` to load everything again")
    assert doc["LastFailureMessage"] == message and doc["Warnings"][0] == message
    assert doc["StopReason"] == "Stop Reason FATAL_ERROR"
    # The worker that saw it go said so, and its event is the first after the flush.
    assert [e["Message"] for e in dms.state.events("truth-gone")] == [message]
    assert dms.json("task", "list")["ReplicationTasks"][0]["Status"] == "failed"
    stop = dms.dms("task", "stop", "truth-gone", check=False)
    assert stop.returncode == 2 and stop.stderr.strip() == f"error: task truth-gone is failed, not running: {message}"
    execute(src, "INSERT INTO orders VALUES (1000, 1, 'while failed', 1)", "DELETE FROM orders WHERE id = 7")
    out = dms.dms("task", "start", "truth-gone").stdout
    assert out.startswith("task truth-gone started (resume-processing, from the source's capture and the target's "
                          "checkpoints")
    wait_for(lambda: converged(src, dst, "orders"), 30, "the changes made while it was failed to arrive")
    doc = dms.describe("truth-gone")
    assert (doc["Status"], doc["Phase"], doc["Warnings"]) == ("running", "ongoing-replication", [])
    assert "LastFailureMessage" not in doc


def test_live_state_lost_before_the_load_finished_needs_a_reload(own_redis, src, dst):
    dms, client = own_redis
    execute(src, ORDERS, SEED)
    dms.task("truth-early", src, dst, "full-load-and-cdc")
    dms.dms("task", "start", "truth-early")  # no worker yet: nothing is loaded
    client.flushall()
    doc = dms.describe("truth-early")
    assert doc["Status"] == "failed"
    assert doc["LastFailureMessage"].endswith("its full load had not finished: run `dms task start truth-early "
                                              "--type reload-target` to load everything again")
    proc = dms.dms("task", "start", "truth-early", check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {doc['LastFailureMessage']}"
    assert dms.describe("truth-early")["Status"] == "failed"
    dms.start_worker()
    dms.dms("task", "start", "truth-early", "--type", "reload-target")
    dms.wait_live("truth-early")
    assert converged(src, dst, "orders")
