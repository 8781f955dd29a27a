"""MySQL/MariaDB target: the shared SQL target (connectors/sql/) with MySQL's SQL.

Where tables land: in the endpoint's database (DMS's ``TargetDbType=SPECIFIC_DATABASE``), whatever their
source schema; with the extra connection attribute ``targetDbType=MULTIPLE_DATABASES`` each table goes to the
database named by its (mapped) schema, created when missing, as DMS does by default.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pymysql
import pymysql.converters
import structlog

from connectors.base import (
    Batch,
    Change,
    Column,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    PrepMode,
    Row,
    TableSchema,
)
from connectors.errors import ConfigError, DataError
from connectors.sql.target import SqlTarget

from .classify import classify, error_number
from .connect import connect, key_range_sql, literal, quote_ident
from .encode import bind_value, load_encoder, row_binder, row_decoder, select_list
from .keyless import apply_keyless
from .prepare import binary_collation, check_names, create_sql, has_primary_key, index_name, unique_indexes
from .types import declared_type
from .values import LOAD_CONVERSIONS

log = structlog.get_logger(__name__)
_DB_TYPES = ("SPECIFIC_DATABASE", "MULTIPLE_DATABASES")
_READ_CONVERSIONS = {**pymysql.converters.conversions, **LOAD_CONVERSIONS}
_CHUNK = 1000  # keys per DELETE ... IN (...)


class MysqlTarget(SqlTarget):
    """The shared SQL target with MySQL's SQL: LOAD DATA LOCAL INFILE from a pipe for the full load, multi-row
    upserts, and updates joined from a temporary staging table, so a batch is a few statements per table."""

    driver_errors = (pymysql.err.MySQLError,)
    param = "%s"
    key_text = "varchar(255)"  # a TEXT column cannot be part of a key
    text = "longtext"
    name_text = "varchar(128)"
    stamp = ("datetime(6)", "(UTC_TIMESTAMP(6))")
    utc_time = ("datetime(6)", "(UTC_TIMESTAMP(6))")
    text_engine: ClassVar[str | None] = None
    classify_error = staticmethod(classify)

    def __init__(self, endpoint: Endpoint) -> None:
        db_type = endpoint.extra.get("targetDbType", "SPECIFIC_DATABASE").upper()
        if db_type not in _DB_TYPES:
            raise ConfigError(f"endpoint {endpoint.id}: targetDbType={db_type} is not one of {', '.join(_DB_TYPES)}")
        if db_type == "SPECIFIC_DATABASE" and not endpoint.database:
            raise ConfigError(f"endpoint {endpoint.id}: give the database the tables go to (--database), or set "
                              "the extra connection attribute targetDbType=MULTIPLE_DATABASES")
        self.multiple = db_type == "MULTIPLE_DATABASES"
        super().__init__(endpoint, connect(endpoint, target=True))
        self._collation = ""
        self._infile: bool | None = None

    # -- the transaction and its errors ----------------------------------------------------------

    def begin(self) -> Any:
        self.conn.begin()
        return self.conn.cursor()

    def commit(self, cur: Any) -> None:
        self.conn.commit()

    # -- spelling --------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return quote_ident(name)

    def declare(self, schema: TableSchema, column: Column) -> str:
        return declared_type(schema, column)

    def retype(self, table: str, schema: TableSchema, column: Column) -> str | None:
        return f"ALTER TABLE {table} MODIFY COLUMN {quote_ident(column.name)} {declared_type(schema, column)}"

    def rename_table(self, old: TableSchema, new: TableSchema) -> str:
        return f"RENAME TABLE {self.table_name(old)} TO {self.table_name(new)}"

    def table_name(self, schema: TableSchema) -> str:
        if self.multiple:
            return f"{quote_ident(schema.table.schema)}.{quote_ident(schema.table.name)}"
        return quote_ident(schema.table.name)

    def on_duplicate(self, key: Sequence[str], columns: Sequence[str]) -> str:
        """MySQL's upsert: ON DUPLICATE KEY UPDATE, for tables whose only unique index is the key (it fires on
        any unique index: write_rows upserts other tables by key)."""
        if not columns:
            first = self.quote(key[0])
            return f"ON DUPLICATE KEY UPDATE {first} = {first}"
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{self.quote(c)} = VALUES({self.quote(c)})" for c in columns)

    def render(self, cur: Any, sql: str, params: Sequence[Any]) -> str:
        parts = sql.split(self.param)
        return parts[0] + "".join(literal(v) + rest for v, rest in zip(params, parts[1:], strict=False))

    def bind(self, values: Sequence[Any]) -> list[Any]:
        return list(values)  # rows are bound by column (encode_rows, _bound): only they know the types

    def insert_rows(self, cur: Any, head: str, row: str, rows: Sequence[Sequence[Any]], tail: str = "") -> int:
        """PyMySQL sends executemany's rows of an INSERT ... VALUES as multi-row statements."""
        if not rows:
            return 0
        cur.executemany(f"{head} VALUES {row} {tail}", rows)
        return cur.rowcount

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        check_names(table)
        name = self.table_name(table)

        def prep(cur: Any) -> None:
            if not self._collation:
                self._collation = binary_collation(self.conn)
            if self.multiple:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(table.table.schema)} CHARACTER SET utf8mb4")
            if mode == "drop":
                cur.execute(f"DROP TABLE IF EXISTS {name}")
            cur.execute(create_sql(table, name, with_key=with_key, collation=self._collation))
            if mode == "truncate":
                cur.execute(f"TRUNCATE TABLE {name}")

        self._run(prep)

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        """Foreign keys need no setting aside: the session does not check them (connect.py). Triggers fire:
        MySQL cannot switch them off for a session. TRUNCATE_BEFORE_LOAD empties the selected tables that
        exist (each TRUNCATE commits on its own: MySQL has no transactional TRUNCATE)."""
        if mode != "truncate":
            return []

        def empty(cur: Any) -> list[str]:
            found = 0
            for table in tables:
                schema = table.table.schema if self.multiple else None
                cur.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
                            "AND TABLE_NAME = %s", (schema, table.table.name))
                if cur.fetchone():
                    cur.execute(f"TRUNCATE TABLE {self.table_name(table)}")
                    found += 1
            return [f"TRUNCATE_BEFORE_LOAD emptied the {found} selected table(s)"]

        return self._run(empty)

    def create_keys(self, table: TableSchema) -> list[str]:
        """The primary key after a load made without it (CreatePkAfterFullLoad), then each unique index the
        table lacks. One that cannot be made (duplicates, a column too wide for an index) is reported, not
        fatal: the rows are right, and the apply does not depend on it."""
        if not table.key and not table.unique:
            return []
        where = table.table.schema if self.multiple else None
        problems: list[str] = []

        def work(cur: Any) -> None:
            if table.key and not has_primary_key(cur, where, table.table.name):
                cur.execute(f"ALTER TABLE {self.table_name(table)} ADD PRIMARY KEY "
                            f"({', '.join(quote_ident(k) for k in table.key)})")
            have = unique_indexes(cur, where, table.table.name)
            for cols in table.unique:
                if tuple(cols) in have:
                    continue
                try:
                    cur.execute(f"ALTER TABLE {self.table_name(table)} ADD UNIQUE INDEX "
                                f"{quote_ident(index_name(table.table.name, cols))} "
                                f"({', '.join(quote_ident(c) for c in cols)})")
                except pymysql.err.MySQLError as exc:  # DDL commits on its own: nothing to roll back
                    problems.append(f"unique index on {table.table} ({', '.join(cols)}) not created: "
                                    f"{classify(exc, self.ep)}; create it once the cause is gone")

        self._run(work)
        return problems

    def bulk_format(self, table: TableSchema) -> str | None:
        return None  # rows, always: LOAD DATA's text is written here

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """One LOAD DATA LOCAL INFILE per call, its file a pipe this thread writes the rows into while another
        thread runs the statement: rows stream to the server as the source reads them, never a file on disk.
        LOCAL makes the server turn bad values and duplicate keys into warnings (it cannot stop the client
        mid-file): any warning fails the load, so nothing is cut or dropped without a word.

        A server that refuses LOCAL (``local_infile=OFF``, MySQL 8's default) gets multi-row INSERTs instead,
        slower but the same rows; the log says so once per table."""
        name = self.table_name(table)
        where, bounds = key_range_sql(table.key, within)
        if not self._local_infile():
            return self._insert_load(table, batches, where, bounds)
        columns, sets = [], []
        for i, c in enumerate(table.columns):
            if c.type == "bytes":  # hex on the wire: any byte, whatever the file's character set
                columns.append(f"@h{i}")
                sets.append(f"{quote_ident(c.name)} = UNHEX(@h{i})")
            elif c.type == "bool" and declared_type(table, c).lower().startswith("bit"):  # a BIT(1) from MySQL:
                columns.append(f"@b{i}")  # LOAD DATA's text '1' would be the byte 0x31, too wide for one bit
                sets.append(f"{quote_ident(c.name)} = CAST(@b{i} AS UNSIGNED)")
            else:
                columns.append(quote_ident(c.name))
        encode = load_encoder(table)

        def run(cur: Any) -> int:
            if where:  # a chunk loaded again: its earlier rows (committed before a crash) go first
                cur.execute(f"DELETE FROM {name}{where}", bounds)
            read_end, write_end = os.pipe()
            sql = (f"LOAD DATA LOCAL INFILE '/dev/fd/{read_end}' INTO TABLE {name} CHARACTER SET utf8mb4 "
                   "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                   f"({', '.join(columns)})" + (f" SET {', '.join(sets)}" if sets else ""))
            outcome: dict[str, Any] = {}

            def statement() -> None:
                try:
                    outcome["rows"] = cur.execute(sql)
                except BaseException as exc:  # noqa: BLE001 - handed to the writing thread
                    outcome["error"] = exc
                finally:
                    os.close(read_end)  # a writer still writing now gets a broken pipe, not a hang

            loader = threading.Thread(target=statement, name="mysql-load", daemon=True)
            loader.start()
            try:
                with os.fdopen(write_end, "wb", buffering=1 << 20) as out:
                    for batch in batches:
                        data = encode(batch.rows())
                        if data:
                            out.write(data)
            except BrokenPipeError:
                pass  # the statement ended early: its error says why
            finally:
                loader.join()
            if "error" in outcome:
                raise outcome["error"]
            cur.execute("SHOW WARNINGS LIMIT 3")
            warnings = cur.fetchall()
            if warnings:
                said = "; ".join(f"{w[2]} (error {w[1]})" for w in warnings)
                raise DataError(f"table {table.table}: the target refused or changed rows of the load: {said}; "
                                "make the target column fit the source's values, then reload the table")
            return outcome["rows"]

        return self._run(run)

    def _local_infile(self) -> bool:
        if self._infile is None:
            def ask(cur: Any) -> bool:
                cur.execute("SELECT @@GLOBAL.local_infile")
                return bool(cur.fetchone()[0])

            self._infile = self._run(ask)
        return self._infile

    def _insert_load(self, table: TableSchema, batches: Iterable[Batch], where: str, bounds: list[Any]) -> int:
        log.info("load_by_insert", table=str(table.table), reason="the server has local_infile=OFF: set it ON "
                 "for LOAD DATA LOCAL INFILE, several times faster")
        name = self.table_name(table)
        names = table.column_names
        bind = row_binder(table, names)

        def run(cur: Any) -> int:
            if where:
                cur.execute(f"DELETE FROM {name}{where}", bounds)
            done = 0
            for batch in batches:
                done += self.insert_rows(cur, f"INSERT INTO {name} ({self._list(names)})",
                                         f"({', '.join(['%s'] * len(names))})", [bind(r) for r in batch.rows()])
            return done

        return self._run(run)

    # -- change apply: MySQL's statements for connectors/sql/apply.py -----------------------------

    def encode_rows(self, schema: TableSchema, rows: list[Row], text: bool) -> list[tuple]:
        bind = row_binder(schema, schema.column_names)
        return [bind(row) for row in rows]

    def _bound(self, schema: TableSchema, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[tuple]:
        cols = [next(c for c in schema.columns if c.name == n) for n in names]
        return [tuple(bind_value(c, v) for c, v in zip(cols, row, strict=True)) for row in rows]

    def delete_rows(self, cur: Any, schema: TableSchema, keys: list[tuple], whole: bool) -> int:
        keys = self._bound(schema, schema.key, keys)
        one = len(schema.key) == 1
        head = ("(" + ", ".join(quote_ident(k) for k in schema.key) + ")") if not one else quote_ident(schema.key[0])
        row = "%s" if one else "(" + ", ".join(["%s"] * len(schema.key)) + ")"
        done = 0
        for at in range(0, len(keys), _CHUNK):
            part = keys[at:at + _CHUNK]
            params = [v for k in part for v in k]
            done += cur.execute(f"DELETE FROM {self.table_name(schema)} WHERE {head} IN "
                                f"({', '.join([row] * len(part))})", params)
        return done

    def write_rows(self, cur: Any, schema: TableSchema, rows: Any, expected: bool | None) -> int:
        """An upsert or an insert: multi-row INSERTs (PyMySQL batches executemany's rows); an update of rows
        that must be there: through the staging table. An insert meeting a row already there fails at
        that row: a mismatch, as its row count would say."""
        names, key = schema.column_names, schema.key
        if expected is True:
            return self._update_from_stage(cur, schema, names, rows)
        if expected is None and schema.unique:
            return self._upsert_by_key(cur, schema, names, rows)
        others = [] if expected is False else [n for n in names if n not in key]
        tail = self.on_duplicate(key, others) if expected is None else ""
        try:
            return self.insert_rows(cur, f"INSERT INTO {self.table_name(schema)} ({self._list(names)})",
                                    f"({', '.join(['%s'] * len(names))})", rows, tail)
        except pymysql.err.IntegrityError as exc:
            # the key's row is there: a conflict the policy resolves (another unique index's is an error)
            if expected is False and error_number(exc) == 1062 and "'PRIMARY'" in str(exc):
                return -1
            raise

    def _upsert_by_key(self, cur: Any, schema: TableSchema, names: Sequence[str], rows: Sequence[tuple]) -> int:
        """Rows by primary key on a table with other unique indexes: the rows of keys that are there are updated,
        the others inserted; a row whose value another row's unique index holds is refused (error 1062), never
        written over that other row as ON DUPLICATE KEY UPDATE would."""
        stage = self._stage(cur, schema, names)
        self.insert_rows(cur, f"INSERT INTO {stage} ({self._list(names)})", f"({', '.join(['%s'] * len(names))})",
                         rows)
        others = [n for n in names if n not in schema.key] or list(schema.key)
        match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in schema.key)
        done = cur.execute(f"UPDATE {self.table_name(schema)} AS t JOIN {stage} AS s ON {match} SET "
                           + ", ".join(f"t.{quote_ident(n)} = s.{quote_ident(n)}" for n in others))
        done += cur.execute(f"INSERT INTO {self.table_name(schema)} ({self._list(names)}) SELECT "
                            f"{', '.join(f's.{quote_ident(n)}' for n in names)} FROM {stage} AS s LEFT JOIN "
                            f"{self.table_name(schema)} AS t ON {match} WHERE t.{quote_ident(schema.key[0])} IS NULL")
        cur.execute(f"DELETE FROM {stage}")
        return done

    def unique_refused(self, schema: TableSchema, exc: BaseException) -> bool:
        """A unique index other than the key refused a set statement: MySQL checks row by row, so a batch
        whose rows pass values between them (a swap) can meet this where the source's statements did not."""
        return bool(schema.unique) and isinstance(exc, pymysql.err.IntegrityError) and error_number(exc) == 1062 \
            and "'PRIMARY'" not in str(exc)

    def update_columns(self, cur: Any, schema: TableSchema, columns: tuple[str, ...], rows: list[tuple],
                       whole: bool) -> int:
        names = columns + schema.key
        return self._update_from_stage(cur, schema, names, self._bound(schema, names, rows))

    def update_one(self, cur: Any, schema: TableSchema, change: Change) -> int:
        after, before = change.after or {}, change.before or {}
        cols = [n for n in schema.column_names if n in after]
        values = self._bound(schema, cols + list(schema.key), [[after[n] for n in cols] + [before[k] for k in
                                                                                         schema.key]])[0]
        return cur.execute(f"UPDATE {self.table_name(schema)} SET {self._match(cols, ', ')} "
                           f"WHERE {self._match(schema.key)}", values)

    def apply_keyless(self, cur: Any, schema: TableSchema, changes: Sequence[Change],
                      checked: Mapping[Op, OnConflict] | None) -> list[Conflict]:
        """A keyless table whose source logs whole old rows: each change on one row equal to its old row."""
        return apply_keyless(cur, schema, self.table_name(schema), changes, checked)

    def existing(self, cur: Any, schema: TableSchema, keys: list[tuple]) -> list[tuple]:
        if not keys:
            return []
        stage = self._stage(cur, schema, schema.key, numbered=True)
        self.insert_rows(cur, f"INSERT INTO {stage} (`_dms_n`, {self._list(schema.key)})",
                         f"({', '.join(['%s'] * (len(schema.key) + 1))})",
                         [(n, *k) for n, k in enumerate(self._bound(schema, schema.key, keys))])
        match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in schema.key)
        cur.execute(f"SELECT s.`_dms_n` FROM {stage} AS s JOIN {self.table_name(schema)} AS t ON {match}")
        found = [keys[n] for (n,) in cur.fetchall()]
        cur.execute(f"DELETE FROM {stage}")
        return found

    def _stage(self, cur: Any, schema: TableSchema, names: Sequence[str], numbered: bool = False) -> str:
        """A temporary table of the target's own column types (its collations too, so joins compare as the
        table does) for ``names``: filled, joined, emptied within a transaction; made once per session."""
        digest = hashlib.sha1(f"{schema.table}|{'|'.join(names)}|{numbered}".encode()).hexdigest()[:16]
        stage = f"`_dms_stage_{digest}`"
        if stage not in self._made:
            first = "0 AS `_dms_n`, " if numbered else ""
            cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ENGINE=InnoDB AS SELECT {first}"
                        f"{self._list(names)} FROM {self.table_name(schema)} LIMIT 0")
            self._made.add(stage)
        return stage

    def _update_from_stage(self, cur: Any, schema: TableSchema, names: Sequence[str], rows: Sequence[tuple]) -> int:
        """``rows`` (values of ``names``, the key among them) onto the table's rows of their keys; the rows found."""
        if not rows:
            return 0
        stage = self._stage(cur, schema, names)
        self.insert_rows(cur, f"INSERT INTO {stage} ({self._list(names)})", f"({', '.join(['%s'] * len(names))})",
                         rows)
        others = [n for n in names if n not in schema.key] or list(schema.key)
        sets = ", ".join(f"t.{quote_ident(n)} = s.{quote_ident(n)}" for n in others)
        match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in schema.key)
        done = cur.execute(f"UPDATE {self.table_name(schema)} AS t JOIN {stage} AS s ON {match} SET {sets}")
        cur.execute(f"DELETE FROM {stage}")
        return done

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The table's rows in key order, on a connection of its own that streams them (SSCursor)."""
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if table.key else ""
        sql = f"SELECT {select_list(table, quote_ident)} FROM {self.table_name(table)}{order}"
        decode = row_decoder(table)
        conn = connect(self.ep, cursor=pymysql.cursors.SSCursor, conv=_READ_CONVERSIONS)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                while rows := cur.fetchmany(batch_rows):
                    yield [decode(r) for r in rows]
        except self.driver_errors as exc:
            raise self.classify(exc) from None
        finally:
            conn.close()
