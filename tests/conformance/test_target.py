"""What every target promises whatever the source: preparation modes, chunk reloads, the key after the
load, DMS's apply-error policies, the exceptions table and forgetting a task's checkpoints.

The rows come from a memory source (portable types only), the changes are made here with Python values.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.base import Batch, Change, OnConflict, Op, Position, TableId, TableRule, TableSchema
from connectors.errors import ApplyConflict

from .engines import TARGETS, Engine, names
from .engines.memory import MemoryEngine

COLUMNS = [("id", "int8"), ("name", "text"), ("price", "numeric")]
_names = names()


def row(i: int, name: str | None = None) -> dict:
    return {"id": i, "name": name or f"row {i}", "price": Decimal(i) / 2}


class Setup:
    def __init__(self, target: Engine, rows: int = 6) -> None:
        self.src = MemoryEngine()
        self.table = self.src.create(f"items{next(_names)}", COLUMNS)
        self.src.write(self.table, [("insert", row(i)) for i in range(1, rows + 1)])
        self.source = self.src.open_source()
        (self.schema,) = self.source.tables([TableRule("%", "%")])
        self.target = target.open_target()
        self.task = f"target{next(_names)}"
        self.log = itertools.count(1)

    def load(self, **prepare) -> int:
        self.target.prepare(self.schema, "drop", **prepare)
        return self.target.load(self.schema, self.source.snapshot(self.schema, batch_rows=4))

    def rows(self) -> list[dict]:
        return [r for rows in self.target.read(self.schema) for r in rows]

    def change(self, op: Op, before: int | None = None, after: dict | None = None) -> Change:
        n = next(self.log)
        return Change(self.table, op, Position("test", n, 1, str(n)), None if before is None else {"id": before},
                      after)

    def close(self) -> None:
        self.source.close()
        self.target.close()
        self.src.close()


@pytest.fixture(params=TARGETS)
def setup(request: pytest.FixtureRequest, engines) -> Iterator[Setup]:
    engine = engines[(request.param, "target")]
    if reason := engine.cannot.get(request.function.__name__):
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    made = Setup(engine)
    yield made
    made.close()


def test_prepare_drop_truncate_and_keep(setup: Setup) -> None:
    assert setup.load() == 6
    setup.target.prepare(setup.schema, "keep")
    assert len(setup.rows()) == 6
    setup.target.prepare(setup.schema, "truncate")
    assert setup.rows() == []
    assert setup.target.load(setup.schema, [Batch(1, [row(1)])]) == 1
    assert setup.load() == 6  # dropped and created again: nothing of the last load stays
    assert setup.rows() == [row(i) for i in range(1, 7)]


def test_before_load_empties_the_selected_tables_together_and_keep_touches_nothing(setup: Setup) -> None:
    assert setup.load() == 6
    missing = TableSchema(TableId(setup.schema.table.schema, f"absent{next(_names)}"), setup.schema.columns,
                          setup.schema.key, setup.schema.engine)
    setup.target.before_load(setup.task, [setup.schema], "keep")  # a PostgreSQL target may say how it applies
    assert len(setup.rows()) == 6
    notes = setup.target.before_load(setup.task, [setup.schema, missing], "truncate")  # a missing table is no error
    assert setup.rows() == []
    assert any("TRUNCATE_BEFORE_LOAD emptied the 1 selected table(s)" in n for n in notes), notes
    assert setup.target.after_load(setup.task, replicating=False) == []
    assert setup.target.forget(setup.task) == []


def test_a_chunk_loaded_again_replaces_its_own_rows(setup: Setup) -> None:
    ranges = setup.source.split(setup.schema, 2)
    assert len(ranges) == 3 and ranges[0].after is None and ranges[-1].upto is None
    setup.target.prepare(setup.schema, "drop")
    for chunk in ranges:
        setup.target.load(setup.schema, setup.source.snapshot(setup.schema, within=chunk), within=None)
    setup.src.db.update(setup.table, (3,), {"name": "changed before the chunk ran again"})
    again = setup.target.load(setup.schema, setup.source.snapshot(setup.schema, within=ranges[1]), within=ranges[1])
    assert again == 2
    assert setup.rows() == [row(1), row(2), row(3, "changed before the chunk ran again"), row(4), row(5), row(6)]


def test_the_key_created_after_the_load_serves_the_apply(setup: Setup) -> None:
    setup.load(with_key=False)
    assert setup.target.create_keys(setup.schema) == []
    setup.target.apply(setup.task, {setup.schema: [setup.change(Op.UPDATE, 2, row(2, "after the key"))]})
    assert setup.rows()[1] == row(2, "after the key")


def _conflicting(setup: Setup) -> list[Change]:
    return [setup.change(Op.INSERT, None, row(1, "insert over row 1")),
            setup.change(Op.UPDATE, 9, row(9, "update of missing row 9")),
            setup.change(Op.DELETE, 8),
            setup.change(Op.UPDATE, 2, row(2, "a plain update"))]


def test_conflicts_resolve_by_default(setup: Setup) -> None:
    setup.load()
    changes = _conflicting(setup)
    assert setup.target.apply(setup.task, {setup.schema: changes}) == []
    assert setup.rows() == [row(1, "insert over row 1"), row(2, "a plain update"), *map(row, range(3, 7)),
                            row(9, "update of missing row 9")]
    assert setup.target.applied(setup.task) == {setup.table: changes[-1].position}


def test_conflicts_are_skipped_and_reported(setup: Setup) -> None:
    setup.load()
    changes = _conflicting(setup)
    skip = dict.fromkeys((Op.INSERT, Op.UPDATE, Op.DELETE), OnConflict.SKIP)
    conflicts = setup.target.apply(setup.task, setup.target.plan({setup.schema: changes}, skip), skip)
    assert [c.change.op for c in conflicts] == [Op.INSERT, Op.UPDATE, Op.DELETE]
    assert "already has a row with (id)=(1)" in conflicts[0].error
    assert "has no row with (id)=(9) to update" in conflicts[1].error
    assert "has no row with (id)=(8) to delete" in conflicts[2].error
    assert setup.rows() == [row(1), row(2, "a plain update"), *map(row, range(3, 7))]
    assert setup.target.applied(setup.task) == {setup.table: changes[-1].position}
    setup.target.record_exception(setup.task, setup.schema, conflicts[0].change, conflicts[0].error)


def test_a_failing_conflict_applies_nothing(setup: Setup) -> None:
    setup.load()
    first = setup.change(Op.UPDATE, 3, row(3, "applied before"))
    setup.target.apply(setup.task, {setup.schema: [first]})
    fail = {Op.DELETE: OnConflict.FAIL}
    with pytest.raises(ApplyConflict, match=r"has no row with \(id\)=\(8\) to delete"):
        setup.target.apply(setup.task, setup.target.plan({setup.schema: _conflicting(setup)}, fail), fail)
    assert setup.rows() == [row(1), row(2), row(3, "applied before"), *map(row, range(4, 7))]
    assert setup.target.applied(setup.task) == {setup.table: first.position}
    setup.target.forget(setup.task)
    assert setup.target.applied(setup.task) == {}


def test_only_its_own_task_checkpoints_are_read_and_forgotten(setup: Setup) -> None:
    setup.load()
    other = TableSchema(setup.schema.table, setup.schema.columns, setup.schema.key, setup.schema.engine)
    setup.target.apply("task-a", {setup.schema: [setup.change(Op.DELETE, 1)]})
    setup.target.apply("task-b", {other: [setup.change(Op.DELETE, 2)]})
    setup.target.forget("task-a")
    assert setup.target.applied("task-a") == {} and list(setup.target.applied("task-b")) == [setup.table]
