"""SQLite source: discovery, snapshots in one read transaction, trigger-based change capture."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from connectors.base import (
    Batch,
    Capability,
    Change,
    Endpoint,
    Filter,
    KeyRange,
    Position,
    Retained,
    Selection,
    Source,
    TableId,
    TableRule,
    TableSchema,
)
from connectors.errors import ConfigError, PositionLost
from connectors.filters import where_clause

from . import capture
from .connect import busy_ms, classify, key_range_sql, open_source, quote_ident, read_batches, wal
from .types import column, portable_type, schema_decoder

SCHEMA = "main"  # SQLite's name for the database a file holds

_TABLES_SQL = """
SELECT name FROM sqlite_master
WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'awsdms\\_%' ESCAPE '\\'
  AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'
ORDER BY name
"""


class SqliteSource(Source):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CDC})

    POLL = 0.1  # seconds between looks at an idle change log
    CHUNK = 5_000  # change-log rows fetched at once

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self._conn, self._writable = open_source(endpoint)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise classify(exc, self.ep) from None

    def _write(self, statements: Sequence[str], read: str, args: Sequence[Any] = ()) -> list[tuple]:
        """Statements in one write transaction, then ``read`` inside it; the lock is taken up front."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql in statements:
                    conn.execute(sql)
                result = conn.execute(read, args).fetchall()
                conn.execute("COMMIT")
                return result
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise classify(exc, self.ep) from None

    # -- Source ----------------------------------------------------------------------------------

    def check(self, cdc: bool) -> list[str]:
        self._query("SELECT count(*) FROM sqlite_master")
        if not cdc:
            return []
        problems = []
        if not self._writable:
            problems.append(
                f"SQLite file {self.ep.database} of source {self.ep.id} is read-only: change capture installs "
                "triggers and a change log in it, so make the file and its directory writable"
            )
        try:
            self._conn.execute("SELECT json_array(1)")
        except sqlite3.Error:
            problems.append(f"the SQLite library of this Python ({sqlite3.sqlite_version}) lacks the JSON "
                            "functions that change capture needs: use SQLite 3.38 or later")
        return problems

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        schemas, selection = [], Selection(rules)
        for (name,) in self._query(_TABLES_SQL):
            if not selection.selects(TableId(SCHEMA, name)):
                continue
            info = self._query(f"PRAGMA table_info({quote_ident(name)})")  # generated columns are not listed
            columns = tuple(column(col, decl, not notnull) for _, col, decl, notnull, _, _ in info)
            key = tuple(col for _, col, _, _, _, pk in sorted(info, key=lambda c: c[5]) if pk)
            schemas.append(TableSchema(TableId(SCHEMA, name), columns, key, "sqlite"))
        return schemas

    def server(self) -> dict[str, str]:
        return {"EngineVersion": sqlite3.sqlite_version}

    def table_bytes(self, tables: Sequence[TableId]) -> dict[TableId, int]:
        sizes = {}
        for table in tables:
            try:  # dbstat is a compile-time option of the SQLite library: without it, sizes are unknown
                (size,), = self._conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (table.name,)).fetchall()
            except sqlite3.Error:
                return {}
            sizes[table] = size or 0
        return sizes

    def largest_values(self, table: TableSchema, columns: Sequence[str]) -> dict[str, int]:
        if not columns:
            return {}
        sizes = ", ".join(f"coalesce(max(length(CAST({quote_ident(c)} AS BLOB))), 0)" for c in columns)
        (row,) = self._query(f"SELECT {sizes} FROM {quote_ident(table.table.name)}")
        return dict(zip(columns, row, strict=True))

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        keyless = [t.table.name for t in tables if not t.key]
        if keyless:
            raise ConfigError(
                f"table(s) {', '.join(keyless)} of source {self.ep.id} have no primary key (a rowid may change "
                "on VACUUM), so their updates and deletes cannot be replicated: add a primary key, or exclude "
                "them with a selection rule"
            )
        # Readers never block the application's writer, nor it them, in WAL mode (it stays on for the file).
        try:
            wal(self._conn, self.ep)
        except sqlite3.Error as exc:
            raise classify(exc, self.ep) from None
        log = quote_ident(capture.log_table(task))
        statements = [*self._drop_triggers(task), capture.create_log_sql(task), f"DELETE FROM {log}"]
        for schema in tables:
            statements += capture.trigger_sql(task, schema)
        # One transaction: every change committed after it is logged above the position it returns,
        # and every change before it is in any snapshot read later.
        (seq,), = self._write(statements, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?",
                              (capture.log_table(task),))
        return capture.after(capture.log_id(task), seq)

    def _drop_triggers(self, task: str) -> list[str]:
        prefix = capture.trigger_prefix(task)
        names = self._query("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return [f"DROP TRIGGER IF EXISTS {quote_ident(n)}" for (n,) in names if n.startswith(prefix)]

    @staticmethod
    def position_error(text: str) -> str | None:
        if text.rsplit("#", 1)[-1].removeprefix("checkpoint:").strip().isdigit():
            return None
        return (f"CDC start position {text!r} is not a SQLite change-log position (a number such as 1234, shown "
                "as RecoveryCheckpoint by `dms task describe`)")

    @classmethod
    def capture_objects(cls, ep: Endpoint, task: str) -> list[tuple[str, str]]:
        prefix, log = capture.trigger_prefix(task).replace("'", "''"), capture.log_table(task)
        return [(f"change log {log}", f"DROP TABLE IF EXISTS {quote_ident(log)};"),
                (f"triggers {prefix}*", "SELECT 'DROP TRIGGER \"' || name || '\";' FROM sqlite_master "
                                        f"WHERE type = 'trigger' AND substr(name, 1, {len(prefix)}) = '{prefix}';"
                                        "  -- prints the statements to run")]

    def parse_position(self, task: str, text: str) -> Position:
        problem = self.position_error(text)
        if problem:
            raise ConfigError(problem)
        return capture.after(capture.log_id(task), int(text.rsplit("#", 1)[-1].removeprefix("checkpoint:").strip()))

    def check_position(self, task: str, position: Position) -> str | None:
        log = capture.log_table(task)
        exists = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (log,))
        (top,), = self._query("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?", (log,)) \
            if exists else [(0,)]
        if exists and capture.last_seq(position) > top:
            return (f"CDC start position {position.token} is ahead of the change log of task {task} on "
                    f"{self.ep.where()} (last change {top}): give a position at or before {top}")
        kept = self.resume_position(task)
        if kept is not None and position < kept:
            return (f"CDC start position {position.token} is before {kept.token}, the oldest change the change "
                    f"log of task {task} on {self.ep.where()} still holds: give a later position")
        return None

    def capture_lost(self, task: str) -> str | None:
        if self.resume_position(task) is None:
            return f"the change log or triggers of task {task} are gone from {self.ep.where()}"
        return None

    def retained_log(self, task: str) -> Retained | None:
        return None  # the change log is pruned as changes apply, and lives in the file itself

    def leftovers(self, tasks: Iterable[str]) -> list[str]:
        return []

    def resume_position(self, task: str) -> Position | None:
        """Where reading resumes (just before the oldest change kept), or None when capture is gone."""
        log = capture.log_table(task)
        if not self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (log,)):
            return None
        if not self._drop_triggers(task):
            return None
        (oldest,), = self._query(f"SELECT min(seq) FROM {quote_ident(log)}")
        if oldest is None:
            (oldest,), = self._query("SELECT coalesce(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = ?", (log,))
        return capture.after(capture.log_id(task), oldest - 1)

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None, at: Callable[[int, str], None] | None = None) -> Iterator[Batch]:
        # ``at`` is for keyless full-row tables, which SQLite sources refuse for CDC (tables())
        cols = ", ".join(quote_ident(c) for c in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if ordered and table.key else ""
        # a bound text value takes the column's affinity
        filters, args = where_clause(self._booleans_as_numbers(table, where), quote_ident, "?")
        chunk, bounds = key_range_sql(table.key, within)
        conditions = " AND ".join(c for c in (filters.removeprefix(" WHERE "), chunk) if c)
        select = f"SELECT {cols} FROM {quote_ident(table.table.name)}{' WHERE ' + conditions if conditions else ''}"
        return read_batches(self._conn, self.ep, select + order, batch_rows, schema_decoder(table), args + bounds)

    def _booleans_as_numbers(self, table: TableSchema, where: Sequence[Filter]) -> Sequence[Filter]:
        """SQLite keeps a boolean as 0 or 1, and compared 'true' with it as text (no row passed): a boolean
        column's filter values are read as PostgreSQL reads a boolean (true, t, yes, on, 1 and their opposites)."""
        if not where:
            return where
        info = self._query(f"PRAGMA table_info({quote_ident(table.table.name)})")  # filters may name unread columns
        booleans = {col for _, col, decl, *_ in info if portable_type(decl) == "bool"}
        return [Filter(f.column, tuple(replace(c, value=_bool_number(c.value), end=_bool_number(c.end))
                                       for c in f.conditions)) if f.column in booleans else f for f in where]

    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        return [KeyRange()]  # one file, one writer: a SQLite table loads as one job

    def stream(self, task: str, start: Position, tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        if self.resume_position(task) is None:
            raise PositionLost(f"the change log or triggers of task {task} are gone from {self.ep.where()}: "
                               "reload the task")
        return self._changes(task, start, capture.LogDecoder(task, tables))

    def _changes(self, task: str, start: Position, decoder: capture.LogDecoder) -> Iterator[Change | Position]:
        log = quote_ident(capture.log_table(task))
        select = f"SELECT seq, tbl, op, old, new, at FROM {log} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
        last = capture.last_seq(start)
        while True:
            (top,), = self._query(f"SELECT coalesce(max(seq), 0) FROM {log}")
            if top <= last:
                yield decoder.after(last)  # idle: a heartbeat
                time.sleep(self.POLL)
                continue
            # Every change up to top is committed (seq follows commit order), so top ends a transaction.
            while last < top:
                rows = self._query(select, (last, top, self.CHUNK))
                for row in rows:
                    change = decoder.change(*row)
                    if change is not None:
                        yield change
                last = rows[-1][0] if rows else top
            yield decoder.at(top)

    def ack(self, upto: Position) -> None:
        """Prune the change log up to ``upto``; skipped while the application holds the write lock."""
        bound = capture.last_seq(upto)
        log = quote_ident(capture.log_table_of(upto.log))
        try:
            self._conn.execute("PRAGMA busy_timeout = 200")  # not worth holding up the apply loop for
            try:
                self._conn.execute(f"DELETE FROM {log} WHERE seq <= ?", (bound,))
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {busy_ms(self.ep)}")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                return  # the next acknowledgement prunes it
            raise classify(exc, self.ep) from None

    def drop_cdc(self, task: str) -> None:
        log = quote_ident(capture.log_table(task))
        self._write([*self._drop_triggers(task), f"DROP TABLE IF EXISTS {log}"], "SELECT 1")

    def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass


_BOOL_WORDS = {**dict.fromkeys(("t", "true", "y", "yes", "on", "1"), "1"),
               **dict.fromkeys(("f", "false", "n", "no", "off", "0"), "0")}


def _bool_number(text: str | None) -> str | None:
    return None if text is None else _BOOL_WORDS.get(text.strip().lower(), text)
