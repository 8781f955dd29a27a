"""`dms task start` planned by a running worker (scheduler/start_requests.py), on real workers and Redis:
the same lines and exit codes as a start the CLI plans, and the CLI plans it itself when no worker takes it."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
import redis
from dms_env import SQLITE, DmsEnv, wait_for

from scheduler import start_requests

pytestmark = pytest.mark.integration


def _sqlite_task(dms: DmsEnv, tmp_path, name: str) -> None:
    src, dst = tmp_path / f"{name}-src.db", tmp_path / f"{name}-dst.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, t TEXT)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"row {i}") for i in range(1, 101)])
    conn.commit()
    conn.close()
    dms.task(name, f"{SQLITE}{src}", f"{SQLITE}{dst}", "full-load")


def _target_rows(tmp_path, name: str) -> int:
    conn = sqlite3.connect(tmp_path / f"{name}-dst.db")
    try:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        conn.close()


def _planned(dms: DmsEnv, task: str) -> list[dict]:
    """The worker's start_planned events of the task."""
    events = []
    for line in dms.worker_log().splitlines():
        if '"start_planned"' in line:
            event = json.loads(line)
            if event.get("task") == task:
                events.append(event)
    return events


def test_a_running_worker_plans_the_start_and_the_cli_says_what_it_said(dms, tmp_path):
    _sqlite_task(dms, tmp_path, "ask")
    dms.start_worker(concurrency=2)
    client = redis.Redis.from_url(dms.redis_url, decode_responses=True)
    catalog = start_requests.catalog_id(dms.env["DMS_CATALOG_URL"])
    wait_for(lambda: client.zcount(f"dms:start-planners:{catalog}", time.time(), "+inf"), 30,
             "the worker to plan starts")

    started = dms.dms("task", "start", "ask")
    assert started.stdout.strip() == "task ask started (start-replication)", started
    assert started.stderr == ""
    assert [e["start_type"] for e in _planned(dms, "ask")] == ["start-replication"]
    dms.wait_status("ask", "stopped")
    assert _target_rows(tmp_path, "ask") == 100

    # An error planned by the worker: the CLI's one line and exit code
    again = dms.dms("task", "start", "ask", "--type", "start-replication", check=False)
    assert again.returncode == 2, again
    assert again.stdout == ""
    assert again.stderr.strip() == ("error: task ask has run before: use --type resume-processing to continue from "
                                    "its checkpoint or --type reload-target to load everything again")
    assert len(_planned(dms, "ask")) == 2

    reloaded = dms.dms("task", "start", "ask", "--type=reload-target")
    assert reloaded.stdout.strip() == "task ask started (reload-target)"
    dms.wait_status("ask", "stopped")
    assert _target_rows(tmp_path, "ask") == 100
    assert client.llen(f"dms:start-requests:{catalog}") == 0


def test_the_cli_plans_the_start_itself_when_no_worker_takes_it(dms, tmp_path):
    """A planner that is registered but gone (killed without leaving): the request is withdrawn after
    TAKE_SECONDS and the CLI plans the start, once; a worker of another instance declines its task's start."""
    _sqlite_task(dms, tmp_path, "gone")
    client = redis.Redis.from_url(dms.redis_url, decode_responses=True)
    catalog = start_requests.catalog_id(dms.env["DMS_CATALOG_URL"])
    planners = f"dms:start-planners:{catalog}"
    client.zadd(planners, {"999999@nowhere": time.time() + 60})
    try:
        began = time.monotonic()
        started = dms.dms("task", "start", "gone")
        took = time.monotonic() - began
    finally:
        client.zrem(planners, "999999@nowhere")
    assert started.stdout.strip() == "task gone started (start-replication)"
    assert "no worker serves instance" in started.stderr  # planned by the CLI, which says so
    assert took >= start_requests.TAKE_SECONDS
    assert client.llen(f"dms:start-requests:{catalog}") == 0  # withdrawn: no worker will run it later

    # A worker of another instance plans starts of this catalog, but not of this instance's tasks: it declines
    _sqlite_task(dms, tmp_path, "declined")
    dms.dms("instance", "create", "other")
    dms.start_worker(concurrency=1, instance="other")
    wait_for(lambda: client.zcount(planners, time.time(), "+inf"), 30, "the other instance's worker to plan starts")
    declined = dms.dms("task", "start", "declined")
    assert declined.stdout.strip() == "task declined started (start-replication)"
    assert "no worker serves instance" in declined.stderr
    assert _planned(dms, "declined") == []
    dms.start_worker(concurrency=1)
    for task in ("gone", "declined"):
        dms.wait_status(task, "stopped")
        assert _target_rows(tmp_path, task) == 100


def test_a_start_waits_until_the_last_runs_jobs_have_ended(dms, tmp_path):
    """The job that failed a task still ends (closes its connections, records its outcome) after the task shows
    failed. A start planned at once (as a worker plans it) waits for its lease: a job of the new run sent meanwhile
    would be skipped as running elsewhere, and the old job's record would overwrite the new run's."""
    from worker.state import full_load_job

    _sqlite_task(dms, tmp_path, "ending")
    dms.start_worker(concurrency=1)
    client = redis.Redis.from_url(dms.redis_url, decode_responses=True)
    job = full_load_job("main.items")
    client.hset("dms:task:ending:jobs", job, "failed")
    client.set(f"dms:task:ending:lease:{job}", "a-worker-ending-it", px=2000)  # the last run's job, ending
    began = time.monotonic()
    dms.dms("task", "start", "ending")
    assert time.monotonic() - began >= 1.5
    dms.wait_status("ending", "stopped")
    assert _target_rows(tmp_path, "ending") == 100
    assert '"job_skipped"' not in dms.worker_log()
