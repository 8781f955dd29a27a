"""A table's changes applied as set operations, under DMS's apply-error policies, by any SQL engine.

A batch is cut where a change must stand alone (connectors/net_effect.py ``segments``), and each run
between the cuts is planned without a connection (``plan_run``: deletes, full-row writes, partial
updates, each with what its rows must find) and then run through the engine's statements
(``Statements``). Under a policy that checks (SKIP, FAIL), every checked statement's row count must be
what its keys expect, which costs nothing while no change conflicts; when one does, the table's
changes go again from a savepoint, each key looked up first, so the conflicting changes are left
out where one-by-one apply would meet them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.base import Change, Conflict, OnConflict, Op, Row, TableSchema
from connectors.errors import ObjectError
from connectors.net_effect import expectations, first_ops, missed, net_effect, resolve, segments


class Statements(Protocol):
    """What the apply needs of an engine (connectors/sql/target.py ``SqlTarget`` gives portable forms)."""

    def encode_rows(self, schema: TableSchema, rows: list[Row], text: bool) -> Any: ...
    def delete_rows(self, cur: Any, schema: TableSchema, keys: list[tuple], whole: bool) -> int: ...
    def write_rows(self, cur: Any, schema: TableSchema, rows: Any, expected: bool | None) -> int: ...
    def update_columns(self, cur: Any, schema: TableSchema, columns: tuple[str, ...], rows: list[tuple],
                       whole: bool) -> int: ...
    def update_one(self, cur: Any, schema: TableSchema, change: Change) -> int: ...
    def truncate(self, cur: Any, schema: TableSchema) -> None: ...
    def existing(self, cur: Any, schema: TableSchema, keys: list[tuple]) -> list[tuple]: ...
    def apply_keyless(self, cur: Any, schema: TableSchema, changes: Sequence[Change],
                      checked: Mapping[Op, OnConflict] | None) -> list[Conflict]: ...
    def forget_session(self) -> None: ...
    def unique_refused(self, schema: TableSchema, exc: BaseException) -> bool: ...


class Mismatch(Exception):
    """A checked statement touched another number of rows than its changes expected."""


@dataclass
class RunPlan:
    """A run's net effect as statements to run, made without a connection. ``expected``: None for
    no check, True where the rows must be there, False where they must not."""

    deletes: list[tuple[bool | None, list[tuple]]]
    writes: list[tuple[bool | None, Any, int]]  # full rows as the engine encoded them, and their count
    partial: list[tuple[tuple[str, ...], bool, list[tuple]]]  # columns present, must exist, values + key


class Prepared(dict):
    """A batch with its run plans made ahead (SqlTarget.plan), under the policies they were made for."""

    def __init__(self, changes: Mapping[TableSchema, Sequence[Change]],
                 plans: dict[TableSchema, list[RunPlan | None]], checked: Mapping[Op, OnConflict] | None) -> None:
        super().__init__(changes)
        self.plans = plans
        self.checked = checked


def plans(target: Statements, schema: TableSchema, changes: Sequence[Change],
          checked: Mapping[Op, OnConflict] | None) -> list[RunPlan | None]:
    """A plan per segment of a table's changes (None for those applied alone)."""
    if not schema.key:  # applied change by change (Statements.apply_keyless)
        return []
    return [plan_run(target, schema, part, checked) if isinstance(part, list) else None
            for part in segments(schema, changes)]


def apply_table(cur: Any, target: Statements, schema: TableSchema, changes: Sequence[Change],
                checked: Mapping[Op, OnConflict] | None, made: list[RunPlan | None] | None) -> list[Conflict]:
    """One table's changes of a batch; the conflicts of ops to SKIP or FAIL (none unless ``checked``)."""
    if not schema.key:
        if schema.full_row:  # the source logs whole old rows: rows matched on all their columns
            return target.apply_keyless(cur, schema, changes, checked)
        raise ObjectError(f"table {schema.table} has no key: changes cannot be applied; add a primary key on "
                          "the source (or have it log whole old rows) and reload the table")
    if not schema.unique:
        return _apply_checked(cur, target, schema, changes, checked, made)
    # An engine that checks unique indexes row by row (not at commit) may refuse a set statement whose rows
    # pass values between them (a swap): the table's changes go again one by one, in the source's order,
    # in which the source's own unique indexes let each through. What is refused then is a real conflict.
    cur.execute("SAVEPOINT dms_unique")
    try:
        conflicts = _apply_checked(cur, target, schema, changes, checked, made)
    except Exception as exc:
        if not target.unique_refused(schema, exc):
            raise
        cur.execute("ROLLBACK TO SAVEPOINT dms_unique")
        target.forget_session()
        conflicts = []
        for change in changes:
            conflicts += _apply_checked(cur, target, schema, [change], checked, None)
    cur.execute("RELEASE SAVEPOINT dms_unique")
    return conflicts


