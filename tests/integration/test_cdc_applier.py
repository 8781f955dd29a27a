"""worker/cdc/applier.py and policies.py: batches applied with their checkpoint on a memory target, the
error policies when they do not apply, and the statistics in the live state (a real Redis)."""

from __future__ import annotations

import pytest
from cdc_parts import SCHEMA, Failures, Memory, T, settings, table_map

from connectors.base import Change, Op, Position
from worker.cache import ChangeCache
from worker.cdc.applier import Applier
from worker.cdc.policies import ErrorPolicies
from worker.cdc.router import Router
from worker.cdc.stats import Statistics
from worker.state import StateStore

pytestmark = pytest.mark.integration


class Parts:
    """Router, error policies, statistics and applier of one task, as the replicator wires them."""

    def __init__(self, mem: Memory, state: StateStore, **groups: dict) -> None:
        task_settings = settings(**groups)
        self.map = table_map(task_settings)
        self.failures = Failures()
        self.router = Router({T: SCHEMA}, {T: self.map}, ChangeCache(state, mem.task, mem.p0.log),
                             keep_truncates=True, on_ddl=lambda ch: None)
        self.router.states = {"public.t": "live"}
        self.policies = ErrorPolicies(mem.task, task_settings.errors, self.router, self.failures)
        self.policies.source, self.policies.target = mem.source, mem.target
        self.applier = Applier(mem.task, mem.source, mem.target, self.router, self.policies,
                               Statistics(state, mem.task), takes_text=False)

    def close(self) -> None:
        self.applier.close()


def _bad(like: Change) -> Change:
    """A change the memory target refuses (NOT NULL), as a target refuses a value it cannot take."""
    return Change(T, Op.INSERT, Position(like.position.log, like.position.major, 9), None, {"id": 99, "s": None},
                  like.commit_time, like.txid)


def test_a_batch_in_flight_applies_with_its_checkpoint_and_counts(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state)
    mem.src_db.insert(T, {"id": 1, "s": "a"}, {"id": 2, "s": "b"})
    mem.src_db.update(T, (1,), {"s": "c"})
    changes = mem.changes(3)
    upto = changes[-1].position
    parts.applier.submit({parts.map: changes}, upto)
    assert parts.applier.inflight is not None
    parts.applier.settle()
    parts.close()
    assert mem.rows() == [{"id": 1, "s": "c"}, {"id": 2, "s": "b"}]
    assert mem.target.applied(mem.task) == {T: upto} == parts.router.applied
    assert parts.applier.applied_upto == upto
    stats = state.table_stats(mem.task, T)
    assert (stats["Inserts"], stats["Updates"]) == ("2", "1")
    assert float(state.task(mem.task)["CDCLatencyTarget"]) >= 0


def test_an_empty_batch_moves_only_what_is_applied(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state)
    parts.applier.submit({}, Position(mem.p0.log, 5, 0))
    parts.close()
    assert parts.applier.inflight is None and parts.applier.applied_upto == Position(mem.p0.log, 5, 0)
    assert mem.target.applied(mem.task) == {}


def test_a_conflict_under_log_error_is_left_out_kept_and_escalates(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state, ErrorBehavior={"ApplyErrorEscalationCount": 2,
                                             "ApplyErrorEscalationPolicy": "SUSPEND_TABLE"})
    mem.dst_db.insert(T, {"id": 1, "s": "there"})
    mem.src_db.insert(T, {"id": 1, "s": "a"}, {"id": 2, "s": "b"})
    parts.applier.apply({parts.map: mem.changes(2)})
    assert mem.rows() == [{"id": 1, "s": "there"}, {"id": 2, "s": "b"}]
    assert [e["STATEMENT"] for e in mem.dst_db.exceptions] == ["insert {'id': 1, 's': 'a'}"]
    assert state.table_stats(mem.task, T)["Inserts"] == "1"  # the one left out is not counted
    assert parts.failures.tables == []  # one conflict of ApplyErrorEscalationCount 2
    mem.dst_db.insert(T, {"id": 3, "s": "there too"})
    mem.src_db.insert(T, {"id": 3, "s": "c"})
    parts.applier.apply({parts.map: mem.changes(3)[2:]})
    assert [t for t, _ in parts.failures.tables] == [T] and parts.router.state_of(T) == "failed"
    assert "2 apply conflicts on public.t reached ApplyErrorEscalationCount 2" in parts.failures.tables[0][1]
    parts.close()


def test_a_conflict_under_stop_task_applies_nothing_and_fails_the_task(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state, ErrorBehavior={"ApplyErrorUpdatePolicy": "STOP_TASK"})
    mem.src_db.insert(T, {"id": 1, "s": "a"})
    mem.src_db.update(T, (1,), {"s": "b"})
    update = mem.changes(2)[1]
    parts.applier.apply({parts.map: [update]})  # the row is not on the target
    parts.close()
    assert mem.rows() == [] and mem.target.applied(mem.task) == {}
    assert len(parts.failures.task) == 1 and "ApplyErrorUpdatePolicy is STOP_TASK" in parts.failures.task[0]
    assert parts.router.state_of(T) == "failed" and len(mem.dst_db.exceptions) == 1


def test_data_error_policy_log_error_applies_the_rest_one_by_one(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state, ErrorBehavior={"DataErrorPolicy": "LOG_ERROR"})
    mem.src_db.insert(T, {"id": 1, "s": "a"})
    mem.src_db.insert(T, {"id": 2, "s": "b"})
    good = mem.changes(2)
    parts.applier.submit({parts.map: [good[0], _bad(good[0]), good[1]]}, good[1].position)
    parts.applier.settle()
    parts.close()
    assert mem.rows() == [{"id": 1, "s": "a"}, {"id": 2, "s": "b"}]
    assert mem.target.applied(mem.task) == {T: good[1].position}
    assert len(mem.dst_db.exceptions) == 1 and "NOT NULL" in mem.dst_db.exceptions[0]["ERROR"]
    assert parts.failures.tables == parts.failures.task == []


@pytest.mark.parametrize("policy", ["SUSPEND_TABLE", "STOP_TASK"])
def test_data_error_policy_suspends_the_table_or_stops_the_task(mem: Memory, state: StateStore, policy: str) -> None:
    parts = Parts(mem, state, ErrorBehavior={"DataErrorPolicy": policy})
    mem.src_db.insert(T, {"id": 1, "s": "a"})
    (good,) = mem.changes(1)
    parts.applier.apply({parts.map: [good, _bad(good)]})
    parts.close()
    assert mem.rows() == [] and parts.router.state_of(T) == "failed"
    failed = parts.failures.tables if policy == "SUSPEND_TABLE" else parts.failures.task
    assert len(failed) == 1 and "NOT NULL" in str(failed[0])
