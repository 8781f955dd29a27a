"""Memory target: the reference for what a transactional target promises.

A batch is applied change by change, exactly as the Target contract defines the result (every other
target collapses a batch into set operations, connectors/net_effect.py, and must end the same), on
copies of its tables that replace the originals only when the whole batch, its checkpoint included,
is through: a failure anywhere, even mid-way through a batch read in parts, leaves nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import (
    Batch,
    Change,
    Changes,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    Position,
    PrepMode,
    TableId,
    TableSchema,
    TargetKind,
    parts_of,
)
from connectors.errors import DataError
from connectors.net_effect import checking, checks, conflict_error, raise_fatal
from connectors.store_target import StoreTarget

from .store import Database, Table, in_range, open_database


class MemoryTarget(StoreTarget):
    kind: ClassVar[TargetKind] = TargetKind.TRANSACTIONAL

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.db: Database = open_database(endpoint)

    def check(self) -> list[str]:
        return []

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        db = self.db
        with db.lock:
            found = db.tables.get(table.table)
            if found is None or mode == "drop":
                db.tables[table.table] = Table(table, keyed=with_key or not table.key)
            elif mode == "truncate":
                found.rows.clear()

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        """A memory table has no foreign keys or triggers: only TRUNCATE_BEFORE_LOAD's emptying, all at once."""
        if mode != "truncate":
            return []
        with self.db.lock:
            found = [self.db.tables[t.table] for t in tables if t.table in self.db.tables]
            for table in found:
                table.rows.clear()
        return [f"TRUNCATE_BEFORE_LOAD emptied the {len(found)} selected table(s) at once"]

    def create_keys(self, table: TableSchema) -> list[str]:
        """The key of a table created without it: the rows are indexed by it now (a duplicate fails, as
        adding a primary key does). Other unique indexes are not kept by a memory table."""
        db = self.db
        with db.lock:
            stored = db.table(table.table)
            if stored.keyed or not stored.schema.key:
                return []
            keyed = Table(stored.schema)
            for row in stored.rows.values():
                k = keyed.key_of(row)
                if k in keyed.rows:
                    raise DataError(f"could not create the primary key of {table.table}: key {k} is duplicated")
                keyed.rows[k] = row
            db.tables[table.table] = keyed
        return []

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        db = self.db
        count = 0
        rows = [row for batch in batches for row in batch.rows()]  # read before the lock: a source may be slow
        with db.lock:
            work = db.table(table.table).copy()
            if within is not None and not within.whole:  # a chunk loaded again: its earlier rows go first
                key = work.schema.key
                work.rows = {k: r for k, r in work.rows.items() if not in_range(tuple(r[c] for c in key), within)}
            for row in rows:
                clean = work.clean(row)
                k = work.key_of(clean)
                if k in work.rows:
                    raise DataError(f"duplicate key {k} in {table.table}: a full load met a row already there")
                work.rows[k] = clean
                count += 1
            db.tables[table.table] = work
        return count

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        checked = checking(on_conflict)
        db = self.db
        with db.lock:
            work: dict[TableId, Table] = {}
            marks: dict[TableId, Position] = {}
            conflicts: list[Conflict] = []
            for part in parts_of(changes):
                for schema, items in part.items():
                    if not items:
                        continue
                    table = work.get(schema.table) or work.setdefault(schema.table, db.table(schema.table).copy())
                    if not schema.key:
                        raise DataError(f"table {schema.table} has no key: changes cannot be applied")
                    for ch in items:
                        found = _apply_one(table, schema, ch, checked)
                        if found is not None:
                            conflicts.append(found)
                    marks[schema.table] = items[-1].position
            raise_fatal(conflicts, checked)
            db.tables.update(work)
            for table_id, at in marks.items():
                db.checkpoints[(task, table_id)] = at
        return conflicts

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        row = change.after if change.after is not None else change.before or {}
        with self.db.lock:
            self.db.exceptions.append({"TASK_NAME": task, "TABLE_OWNER": table.table.schema,
                                       "TABLE_NAME": table.table.name, "STATEMENT": f"{change.op.value} {dict(row)}",
                                       "ERROR": error})

    def applied(self, task: str) -> dict[TableId, Position]:
        with self.db.lock:
            return {table: at for (owner, table), at in self.db.checkpoints.items() if owner == task}

    def forget(self, task: str) -> list[str]:
        with self.db.lock:
            for mark in [m for m in self.db.checkpoints if m[0] == task]:
                del self.db.checkpoints[mark]
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        names = table.column_names
        with self.db.lock:
            rows = [{n: r.get(n) for n in names} for r in self.db.table(table.table).ordered()]
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def close(self) -> None:
        pass


def _apply_one(table: Table, schema: TableSchema, ch: Change, checked: Mapping[Op, OnConflict] | None
               ) -> Conflict | None:
    """One change, as DMS applies it one by one: resolved, or its conflict when its op is checked."""
    rows, key, op = table.rows, schema.key, ch.op
    if op is Op.TRUNCATE:
        rows.clear()
        return None
    if op is Op.DDL:
        return None  # the worker handles a source's column change; nothing reaches the rows
    before, after = ch.before, ch.after
    if op is Op.DELETE:
        k = tuple((before or {}).get(c) for c in key)
        if rows.pop(k, None) is None and checks(checked, op):
            return Conflict(schema, ch, conflict_error(schema, ch, k))
        return None
    after = after or {}
    new_k = tuple(after.get(c) for c in key)
    old_k = tuple(before.get(c) for c in key) if before else new_k
    current = rows.get(old_k)
    if (current is not None) != (op is Op.UPDATE) and checks(checked, op):
        return Conflict(schema, ch, conflict_error(schema, ch, old_k))
    if op is Op.INSERT:
        row = table.clean(after)
    elif current is None:
        if not all(c.name in after for c in schema.columns):
            return None  # an update of a missing row without its unchanged (TOAST) columns: nothing to insert
        row = table.clean(after)
    else:
        row = table.clean({**current, **after})
    if old_k != new_k:
        rows.pop(old_k, None)
    rows[new_k] = row
    return None


class MemoryKeyedTarget(MemoryTarget):
    """Declared idempotent keyed, as Redis or DynamoDB: tasks are planned under a keyed target's rules
    (connectors/model/target_rules.py). It applies as its parent, which keeps every promise of a keyed
    target (upserts and deletes by key, checkpoint once written) and more."""

    kind: ClassVar[TargetKind] = TargetKind.KEYED


class MemoryAppendTarget(MemoryTarget):
    """Declared append, as Kafka or S3: tasks are planned under an append target's rules. It stores rows
    as its parent does (no record stream): it is for planning, not for the suite's data tests."""

    kind: ClassVar[TargetKind] = TargetKind.APPEND
