"""The change-by-change work of a keyed target (connectors/base.TargetKind.KEYED) whose store has no
transactions: a table's changes of one batch worked out on the rows their keys have now, exactly as the
Target contract states the result, so that the store then takes one write per key (its final row, or a
delete) and the apply-error policies are checked before anything is written."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .base import Change, Changes, Conflict, OnConflict, Op, Position, TableSchema, parts_of
from .net_effect import checking, checks, conflict_error, raise_fatal

Rows = dict[tuple, dict[str, Any] | None]
# A table's part of a batch, worked out: the table, its last change's position, whether it is emptied first, and
# key -> its final row (None: deleted).
Plan = tuple[TableSchema, Position, bool, Rows]


def key_of(schema: TableSchema, row: Mapping[str, Any] | None) -> tuple:
    return tuple((row or {}).get(k) for k in schema.key)


def work_out(schema: TableSchema, items: Sequence[Change], current: Callable[[set[tuple]], Rows],
             checked: Mapping[Op, OnConflict] | None, conflicts: list[Conflict]) -> tuple[bool, Rows]:
    """(whether the table is emptied first, key -> its final row or None for deleted); ``current(keys)`` reads
    the rows the keys have now; a change whose op is checked and that conflicts is left out and appended to
    ``conflicts``."""
    keys: set[tuple] = set()
    for ch in items:
        for image in (ch.before, ch.after):
            if image is not None and all(k in image for k in schema.key):
                keys.add(key_of(schema, image))
    rows: Rows = dict(current(keys))
    touched: Rows = {}
    emptied = False
    for ch in items:
        op = ch.op
        if op is Op.TRUNCATE:
            emptied, rows, touched = True, {}, {}
            continue
        if op is Op.DDL:
            continue
        if op is Op.DELETE:
            k = key_of(schema, ch.before)
            if rows.get(k) is None and checks(checked, op):
                conflicts.append(Conflict(schema, ch, conflict_error(schema, ch, k)))
                continue
            rows[k] = touched[k] = None
            continue
        after = ch.after or {}
        new_k = key_of(schema, after)
        old_k = key_of(schema, ch.before) if ch.before else new_k
        found = rows.get(old_k)
        if (found is not None) != (op is Op.UPDATE) and checks(checked, op):
            conflicts.append(Conflict(schema, ch, conflict_error(schema, ch, old_k)))
            continue
        if op is Op.INSERT or found is None:
            if op is Op.UPDATE and not all(c.name in after for c in schema.columns):
                continue  # an update of a missing row without its unchanged columns: nothing to insert
            new = {c.name: after.get(c.name) for c in schema.columns}
        else:
            new = {**found, **after}
        if old_k != new_k:
            rows[old_k] = touched[old_k] = None
        rows[new_k] = touched[new_k] = new
    return emptied, touched


def work_out_batch(changes: Changes, current: Callable[[TableSchema, set[tuple]], Rows],
                   on_conflict: Mapping[Op, OnConflict] | None,
                   check: Callable[[TableSchema], None] = lambda schema: None) -> tuple[list[Plan], list[Conflict]]:
    """A whole batch worked out table by table (``work_out``), before anything is written: the plans of the
    tables with changes, in order, and the changes left out as conflicts; raises when ``on_conflict`` makes a
    conflict fatal. ``current(schema, keys)`` reads rows as they are; ``check(schema)`` may refuse a table's
    changes (raising) before its rows are read."""
    checked = checking(on_conflict)
    tables: dict[TableSchema, list[Change]] = {}
    for part in parts_of(changes):  # the whole batch first: a batch that fails to arrive writes nothing
        for schema, items in part.items():
            tables.setdefault(schema, []).extend(items)
    conflicts: list[Conflict] = []
    plans: list[Plan] = []
    for schema, items in tables.items():
        if items:
            check(schema)
            emptied, final = work_out(schema, items, lambda keys, s=schema: current(s, keys), checked, conflicts)
            plans.append((schema, items[-1].position, emptied, final))
    raise_fatal(conflicts, checked)
    return plans, conflicts
