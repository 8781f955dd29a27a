"""PostgreSQL target: table preparation, COPY loads, set-based idempotent apply with checkpoints."""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import psycopg2
import psycopg2.errors
import psycopg2.extras

from connectors.base import (
    Batch,
    Capability,
    Change,
    Column,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    PrepMode,
    Row,
    SchemaObject,
    SequenceValue,
    TableSchema,
)
from connectors.sql.target import SqlTarget

from .connect import classify, connect, key_range_sql, qualified, quote_ident
from .copyout import COPY_BINARY, COPY_TEXT, copy_out, row_decoder
from .copytext import encoder_for, format_rows, format_text_rows
from .cutover import create_objects, set_sequences
from .keyless import apply_keyless
from .prepare import before_load, cast_type, column_type, prepare_table, replica_role, restore
from .types import TYPES

_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: every type below it is built in


class _BatchStream:
    """A file-like object that psycopg2's copy_expert reads: one COPY for a whole iterator of batches."""

    def __init__(self, schema: TableSchema, batches: Iterable[Batch]) -> None:
        self.batches = iter(batches)
        self.encoders = _encoders(schema)
        self.names = schema.column_names

    def read(self, size: int = -1) -> bytes:
        for batch in self.batches:
            if batch.raw is not None and batch.raw[0] in (COPY_TEXT, COPY_BINARY):
                return batch.raw[1]
            data = format_rows(([row.get(n) for n in self.names] for row in batch.rows()), self.encoders)
            if data:
                return data
        return b""


