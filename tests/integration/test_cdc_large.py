"""worker/cdc/large.py: a source transaction larger than a batch, streamed into one open target
transaction of a memory target, or spilled to a real Redis and applied whole when it ends."""

from __future__ import annotations

import pytest
from cdc_parts import Memory, T

from connectors.errors import Stop
from worker.cdc.applier import ReadAgain
from worker.cdc.large import Spill, Stream
from worker.cdc.stats import Tally
from worker.state import StateStore

from .test_cdc_applier import Parts, _bad

pytestmark = pytest.mark.integration


def _one_transaction(mem: Memory, rows: int) -> list:
    with mem.src_db.transaction() as tx:
        for i in range(1, rows + 1):
            tx.insert(T, {"id": i, "s": f"row {i}"})
    return mem.changes(rows)


def test_a_streamed_transaction_shows_on_the_target_only_whole(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state)
    changes = _one_transaction(mem, 9)
    stream = Stream(parts.applier, parts.policies.rules(False), Tally(parts.router.by_target))
    stream.part({parts.map: changes[:3]})
    stream.part({parts.map: changes[3:6]})
    # The target transaction is open, holding the database's lock: its committed tables, read without it.
    assert not mem.dst_db.tables[T].rows and not mem.dst_db.checkpoints
    stream.end({parts.map: changes[6:]}, changes[-1].position)
    parts.applier.settle()
    parts.close()
    assert [r["id"] for r in mem.rows()] == list(range(1, 10))
    assert mem.target.applied(mem.task) == {T: changes[-1].position}
    assert parts.applier.applied_upto == changes[-1].position
    assert state.table_stats(mem.task, T)["Inserts"] == "9"


def test_an_aborted_stream_leaves_nothing_and_a_failed_one_is_read_again(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state)
    changes = _one_transaction(mem, 4)
    stream = Stream(parts.applier, parts.policies.rules(False), Tally(parts.router.by_target))
    stream.part({parts.map: changes[:2]})
    stream.abort()
    with pytest.raises(Stop):
        stream.future.result(10)
    assert mem.rows() == []
    failing = Stream(parts.applier, parts.policies.rules(False), Tally(parts.router.by_target))
    failing.part({parts.map: changes[:2]})
    failing.end({parts.map: [_bad(changes[0])]}, changes[-1].position)
    with pytest.raises(ReadAgain) as again:
        parts.applier.settle()  # a streamed part is gone from memory: the source sends it again
    parts.close()
    assert again.value.upto == changes[-1].position and "NOT NULL" in again.value.error
    assert mem.rows() == [] and mem.target.applied(mem.task) == {}


def test_a_spilled_transaction_comes_back_from_redis_and_applies_in_one(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state)
    changes = _one_transaction(mem, 7)
    spill = Spill(state, mem.task, mem.p0.log, parts.applier, chunk=2)
    assert spill.hold({parts.map: changes[:3]}) == 3 and spill.hold({parts.map: changes[3:5]}) == 2
    assert spill and len(spill) == 5
    assert state.r.xlen(StateStore.spill_key(mem.task, T)) == 5
    spill.apply({parts.map: changes[5:]}, changes[-1].position)
    parts.close()
    assert [r["id"] for r in mem.rows()] == list(range(1, 8))
    assert mem.target.applied(mem.task) == {T: changes[-1].position}
    assert not spill and not state.r.exists(StateStore.spill_key(mem.task, T))
    assert parts.applier.applied_upto == changes[-1].position
    assert state.table_stats(mem.task, T)["Inserts"] == "7"


def test_a_spilled_transaction_that_fails_goes_through_the_error_policy(mem: Memory, state: StateStore) -> None:
    parts = Parts(mem, state, ErrorBehavior={"DataErrorPolicy": "SUSPEND_TABLE"})
    changes = _one_transaction(mem, 3)
    spill = Spill(state, mem.task, mem.p0.log, parts.applier, chunk=5_000)
    spill.hold({parts.map: [*changes, _bad(changes[0])]})
    spill.apply({}, changes[-1].position)
    parts.close()
    assert mem.rows() == [] and [t for t, _ in parts.failures.tables] == [T]
    assert not state.r.exists(StateStore.spill_key(mem.task, T))