def _apply_checked(cur: Any, target: Statements, schema: TableSchema, changes: Sequence[Change],
                   checked: Mapping[Op, OnConflict] | None, made: list[RunPlan | None] | None) -> list[Conflict]:
    if not checked:
        return _apply(cur, target, schema, changes, None, made=made)
    cur.execute("SAVEPOINT dms_checked")
    try:
        conflicts = _apply(cur, target, schema, changes, checked, made=made)
    except Mismatch:
        cur.execute("ROLLBACK TO SAVEPOINT dms_checked")
        target.forget_session()  # what was made after the savepoint (a staging table) is gone
        conflicts = _apply(cur, target, schema, changes, checked, exact=True)
    cur.execute("RELEASE SAVEPOINT dms_checked")
    return conflicts


def _apply(cur: Any, target: Statements, schema: TableSchema, changes: Sequence[Change],
           checked: Mapping[Op, OnConflict] | None, exact: bool = False,
           made: list[RunPlan | None] | None = None) -> list[Conflict]:
    conflicts: list[Conflict] = []
    for n, part in enumerate(segments(schema, changes)):
        if isinstance(part, list):
            if checked and exact:
                kept, found = resolve(schema, part, target.existing(cur, schema, list(first_ops(schema, part))),
                                      checked)
                conflicts += found
                apply_run(cur, target, schema, plan_run(target, schema, kept, None))
            else:
                plan = made[n] if made is not None else None
                apply_run(cur, target, schema, plan or plan_run(target, schema, part, checked))
        elif part.op is Op.TRUNCATE:
            target.truncate(cur, schema)
        else:  # a key change with a partial new image: the old row is updated where it is
            conflicts += missed(schema, part, target.update_one(cur, schema, part), checked)
    return conflicts


def plan_run(target: Statements, schema: TableSchema, run: list[Change],
             checked: Mapping[Op, OnConflict] | None) -> RunPlan:
    plan = RunPlan([], [], [])
    if not run:
        return plan
    firsts: dict[tuple, Op | None] = {}
    deletes, upserts, partial = net_effect(schema, run, firsts if checked else None)
    expect = expectations(checked) if checked else None

    # Most runs expect one thing of every key (a run of updates: their rows are there), found at C speed.
    uniform = {expect[op] for op in set(firsts.values())} if expect else set()

    def split(keys: Iterable[tuple]) -> dict[bool | None, list[tuple]]:
        if len(uniform) == 1:
            return {next(iter(uniform)): list(keys)}
        groups: dict[bool | None, list[tuple]] = {e: [] for e in expect.values()}
        get = firsts.get
        for k in keys:
            groups[expect[get(k)]].append(k)
        return {e: found for e, found in groups.items() if found}

    if deletes:
        plan.deletes = list(split(deletes).items()) if expect else [(None, deletes)]
    if upserts:
        for expected, keys in (split(upserts).items() if expect else [(None, list(upserts))]):
            # keys are upserts' own order: all of them are its values as they stand
            rows = list(upserts.values()) if len(keys) == len(upserts) else [upserts[k] for k in keys]
            plan.writes.append((expected, target.encode_rows(schema, rows, run[0].text), len(keys)))
    groups_p: dict[tuple[tuple[str, ...], bool], list[tuple]] = {}
    for k, values in partial.items():
        cols_present = tuple(n for n in schema.column_names if n in values and n not in schema.key)
        if cols_present:
            groups_p.setdefault((cols_present, bool(expect and expect[firsts.get(k)])), []).append(
                tuple(values[n] for n in cols_present) + k)
    plan.partial = [(cols, must_exist, rows) for (cols, must_exist), rows in groups_p.items()]
    return plan


def apply_run(cur: Any, target: Statements, schema: TableSchema, plan: RunPlan) -> None:
    """A run's plan as set operations: deletes, then full rows, then partial updates. Each checked
    statement's row count must be what the keys' first changes expect (Mismatch otherwise)."""
    for expected, keys in plan.deletes:
        done = target.delete_rows(cur, schema, keys, expected is not None)
        if expected is not None and done != (len(keys) if expected else 0):
            raise Mismatch
    for expected, rows, count in plan.writes:
        done = target.write_rows(cur, schema, rows, expected)
        if expected is not None and done != count:
            raise Mismatch
    for columns, must_exist, rows in plan.partial:
        done = target.update_columns(cur, schema, columns, rows, must_exist)
        if must_exist and done != len(rows):
            raise Mismatch