class PostgresTarget(SqlTarget):
    """The shared SQL target (connectors/sql/) with PostgreSQL's SQL: COPY loads, and a batch's rows
    applied as set operations (COPY into a staging table, VALUES lists) instead of row by row."""

    text_engine: ClassVar[str | None] = "postgres"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ_BACK, Capability.CUTOVER})
    driver_errors = (psycopg2.Error,)
    param = "%s"
    key_text = text = "text"
    name_text = "varchar(128)"
    stamp = ("timestamptz", "now()")
    utc_time = ("timestamp", "now() AT TIME ZONE 'utc'")
    classify_error = staticmethod(classify)

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint, connect(endpoint))
        # fireTriggers=true: the target's triggers fire on replicated rows, so the session keeps its role
        # and foreign keys are set aside during the load instead (connectors/postgres/prepare.py).
        self.fire_triggers = endpoint.extra.get("fireTriggers", "false").lower() in ("true", "y", "yes", "1")
        try:
            self.replica = not self.fire_triggers and replica_role(self.conn)
        except psycopg2.Error as exc:
            self.conn.close()
            raise classify(exc, endpoint) from None

    def begin(self) -> Any:
        return self.conn.cursor()

    def commit(self, cur: Any) -> None:
        cur.close()
        self.conn.commit()

    def rollback(self, cur: Any) -> None:
        try:
            cur.close()
        except psycopg2.Error:
            return  # the connection is gone: nothing to roll back
        super().rollback(cur)

    def table_name(self, schema: TableSchema) -> str:
        return qualified(schema.table.schema, schema.table.name)

    def declare(self, schema: TableSchema, column: Column) -> str:
        return TYPES.target_type(schema.engine, column).native

    def retype(self, table: str, schema: TableSchema, column: Column) -> str | None:
        decl, name = self.declare(schema, column), quote_ident(column.name)
        return f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {decl} USING {name}::{decl}"

    def render(self, cur: Any, sql: str, params: Sequence[Any]) -> str:
        return cur.mogrify(sql, params).decode()

    def insert_rows(self, cur: Any, head: str, row: str, rows: Sequence[Sequence[Any]], tail: str = "") -> int:
        """One statement: a VALUES list of every row."""
        return _touched(cur, f"{head} VALUES %s {tail}", list(rows), row, True)

    # -- full load -------------------------------------------------------------------------------

    def set_sequences(self, values: Sequence[SequenceValue], *, attach: bool) -> list[str]:
        return self._run(lambda cur: set_sequences(cur, values, attach))

    def create_objects(self, objects: Sequence[SchemaObject]) -> list[str]:
        return self._run(lambda cur: create_objects(cur, objects))

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        prepare_table(self._run, table, mode, with_key=with_key, ep=self.ep, replica=self.replica)

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        return self._run(lambda cur: before_load(cur, task, tables, mode, replica=self.replica,
                                                 fire_triggers=self.fire_triggers))

    def after_load(self, task: str, *, replicating: bool) -> list[str]:
        return restore(self._run, task, replicating=replicating)

    def create_keys(self, table: TableSchema) -> list[str]:
        """The primary key, then each unique index as a DEFERRABLE INITIALLY DEFERRED unique constraint:
        checked at commit, so a batch of changes applied as set operations may pass through states that
        the source's statements never showed (two rows swapping values) without failing."""
        name = qualified(table.table.schema, table.table.name)
        problems: list[str] = []

        def work(cur: Any) -> None:
            cur.execute(_UNIQUE_SQL, (name,))
            found = cur.fetchall()
            have = {tuple(cols) for _, cols in found}
            if table.key and not any(primary for primary, _ in found) and tuple(table.key) not in have:
                cur.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({_columns(table.key)})")
            for cols in table.unique:
                if tuple(cols) in have:
                    continue
                constraint = quote_ident(_constraint_name(table.table.name, cols))
                cur.execute("SAVEPOINT dms_unique")
                try:
                    cur.execute(f"ALTER TABLE {name} ADD CONSTRAINT {constraint} UNIQUE ({_columns(cols)}) "
                                "DEFERRABLE INITIALLY DEFERRED")
                except psycopg2.errors.UniqueViolation as exc:
                    # Only a load in chunks read at different times can hold such duplicates for a while.
                    cur.execute("ROLLBACK TO SAVEPOINT dms_unique")
                    problems.append(f"unique index on {table.table} ({', '.join(cols)}) not created: "
                                    f"{' '.join(str(exc).split())}; create it once the duplicates are gone")

        self._run(work)
        return problems

    def bulk_format(self, table: TableSchema) -> str | None:
        """Binary COPY from a PostgreSQL source whose column types are exactly the target table's.

        Binary COPY carries no type names, and an array's binary form names its element type by OID:
        only built-in types (arrays of them too) have the same OIDs in every database. An enum, a
        domain or an extension's type, or an array of one, goes in text."""
        if table.engine != "postgres" or any(not c.native for c in table.columns):
            return None

        def types(cur: Any) -> dict[str, tuple[str, int]]:
            cur.execute("SELECT attname, format_type(atttypid, atttypmod), atttypid::int FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                        (qualified(table.table.schema, table.table.name),))
            return {name: (native, oid) for name, native, oid in cur.fetchall()}

        found = self._run(types)
        same = all(c.name in found and found[c.name][0] == c.native and found[c.name][1] < _FIRST_USER_OID
                   for c in table.columns)
        return COPY_BINARY if same else None

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        batches = iter(batches)
        first = next(batches, None)
        binary = first is not None and first.raw is not None and first.raw[0] == COPY_BINARY
        stream = _BatchStream(table, itertools.chain([first] if first else [], batches))
        name = qualified(table.table.schema, table.table.name)
        cols = ", ".join(quote_ident(n) for n in table.column_names)
        sql = f"COPY {name} ({cols}) FROM STDIN" + (" (FORMAT binary)" if binary else "")
        where, params = key_range_sql(table.key, [cast_type(table, k) for k in table.key], within)

        def copy(cur: Any) -> int:
            if where:  # a chunk loaded again: its earlier rows (committed before a crash) go first
                cur.execute(f"DELETE FROM {name}{where}", params)
            cur.copy_expert(sql, stream, size=1 << 20)
            return cur.rowcount

        return self._run(copy)

    # -- change apply: PostgreSQL's statements for connectors/sql/apply.py ----------------------

    def staging_table(self, cur: Any, schema: TableSchema) -> str:
        """A temporary table shaped like the target, emptied at every commit, made once per session and shape
        (a schema change on the source gives the table a new one)."""
        digest = hashlib.sha1(repr((schema.table, schema.columns)).encode()).hexdigest()[:12]
        name = f"_dms_stage_{digest}"
        if name not in self._made:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {name} "
                f"(LIKE {qualified(schema.table.schema, schema.table.name)}) ON COMMIT DELETE ROWS"
            )
            self._made.add(name)
        return name

    def start_apply(self, cur: Any) -> None:
        # Every statement here finds its rows by key, one probe per changed row. Unanalyzed
        # staging tables make the planner hash-join instead, reading the whole table per batch.
        # Source transactions apply whole but table by table: deferrable keys are checked at commit.
        # One round trip for the three, once per batch's transaction.
        cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET CONSTRAINTS ALL DEFERRED")

    def encode_rows(self, schema: TableSchema, rows: list[Row], text: bool) -> bytes:
        """COPY text, written by plan() on the worker's other thread."""
        names = schema.column_names
        if text:  # already PostgreSQL's spelling: only COPY's escaping to add
            return format_text_rows(rows, names)
        return format_rows((list(map(row.get, names)) for row in rows), _encoders(schema))

    def delete_rows(self, cur: Any, schema: TableSchema, keys: list[tuple], whole: bool) -> int:
        template = "(" + ", ".join(f"%s::{cast_type(schema, k)}" for k in schema.key) + ")"
        return _touched(cur, f"DELETE FROM {self.table_name(schema)} WHERE ({_columns(schema.key)}) IN (VALUES %s)",
                        keys, template, whole)

    def write_rows(self, cur: Any, schema: TableSchema, rows: Any, expected: bool | None) -> int:
        """Full rows (COPY text) through the staging table: an upsert (expected None), an update of rows
        that must be there (True) or an insert of rows that must not (False). Returns the rows written."""
        names = schema.column_names
        name = self.table_name(schema)
        stage = self.staging_table(cur, schema)
        cols = _columns(names)
        cur.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", _Bytes(rows), size=1 << 20)
        others = [n for n in names if n not in schema.key] or list(schema.key)
        if expected is True:
            sets = ", ".join(f"{quote_ident(n)} = s.{quote_ident(n)}" for n in others)
            match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in schema.key)
            cur.execute(f"UPDATE {name} AS t SET {sets} FROM {stage} AS s WHERE {match}")
        else:
            action = self.on_duplicate(schema.key, [] if expected is False or len(names) == len(schema.key)
                                       else others)
            cur.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {stage} {action}")
        done = cur.rowcount
        cur.execute(f"TRUNCATE {stage}")  # the next run in this transaction reuses it
        return done

    def update_columns(self, cur: Any, schema: TableSchema, columns: tuple[str, ...], rows: list[tuple],
                       whole: bool) -> int:
        all_cols = columns + schema.key
        template = "(" + ", ".join(f"%s::{cast_type(schema, n)}" for n in all_cols) + ")"
        sets = ", ".join(f"{quote_ident(n)} = v.{quote_ident(n)}" for n in columns)
        match = " AND ".join(f"t.{quote_ident(k)} = v.{quote_ident(k)}" for k in schema.key)
        return _touched(cur, f"UPDATE {self.table_name(schema)} AS t SET {sets} FROM (VALUES %s) AS v "
                             f"({_columns(all_cols)}) WHERE {match}", rows, template, whole)

    def update_one(self, cur: Any, schema: TableSchema, change: Change) -> int:
        after, before = change.after or {}, change.before or {}
        cols = [n for n in schema.column_names if n in after]
        sets = ", ".join(f"{quote_ident(n)} = %s::{cast_type(schema, n)}" for n in cols)
        match = " AND ".join(f"{quote_ident(k)} = %s::{cast_type(schema, k)}" for k in schema.key)
        cur.execute(f"UPDATE {self.table_name(schema)} SET {sets} WHERE {match}",
                    [after[n] for n in cols] + [before[k] for k in schema.key])
        return cur.rowcount

    def truncate(self, cur: Any, schema: TableSchema) -> None:
        cur.execute(f"TRUNCATE {self.table_name(schema)}")

    def existing(self, cur: Any, schema: TableSchema, keys: list[tuple]) -> list[tuple]:
        if not keys:
            return []
        aliases = ", ".join(f"_k{i}" for i in range(len(schema.key)))
        match = " AND ".join(f"t.{quote_ident(k)} = v._k{i}" for i, k in enumerate(schema.key))
        template = "(%s, " + ", ".join(f"%s::{cast_type(schema, k)}" for k in schema.key) + ")"
        found = psycopg2.extras.execute_values(
            cur, f"SELECT v.n FROM (VALUES %s) AS v(n, {aliases}) JOIN {self.table_name(schema)} AS t ON {match}",
            [(n, *k) for n, k in enumerate(keys)], template=template, page_size=10_000, fetch=True)
        return [keys[n] for (n,) in found]

    def apply_keyless(self, cur: Any, schema: TableSchema, changes: Sequence[Change],
                      checked: Mapping[Op, OnConflict] | None) -> list[Conflict]:
        """REPLICA IDENTITY FULL: as PostgreSQL's own subscribers apply it (keyless.py)."""
        return apply_keyless(cur, schema, self.table_name(schema), changes, cast_type, checked)

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        cols = ", ".join(quote_ident(n) for n in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if table.key else ""
        sql = f"COPY (SELECT {cols} FROM {qualified(table.table.schema, table.table.name)}{order}) TO STDOUT"
        decode = row_decoder(table, lambda name: column_type(table, name))
        for batch in copy_out(self.ep, sql, batch_rows, decode):
            yield batch.rows()


# The table's unique indexes over plain columns (key columns only), the primary key first.
_UNIQUE_SQL = """
SELECT i.indisprimary, array_agg(a.attname ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisunique AND k.ord <= i.indnkeyatts
  AND i.indexprs IS NULL AND i.indpred IS NULL
GROUP BY i.indexrelid, i.indisprimary
ORDER BY i.indisprimary DESC, i.indexrelid
"""


@functools.lru_cache(maxsize=1024)
def _encoders(schema: TableSchema) -> tuple[Callable[[Any], str], ...]:
    """The table's COPY text encoders, in column order: made once per table, not per batch."""
    return tuple(encoder_for(column_type(schema, n)) for n in schema.column_names)


def _columns(names: Sequence[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _constraint_name(table: str, columns: Sequence[str]) -> str:
    """PostgreSQL's own spelling, <table>_<columns>_key, kept within its 63-byte names by a digest."""
    name = f"{table}_{'_'.join(columns)}_key"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:50].decode(errors='ignore')}_{digest}_key"


def _touched(cur: Any, sql: str, rows: list[tuple], template: str, checked: bool) -> int:
    """Run a VALUES statement; a checked one goes as one statement so its row count is whole."""
    psycopg2.extras.execute_values(cur, sql, rows, template=template,
                                   page_size=max(len(rows), 1) if checked else 10_000)
    return cur.rowcount


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data

