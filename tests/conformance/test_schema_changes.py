"""A source's schema change on each SQL target (connectors/sql/ddl.py), as the worker hands it over
(worker/cdc/ddl.py): the target table loaded, then ALTERs in the target's names with their column steps,
each alone in its apply with the rows around it in the shape of their time; the rows read back in the new
shape, the checkpoint at the last change. Capture is each source's own (tests/integration/test_ddl.py)."""

from __future__ import annotations

from dataclasses import replace
from itertools import count

import pytest

from connectors.base import Batch, Change, Op, Position, TableRule, TableSchema
from connectors.ddl import ColumnChange, ColumnDdl, SchemaChange, TableDdl

from .engines import ENGINES, TARGETS, names
from .engines.memory import MemoryEngine

_names = names()
# Every column any shape of the table has, by its name in the memory engine ("wide": n widened to int8).
ALL = [("id", "int8"), ("n", "int4"), ("name", "text"), ("gone", "int4"), ("extra", "int4"), ("wide", "int8")]


@pytest.mark.parametrize("engine", [t for t in TARGETS if ENGINES[t].sql_target])
def test_columns_added_renamed_dropped_and_widened_between_rows(engines, engine: str) -> None:
    memory = MemoryEngine()
    made = memory.create(f"ddl{next(_names)}", ALL)
    (full,) = memory.open_source().tables([TableRule(made.schema, made.name, "explicit")])
    memory.close()
    col = {c.name: c for c in full.columns}

    def shape(*columns) -> TableSchema:
        return replace(full, columns=tuple(columns))

    first = shape(col["id"], col["n"], col["name"], col["gone"])
    second = shape(*first.columns, col["extra"])
    label, n_wide = replace(col["name"], name="label"), replace(col["wide"], name="n")
    third = shape(col["id"], n_wide, label, col["extra"])
    at = count(1)

    def change(op: Op, before=None, after=None, ddl: SchemaChange | None = None) -> Change:
        return Change(first.table, op, Position("ddl", 1, next(at)), before, after, schema=ddl)

    def alter(now: TableSchema, statement: str, *steps: ColumnChange) -> Change:
        return change(Op.DDL, after={"columns": list(now.column_names)},
                      ddl=SchemaChange(TableDdl.ALTER, now, statement, columns=steps))

    target = engines[(engine, "target")].open_target()
    task = f"ddl{next(_names)}"
    try:
        target.prepare(first, "drop")
        target.load(first, [Batch(2, [{"id": 1, "n": 1, "name": "a", "gone": 1},
                                      {"id": 2, "n": 2, "name": "b", "gone": 2}])])
        target.apply(task, {first: [change(Op.INSERT, None, {"id": 3, "n": 3, "name": "c", "gone": 3})]})
        target.apply(task, {second: [alter(second, "ALTER TABLE t ADD COLUMN extra int DEFAULT 5",
                                           ColumnChange(ColumnDdl.ADD, "extra", col["extra"], 5))]})
        target.apply(task, {second: [change(Op.INSERT, None, {"id": 4, "n": 4, "name": "d", "gone": 4, "extra": 40}),
                                     change(Op.UPDATE, {"id": 2}, {"id": 2, "n": 2, "name": "b", "gone": 20,
                                                                   "extra": 20})]})
        target.apply(task, {third: [alter(third, "ALTER TABLE t RENAME name TO label, DROP gone, n TYPE bigint",
                                          ColumnChange(ColumnDdl.RENAME, "name", label),
                                          ColumnChange(ColumnDdl.DROP, "gone"),
                                          ColumnChange(ColumnDdl.RETYPE, "n", n_wide))]})
        last = change(Op.INSERT, None, {"id": 5, "n": 2**40, "label": "e", "extra": 50})
        target.apply(task, {third: [change(Op.UPDATE, {"id": 1}, {"id": 1, "n": 1, "label": "a2", "extra": 10}),
                                    change(Op.DELETE, {"id": 4}, None), last]})
        rows = [r for part in target.read(third) for r in part]
        assert rows == [{"id": 1, "n": 1, "label": "a2", "extra": 10}, {"id": 2, "n": 2, "label": "b", "extra": 20},
                        {"id": 3, "n": 3, "label": "c", "extra": 5},  # the ADD's DEFAULT, on a row already there
                        {"id": 5, "n": 2**40, "label": "e", "extra": 50}]
        assert target.applied(task)[first.table] == last.position
    finally:
        target.close()
