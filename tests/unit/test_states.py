"""The states of connectors/model/states.py: DMS's exact strings, the transition tables, and no bare state
string left where product code writes a state."""

from __future__ import annotations

import ast
import itertools
import json
from pathlib import Path

import pytest

from connectors.model.states import (
    TABLE_REFUSED,
    TABLE_TRANSITIONS,
    TASK_REFUSED,
    TASK_TRANSITIONS,
    JobState,
    Phase,
    Status,
    StopReason,
    TableStage,
    TableState,
    ValidationState,
    check,
    refused,
)
from scheduler.plan import phase
from tests.unit.test_plan import BOTH, CDC, FULL

ROOT = Path(__file__).resolve().parents[2]


def test_values_are_dms_strings() -> None:
    """The lists of docs/reference dms-formats.md §2 and §3, verbatim."""
    assert [s.value for s in Status] == ["creating", "ready", "starting", "running", "stopping", "stopped",
                                        "failed", "modifying", "deleting", "moving", "failed-move", "testing"]
    assert {r.value.removeprefix("Stop Reason ") for r in StopReason} == {
        "NORMAL", "RECOVERABLE_ERROR", "FATAL_ERROR", "FULL_LOAD_ONLY_FINISHED", "STOPPED_AFTER_FULL_LOAD",
        "STOPPED_AFTER_CACHED_EVENTS", "EXPRESS_LICENSE_LIMITS_REACHED", "STOPPED_AFTER_DDL_APPLY",
        "STOPPED_DUE_TO_LOW_MEMORY", "STOPPED_DUE_TO_LOW_DISK", "STOPPED_AT_SERVER_TIME", "STOPPED_AT_COMMIT_TIME",
        "RECONFIGURATION_RESTART", "RECYCLE_TASK"}
    assert all(r.startswith("Stop Reason ") for r in StopReason)
    assert {s.value for s in TableState} == {"Table does not exist", "Before load", "Full load", "Table completed",
                                             "Table cancelled", "Table error", "Table is being reloaded"}
    assert {s.value for s in ValidationState} == {
        "Not enabled", "Pending records", "Mismatched records", "Suspended records", "No primary key", "Table error",
        "Validated", "Error", "Pending validation", "Preparing table", "Pending revalidation"}


def test_members_are_their_strings() -> None:
    """JSON output and Redis values hold the same bytes as the bare strings did."""
    assert json.dumps({"Status": Status.RUNNING, "S": TableStage.LIVE.shown}) == '{"Status": "running", "S": ' \
        '"Table completed"}'
    assert f"{StopReason.NORMAL}" == "Stop Reason NORMAL" and str(ValidationState.VALIDATED) == "Validated"
    assert Status.FAILED == "failed" and "loaded" in {TableStage.LOADED}
    assert {"running": 1}[Status.RUNNING] == 1  # a value read from Redis finds a member's entry, and back
    assert f"{TableState.ERROR:14}|" == "Table error   |"


def test_every_table_stage_shows_a_table_state() -> None:
    assert {s.shown for s in TableStage} <= set(TableState)
    assert TableStage.LOADED.shown == TableState.FULL_LOAD and TableStage.LIVE.shown == TableState.COMPLETED


@pytest.mark.parametrize(("previous", "new"), [(p, n) for p, news in TASK_TRANSITIONS.items() for n in sorted(news)])
def test_task_transition_allowed(previous: Status | None, new: Status) -> None:
    assert check(TASK_TRANSITIONS, previous, new)
    assert previous not in refused(TASK_REFUSED, new)


@pytest.mark.parametrize(("previous", "new"), [(p, n) for p, news in TABLE_TRANSITIONS.items() for n in sorted(news)])
def test_table_transition_allowed(previous: TableStage | None, new: TableStage) -> None:
    assert check(TABLE_TRANSITIONS, previous, new)
    assert previous not in refused(TABLE_REFUSED, new)


