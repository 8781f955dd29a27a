"""SQLite target: table preparation, batched inserts, idempotent set-based apply with checkpoints.

A SQLite file has one namespace, so a table lands under its own name whatever its source schema
(public.orders and main.orders both become orders).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import (
    Batch,
    Capability,
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
from connectors.net_effect import checking, first_ops, missed, net_effect, raise_fatal, resolve, segments

from .connect import classify, key_range_sql, open_target, quote_ident, read_batches
from .types import bind, declared_type, row_encoder, schema_decoder

CHECKPOINTS = "awsdms_txn_state"  # DMS's name for its checkpoint control table, as on PostgreSQL
EXCEPTIONS = "awsdms_apply_exceptions"  # DMS's name and columns for changes that could not be applied


def _name(table: TableSchema) -> str:
    return quote_ident(table.table.name)


class SqliteTarget:
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ_BACK}
    )
    kind: ClassVar[TargetKind] = TargetKind.TRANSACTIONAL
    text_engine: ClassVar[str | None] = None

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.conn = open_target(endpoint)
        self._has_checkpoints = False

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One write transaction, its lock taken up front: commit on success, roll back on any failure."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._has_checkpoints = False  # created in this transaction, perhaps
                raise
        except (sqlite3.Error, OverflowError, UnicodeError) as exc:  # a value SQLite cannot take: DataError
            raise classify(exc, self.ep) from None

    def check(self) -> list[str]:
        self._run(lambda conn: conn.execute("SELECT count(*) FROM sqlite_master"))
        return []

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        # with_key is moot: SQLite cannot add a primary key to a table, so it is always created with it.
        name = _name(table)
        cols = [f"{quote_ident(c.name)} {declared_type(table, c)}{'' if c.nullable else ' NOT NULL'}".rstrip()
                for c in table.columns]
        if table.key:
            cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in table.key)})")

        def prep(conn: sqlite3.Connection) -> None:
            if mode == "drop":
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)})")
            if mode == "truncate":
                conn.execute(f"DELETE FROM {name}")

        self._run(prep)

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        """SQLite enforces foreign keys only on a connection that asks (PRAGMA foreign_keys), and OpenDMS's
        do not: nothing to set aside. Triggers fire (SQLite cannot switch them off short of dropping them)."""
        if mode != "truncate":
            return []

        def empty(conn: sqlite3.Connection) -> list[str]:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            found = [t for t in tables if t.table.name in names]
            for table in found:
                conn.execute(f"DELETE FROM {_name(table)}")
            return [f"TRUNCATE_BEFORE_LOAD emptied the {len(found)} selected table(s) in one transaction"]

        return self._run(empty)

    def after_load(self, task: str, *, replicating: bool) -> list[str]:
        return []

    def create_keys(self, table: TableSchema) -> list[str]:
        # The key came with the table. No unique indexes: SQLite checks them row by row and cannot defer
        # them, so a set-based apply of a batch (two rows swapping values) could fail where the source did not.
        return []

    def bulk_format(self, table: TableSchema) -> str | None:
        return None  # rows, always

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        chunk, bounds = key_range_sql(table.key, within)
        if chunk:  # a chunk loaded again: what an earlier run of it committed goes first
            self._run(lambda conn: conn.execute(f"DELETE FROM {_name(table)} WHERE {chunk}", bounds))
        names = table.column_names
        sql = f"INSERT INTO {_name(table)} ({', '.join(map(quote_ident, names))}) VALUES ({_marks(len(names))})"
        encode = row_encoder(table, names)
        count = 0
        # A transaction per batch: SQLite has one writer, and other tables' loads and the change
        # apply take turns with this one. A load that fails half-way is prepared again from scratch.
        for batch in batches:
            self._run(lambda conn, b=batch: conn.executemany(sql, [encode(r) for r in b.rows()]))
            count += batch.count
        return count

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        checked = checking(on_conflict)

        def work(conn: sqlite3.Connection) -> list[Conflict]:
            self._ensure_checkpoints(conn)
            marks: dict[str, str] = {}
            conflicts: list[Conflict] = []
            for part in parts_of(changes):
                for schema, items in part.items():
                    if items:
                        conflicts += _apply_table(conn, schema, items, checked)
                        marks[str(schema.table)] = items[-1].position.encode()
            raise_fatal(conflicts, checked)
            conn.executemany(
                f"INSERT INTO {CHECKPOINTS} (task_name, table_name, position, updated_at) "
                "VALUES (?, ?, ?, julianday('now')) ON CONFLICT (task_name, table_name) "
                "DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
                [(task, table, position) for table, position in marks.items()],
            )
            return conflicts

        return self._run(work)

    def plan(self, changes: Mapping[TableSchema, Sequence[Change]],
             on_conflict: Mapping[Op, OnConflict] | None = None) -> Mapping[TableSchema, Sequence[Change]]:
        return changes  # SQLite's apply is cheap to plan where it runs

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        row = change.after if change.after is not None else change.before or {}
        statement = f"{change.op.value.upper()} {table.table.name} {json.dumps(row, default=str, sort_keys=True)}"

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {EXCEPTIONS} (TASK_NAME TEXT NOT NULL, "
                         "TABLE_OWNER TEXT NOT NULL, TABLE_NAME TEXT NOT NULL, ERROR_TIME TEXT NOT NULL, "
                         "STATEMENT TEXT NOT NULL, ERROR TEXT NOT NULL)")
            conn.execute(f"INSERT INTO {EXCEPTIONS} VALUES (?, ?, ?, datetime('now'), ?, ?)",
                         (task, table.table.schema, table.table.name, statement, error))

        self._run(work)

    def applied(self, task: str) -> dict[TableId, Position]:
        def read(conn: sqlite3.Connection) -> list[tuple]:
            self._ensure_checkpoints(conn)
            return conn.execute(f"SELECT table_name, position FROM {CHECKPOINTS} WHERE task_name = ?",
                                (task,)).fetchall()

        return {TableId.parse(t): Position.decode(p) for t, p in self._run(read)}

    def forget(self, task: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> None:
            self._ensure_checkpoints(conn)
            conn.execute(f"DELETE FROM {CHECKPOINTS} WHERE task_name = ?", (task,))

        self._run(work)
        return []

    def _ensure_checkpoints(self, conn: sqlite3.Connection) -> None:
        if not self._has_checkpoints:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (task_name TEXT NOT NULL, table_name TEXT NOT NULL, "
                "position TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (task_name, table_name))"
            )
            self._has_checkpoints = True

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        cols = ", ".join(quote_ident(n) for n in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if table.key else ""
        for batch in read_batches(self.conn, self.ep, f"SELECT {cols} FROM {_name(table)}{order}", batch_rows,
                                schema_decoder(table)):
            yield batch.rows()

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _apply_table(conn: sqlite3.Connection, schema: TableSchema, changes: Sequence[Change],
                 checked: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
    name = _name(schema)
    if not schema.key:
        raise DataError(f"table {schema.table} has no key: changes cannot be applied")
    match = " AND ".join(f"{quote_ident(k)} = ?" for k in schema.key)
    conflicts: list[Conflict] = []
    for part in segments(schema, changes):
        if isinstance(part, list):
            if checked:  # a local lookup per key is cheap: every run is checked exactly
                present = [k for k in first_ops(schema, part)
                           if conn.execute(f"SELECT 1 FROM {name} WHERE {match}", [bind(v) for v in k]).fetchone()]
                part, found = resolve(schema, part, present, checked)
                conflicts += found
            _apply_run(conn, schema, name, match, part)
        elif part.op is Op.TRUNCATE:
            conn.execute(f"DELETE FROM {name}")
        else:  # a key change with a partial new image: update the old row where it is
            after, before = part.after or {}, part.before or {}
            cols = [n for n in schema.column_names if n in after]
            sets = ", ".join(f"{quote_ident(n)} = ?" for n in cols)
            done = conn.execute(f"UPDATE {name} SET {sets} WHERE {match}",
                                [bind(after[n]) for n in cols] + [bind(before[k]) for k in schema.key]).rowcount
            conflicts += missed(schema, part, done, checked)
    return conflicts


def _apply_run(conn: sqlite3.Connection, schema: TableSchema, name: str, match: str, run: list[Change]) -> None:
    if not run:
        return
    deletes, upserts, partial = net_effect(schema, run)
    if deletes:
        conn.executemany(f"DELETE FROM {name} WHERE {match}", [[bind(v) for v in k] for k in deletes])
    if upserts:
        names = schema.column_names
        others = [n for n in names if n not in schema.key]
        action = ("DO UPDATE SET " + ", ".join(f"{quote_ident(n)} = excluded.{quote_ident(n)}" for n in others)
                  if others else "DO NOTHING")
        keys = ", ".join(quote_ident(k) for k in schema.key)
        encode = row_encoder(schema, names)
        conn.executemany(
            f"INSERT INTO {name} ({', '.join(map(quote_ident, names))}) VALUES ({_marks(len(names))}) "
            f"ON CONFLICT ({keys}) {action}",
            [encode(row) for row in upserts.values()],
        )
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for k, values in partial.items():
        cols = tuple(n for n in schema.column_names if n in values and n not in schema.key)
        if cols:
            groups.setdefault(cols, []).append([bind(values[n]) for n in cols] + [bind(v) for v in k])
    for cols, rows in groups.items():
        sets = ", ".join(f"{quote_ident(n)} = ?" for n in cols)
        conn.executemany(f"UPDATE {name} SET {sets} WHERE {match}", rows)
