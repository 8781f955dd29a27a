"""SQLite target: table preparation, batched inserts, idempotent set-based apply with checkpoints.

A SQLite file has one namespace, so a table lands under its own name whatever its source schema
(public.orders and main.orders both become orders).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connectors.base import Batch, Column, Endpoint, KeyRange, PrepMode, Row, TableSchema
from connectors.sql.target import SqlTarget

from .connect import classify, key_range_sql, open_target, quote_ident, read_batches
from .types import bind, declared_type, row_encoder, schema_decoder


def _name(table: TableSchema) -> str:
    return quote_ident(table.table.name)


class SqliteTarget(SqlTarget):
    """The shared SQL target (connectors/sql/) with SQLite's SQL: the portable statements, one row at
    a time, are SQLite's fastest form too (no round trips: the library runs in this process)."""

    driver_errors = (sqlite3.Error, OverflowError, UnicodeError)  # a value SQLite cannot take: DataError
    param = "?"
    stamp = ("REAL", "julianday('now')")
    utc_time = ("TEXT", "datetime('now')")
    classify_error = staticmethod(classify)

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint, open_target(endpoint))

    def begin(self) -> sqlite3.Connection:
        """One write transaction, its lock taken up front."""
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def commit(self, cur: Any) -> None:
        self.conn.execute("COMMIT")

    def rollback(self, cur: Any) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def table_name(self, schema: TableSchema) -> str:
        return _name(schema)

    def declare(self, schema: TableSchema, column: Column) -> str:
        return declared_type(schema, column)

    def retype(self, table: str, schema: TableSchema, column: Column) -> str | None:
        return None  # a SQLite column takes any value: its declared type is an affinity

    def bind(self, values: Sequence[Any]) -> list[Any]:
        return [bind(v) for v in values]

    def encode_rows(self, schema: TableSchema, rows: list[Row], text: bool) -> list[tuple]:
        encode = row_encoder(schema, schema.column_names)
        return [encode(row) for row in rows]

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

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        cols = ", ".join(quote_ident(n) for n in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if table.key else ""
        for batch in read_batches(self.conn, self.ep, f"SELECT {cols} FROM {_name(table)}{order}", batch_rows,
                                schema_decoder(table)):
            yield batch.rows()


def _marks(n: int) -> str:
    return ", ".join("?" * n)
