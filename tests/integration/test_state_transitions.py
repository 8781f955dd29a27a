"""State writes on a real Redis: illegal transitions are logged, and refused where a late writer would
show a failed task or table as alive (connectors/model/states.py, TASK_REFUSED and TABLE_REFUSED)."""

from __future__ import annotations

import uuid

import redis
import structlog

from connectors.model.states import JobState, Status, StopReason, TableStage, TableState
from worker.state import StateStore


def _store(redis_server) -> tuple[StateStore, str]:
    return StateStore(redis.Redis.from_url(redis_server.url, decode_responses=True)), f"tr-{uuid.uuid4().hex[:8]}"


def test_a_failed_task_is_not_shown_running_or_stopped_by_a_late_writer(redis_server):
    state, task = _store(redis_server)
    assert state.claim_start(task) == (True, Status.READY)
    assert state.set_task(task, Status=Status.RUNNING, StartDate=1.0)
    assert state.set_task(task, Status=Status.FAILED, StopReason=StopReason.FATAL_ERROR, LastFailureMessage="boom")
    with structlog.testing.capture_logs() as logged:
        assert not state.set_task(task, Status=Status.RUNNING, StartDate=2.0)  # a late start or heartbeat
        assert not state.set_task(task, Status=Status.STOPPED, StopReason=StopReason.NORMAL)  # a late settle
    info = state.task(task)
    assert (info["Status"], info["StopReason"], info["LastFailureMessage"], info["StartDate"]) == \
        ("failed", "Stop Reason FATAL_ERROR", "boom", "1.0")
    assert [(e["event"], e["previous"], e["status"], e["refused"], e["task"]) for e in logged] == [
        ("illegal_task_transition", "failed", "running", True, task),
        ("illegal_task_transition", "failed", "stopped", True, task)]
    # A failure may be said again (its message updated), and a new start is allowed.
    assert state.set_task(task, Status=Status.FAILED, LastFailureMessage="again")
    assert state.task(task)["LastFailureMessage"] == "again"
    assert state.claim_start(task) == (True, Status.FAILED)
    assert state.status(task) == "starting"
    state.forget_task(task)


def test_an_illegal_but_harmless_task_move_is_written_and_logged(redis_server):
    state, task = _store(redis_server)
    state.set_task(task, Status=Status.STOPPED)
    with structlog.testing.capture_logs() as logged:
        assert state.set_task(task, Status=Status.FAILED, LastFailureMessage="a worker: no key")
    assert state.status(task) == "failed"
    assert [(e["event"], e["previous"], e["refused"]) for e in logged] == [
        ("illegal_task_transition", "stopped", False)]
    with structlog.testing.capture_logs() as logged:  # the documented path logs nothing
        assert state.claim_start(task)[0]
        assert state.set_task(task, Status=Status.RUNNING)
        assert state.set_task(task, Status=Status.STOPPING)
        assert state.set_task(task, Status=Status.STOPPED, StopReason=StopReason.NORMAL)
    assert logged == []
    state.forget_task(task)


def test_a_failed_table_is_not_shown_loaded_or_live(redis_server):
    state, task = _store(redis_server)
    table = "public.t"
    with structlog.testing.capture_logs() as logged:
        assert state.set_table_state(task, table, TableStage.PENDING, FullLoadRows=0)
        assert state.set_table_state(task, table, TableStage.LOADING, FullLoadRows=0)
        assert state.set_table_state(task, table, TableStage.LOADED, FullLoadRows=5)
    assert logged == []
    assert state.table_stats(task, table)["TableState"] == TableState.FULL_LOAD
    assert state.set_table_state(task, table, TableStage.FAILED, TableError="bad row")
    with structlog.testing.capture_logs() as logged:
        assert not state.set_table_state(task, table, TableStage.LIVE)  # a cache drain that began before
        assert not state.set_table_state(task, table, TableStage.COMPLETED, FullLoadRows=9)  # a late load
    assert state.table_states(task) == {table: "failed"}
    stats = state.table_stats(task, table)
    assert (stats["TableState"], stats["FullLoadRows"], stats["TableError"]) == ("Table error", "5", "bad row")
    assert [(e["event"], e["previous"], e["state"], e["refused"]) for e in logged] == [
        ("illegal_table_transition", "failed", "live", True),
        ("illegal_table_transition", "failed", "completed", True)]
    state.forget_task(task)


def test_dispatch_and_claim_scripts_keep_their_strings(redis_server):
    """The Lua scripts take their state strings from the enums: a waiting job is sent only while running."""
    state, task = _store(redis_server)
    state.hold(task, ["full_load:public.a"])
    assert state.jobs(task) == {"full_load:public.a": "waiting"}
    assert state.claim_waiting(task) == []  # not running
    state.claim_start(task)
    state.set_task(task, Status=Status.RUNNING, max_full_load_subtasks=1)
    assert state.claim_waiting(task) == ["full_load:public.a"]
    assert state.jobs(task) == {"full_load:public.a": JobState.QUEUED}
    assert state.claim_start(task) == (False, "running")
    state.forget_task(task)
