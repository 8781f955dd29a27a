"""Pure planning: jobs a start runs, the task phase, and a table's first state."""

from __future__ import annotations

import json

import pytest

from connectors.model.catalog import TaskDef
from connectors.model.states import TableStage
from scheduler.plan import initial_table_state, jobs_to_run, phase
from worker.state import CDC_JOB, FULL_LOAD_PREFIX

MAPPINGS = json.dumps({"rules": [{
    "rule-type": "selection", "rule-id": "1", "rule-name": "1",
    "object-locator": {"schema-name": "public", "table-name": "%"}, "rule-action": "include",
}]})


def task(migration_type: str) -> TaskDef:
    return TaskDef("t1", "src", "tgt", "inst", migration_type, MAPPINGS)


FULL, BOTH, CDC = task("full-load"), task("full-load-and-cdc"), task("cdc")
FRESH = {"public.b": "pending", "public.a": "pending", "s.c": "pending"}


def test_task_kinds() -> None:
    assert (FULL.full_load, FULL.cdc) == (True, False)
    assert (BOTH.full_load, BOTH.cdc) == (True, True)
    assert (CDC.full_load, CDC.cdc) == (False, True)
    assert FULL.mappings.selections[0].table == "%"
    assert BOTH.settings.prep_mode == "drop"


def test_initial_table_state() -> None:
    assert initial_table_state(FULL) == "pending"
    assert initial_table_state(BOTH) == "pending"
    assert initial_table_state(CDC) == "live"
    for t in (FULL, BOTH, CDC):
        assert initial_table_state(t) in set(TableStage)


def test_full_load_fresh() -> None:
    assert jobs_to_run(FULL, FRESH) == ["full_load:public.a", "full_load:public.b", "full_load:s.c"]


def test_full_load_and_cdc_fresh() -> None:
    jobs = jobs_to_run(BOTH, FRESH)
    assert jobs == [FULL_LOAD_PREFIX + "public.a", FULL_LOAD_PREFIX + "public.b", FULL_LOAD_PREFIX + "s.c", CDC_JOB]
    assert jobs[-1] == "cdc"


def test_cdc_only() -> None:
    states = {t: initial_table_state(CDC) for t in FRESH}
    assert jobs_to_run(CDC, states) == [CDC_JOB]
    assert jobs_to_run(CDC, {"public.a": "pending"}) == [CDC_JOB]  # never loads
    assert jobs_to_run(CDC, {}) == [CDC_JOB]


def test_no_tables() -> None:
    assert jobs_to_run(FULL, {}) == []
    assert jobs_to_run(BOTH, {}) == [CDC_JOB]


RESUMED = {
    "public.pending": "pending", "public.loading": "loading", "public.loaded": "loaded",
    "public.live": "live", "public.completed": "completed", "public.failed": "failed",
}


@pytest.mark.parametrize(("t", "cdc"), [(FULL, []), (BOTH, [CDC_JOB])])
def test_resume_reloads_only_unfinished_tables(t: TaskDef, cdc: list[str]) -> None:
    assert jobs_to_run(t, RESUMED) == ["full_load:public.loading", "full_load:public.pending", *cdc]


def test_resume_with_everything_done() -> None:
    done = {"a.x": "completed", "a.y": "failed"}
    assert jobs_to_run(FULL, done) == []
    assert jobs_to_run(BOTH, {"a.x": "live", "a.y": "loaded"}) == [CDC_JOB]


@pytest.mark.parametrize("status", ["ready", "starting", "stopping", "stopped", "failed", "deleting"])
def test_phase_when_not_running_is_the_status(status: str) -> None:
    assert phase(BOTH, status, {"a.x": "loading"}) == status


@pytest.mark.parametrize(
    ("t", "states", "expected"),
    [
        (BOTH, {"a.x": "pending", "a.y": "live"}, "full-load"),
        (BOTH, {"a.x": "loading", "a.y": "loaded"}, "full-load"),
        (BOTH, {"a.x": "loaded", "a.y": "live"}, "applying-cached-changes"),
        (BOTH, {"a.x": "live", "a.y": "failed"}, "ongoing-replication"),
        (BOTH, {}, "ongoing-replication"),
        (CDC, {"a.x": "live"}, "ongoing-replication"),
        (FULL, {"a.x": "loading"}, "full-load"),
        (FULL, {"a.x": "completed", "a.y": "failed"}, "full-load"),
    ],
)
def test_phase_when_running(t: TaskDef, states: dict[str, str], expected: str) -> None:
    assert phase(t, "running", states) == expected