@pytest.mark.parametrize(("transitions", "previous", "new"), [
    (TASK_TRANSITIONS, Status.FAILED, Status.RUNNING),  # a late heartbeat must not revive a failed task
    (TASK_TRANSITIONS, Status.FAILED, Status.STOPPED),  # nor a late settle hide its failure
    (TASK_TRANSITIONS, Status.STOPPED, Status.RUNNING),
    (TASK_TRANSITIONS, Status.READY, Status.RUNNING),  # every start claims "starting" first
    (TASK_TRANSITIONS, None, Status.RUNNING),
    (TASK_TRANSITIONS, Status.RUNNING, Status.STARTING),
    (TASK_TRANSITIONS, Status.STOPPING, Status.RUNNING),
    (TABLE_TRANSITIONS, TableStage.FAILED, TableStage.LIVE),
    (TABLE_TRANSITIONS, TableStage.FAILED, TableStage.COMPLETED),
    (TABLE_TRANSITIONS, TableStage.LIVE, TableStage.LOADING),
    (TABLE_TRANSITIONS, TableStage.PENDING, TableStage.LIVE),  # cached changes apply only after a load
    (TABLE_TRANSITIONS, None, TableStage.LOADED),
])
def test_transition_not_allowed(transitions, previous, new) -> None:
    assert not check(transitions, previous, new)


def test_staying_is_always_allowed() -> None:
    """A write that only updates other fields (a new failure message, a chunk loading again)."""
    assert all(check(TASK_TRANSITIONS, s, s) for s in Status)
    assert all(check(TABLE_TRANSITIONS, s, s) for s in TableStage)


def test_refused_moves_are_illegal_ones() -> None:
    """A write is refused only when it is also illegal: refusing never blocks a documented move."""
    for refusals, transitions in ((TASK_REFUSED, TASK_TRANSITIONS), (TABLE_REFUSED, TABLE_TRANSITIONS)):
        for previous, news in refusals.items():
            for new in news:
                assert not check(transitions, previous, new), (previous, new)
    assert refused(TASK_REFUSED, Status.RUNNING) == ["failed", "stopped"]
    assert refused(TASK_REFUSED, Status.FAILED) == [] and refused(TASK_REFUSED, Status.STARTING) == []
    assert refused(TABLE_REFUSED, TableStage.LIVE) == ["failed"] and refused(TABLE_REFUSED, TableStage.FAILED) == []


def test_every_state_reaches_an_end() -> None:
    """From any task status a run can start again, or end (stopped, failed)."""
    for status in TASK_TRANSITIONS:
        seen, todo = set(), [status]
        while todo:
            s = todo.pop()
            seen.add(s)
            todo += [n for n in TASK_TRANSITIONS.get(s, ()) if n not in seen]
        assert seen & {Status.STOPPED, Status.FAILED}, status


def test_phase_shows_a_member() -> None:
    """The Phase `task describe` prints, for every status and every mix of table states."""
    mixes = [dict(enumerate(c)) for n in range(3) for c in itertools.combinations_with_replacement(TableStage, n)]
    for task, status, states in itertools.product((FULL, BOTH, CDC), Status, mixes):
        shown = phase(task, status, {str(k): v for k, v in states.items()})
        assert shown in set(Phase) | set(Status)


# Fields whose values are states: what `task describe` and `task stats` print, and the internal ones.
STATE_FIELDS = {"Status", "StopReason", "pending_stop_reason", "TableState", "ValidationState", "Phase"}


def _bare_state_writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        pairs = []
        if isinstance(node, ast.Call):
            pairs = [(k.arg, k.value) for k in node.keywords]
        elif isinstance(node, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)]
        for name, value in pairs:
            if name in STATE_FIELDS and isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}={value.value!r}")
    return found


def test_no_bare_state_strings_written() -> None:
    """Product code writes states as members of connectors/model/states.py, never as bare strings."""
    files = [p for d in ("scheduler", "worker", "connectors") for p in sorted((ROOT / d).rglob("*.py"))]
    assert [w for p in files for w in _bare_state_writes(p)] == []


@pytest.mark.parametrize("kind", [Status, StopReason, Phase, TableState, TableStage, JobState, ValidationState])
def test_values_are_unique(kind) -> None:
    assert len({m.value for m in kind}) == len(kind)
