"""MySQL/MariaDB source: discovery from information_schema, snapshots in consistent-snapshot transactions, and
change capture from the binlog (capture.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pymysql
import pymysql.cursors

from connectors.base import (
    Batch,
    Capability,
    Change,
    Column,
    Condition,
    Endpoint,
    Filter,
    KeyRange,
    Position,
    Selection,
    Source,
    TableId,
    TableRule,
    TableSchema,
)
from connectors.errors import ConfigError
from connectors.filters import where_clause

from . import capture, ddl, logpos
from .classify import classify
from .connect import connect, key_range_sql, qualified, quote_ident
from .rowread import DRIVER_ERRORS, driver_error, reading_connection
from .types import TYPES
from .types import column as discovered
from .values import base_name, row_converter

_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")

_TABLES_SQL = f"""
SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES
WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ({", ".join(f"'{s}'" for s in _SYSTEM)})
  AND TABLE_NAME NOT LIKE 'awsdms\\_%%'
ORDER BY TABLE_SCHEMA, TABLE_NAME
"""

_TABLE_SQL = """
SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE'
"""
LISTING_GAP = 0.02  # seconds between discovery's two listings: longer than a copying ALTER's renames take

# Generated columns are left out: a target computes its own, and one of the same engine refuses values for them.
_COLUMNS_SQL = """
SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND EXTRA NOT LIKE '%%GENERATED%%'
ORDER BY ORDINAL_POSITION
"""

# Unique indexes whole (an index on a prefix of a column cannot key the target): the key is the primary key,
# else the first unique index of NOT NULL columns, as InnoDB's own clustered index chooses.
_INDEXES_SQL = """
SELECT s.INDEX_NAME, s.COLUMN_NAME, s.SUB_PART
FROM information_schema.STATISTICS s
WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s AND s.NON_UNIQUE = 0
ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME, s.SEQ_IN_INDEX
"""


# MariaDB's JSON is LONGTEXT with a json_valid(`column`) check: the check says the column holds JSON documents.
_JSON_CHECKS_SQL = """
SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s AND CHECK_CLAUSE LIKE 'json_valid(%%'
"""
_JSON_CHECK = re.compile(r"^json_valid\(`((?:[^`]|``)+)`\)$")


class MysqlSource(Source):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CDC, Capability.BEFORE_IMAGE})

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self._conn = connect(endpoint, autocommit=True)
        self._server: capture.Server | None = None

    def query(self, sql: str, args: Any = None) -> list[tuple]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall()) if cur.description else []
        except pymysql.Error as exc:
            raise classify(exc, self.ep) from None

    @property
    def server(self) -> capture.Server:
        """The server's binlog settings (read once per connection)."""
        if self._server is None:
            self._server = capture.Server.read(self.query, self.ep)
        return self._server

    # -- discovery -------------------------------------------------------------------------------

    def check(self, cdc: bool) -> list[str]:
        return capture.problems(self.query, self.ep, self.server) if cdc else []

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        """The selected tables. An ALTER that copies a table (MODIFY int to bigint, OPTIMIZE) swaps the copy in
        by two renames under the table's lock, and information_schema read across many tables in that moment
        (MariaDB scans the database's files and passes over a table it cannot open) holds neither the table
        nor its columns or keys: 3 listings in 1,000 missed the table while such ALTERs ran back to back, and
        one column read in ten. So each table is read by its name, which waits for the ALTER: a table is never
        given no columns or no key. Tables named by explicit rules are looked up so too; a wildcard's listing
        is taken twice a moment apart, which makes a table left out rarer, not impossible (a listing that
        waits needs the RELOAD privilege: FLUSH TABLES WITH READ LOCK, BACKUP STAGE)."""
        whole_rows = self.server.row_image == "FULL"
        mariadb = self.server.mariadb
        out = []
        for table, estimate in self._listed(Selection(rules)):
            columns = self._columns(table, mariadb)
            if not columns:
                continue  # dropped since it was listed
            unique: dict[str, list[str]] = {}
            usable: dict[str, bool] = {}
            for index, column, prefix in self.query(_INDEXES_SQL, (table.schema, table.name)):
                unique.setdefault(index, []).append(column)
                usable[index] = usable.get(index, True) and prefix is None
            indexes = [tuple(cols) for index, cols in unique.items() if usable[index]]
            names = {c.name: c for c in columns}
            keys = [cols for cols in indexes if all(not names[c].nullable for c in cols if c in names)]
            key = keys[0] if keys else ()
            others = tuple(u for u in indexes if u != key)
            out.append(TableSchema(table, columns, key, TYPES.engine, int(estimate), others,
                                   full_row=not key and whole_rows))
        return out

    def _listed(self, selection: Selection) -> list[tuple[TableId, int]]:
        """The selected tables and their row estimates, from two listings a moment apart (see ``tables``); a
        table in the second only is taken if a lookup by its name finds it."""
        if all(r.action == "explicit" for r in selection.rules):  # by name: a lookup that waits for the lock
            named = [t for t in dict.fromkeys(TableId(r.schema, r.table) for r in selection.rules)
                     if t.schema not in _SYSTEM and not t.name.startswith("awsdms_")]
            return [(t, found[0][0]) for t in named if (found := self.query(_TABLE_SQL, (t.schema, t.name)))]

        def listing() -> dict[TableId, int]:
            return {t: rows for s, n, rows in self.query(_TABLES_SQL) if selection.selects(t := TableId(s, n))}

        first = listing()
        time.sleep(LISTING_GAP)
        later = [(t, rows) for t, rows in listing().items() if t not in first]
        if not later:
            return list(first.items())
        found = [*first.items(), *((t, rows) for t, rows in later if self.query(_TABLE_SQL, (t.schema, t.name)))]
        return sorted(found, key=lambda item: (item[0].schema, item[0].name))

    def _columns(self, table: TableId, mariadb: bool) -> tuple[Column, ...]:
        """The table's replicated columns; MariaDB's JSON ones (LONGTEXT with a json_valid check) as json."""
        documents = set()
        if mariadb:
            for (clause,) in self.query(_JSON_CHECKS_SQL, (table.schema, table.name)):
                column = _JSON_CHECK.match(clause.strip())
                if column:
                    documents.add(column.group(1).replace("``", "`"))
        return tuple(discovered(col, "json" if col in documents else native, nullable == "YES")
                     for col, native, nullable in self.query(_COLUMNS_SQL, (table.schema, table.name)))

    def advice(self, cdc: bool) -> list[str]:
        line = capture.retention_warning(self.ep, self.server) if cdc else None
        return [line] if line else []

    # -- full load -------------------------------------------------------------------------------

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None, at: Callable[[int, str], None] | None = None) -> Iterator[Batch]:
        # A FLOAT read as text has 6 digits (16777216 reads 16777200): read as a double, it is the stored number
        cols = ", ".join(f"{quote_ident(c.name)} + 0e0" if base_name(c.native) == "float" else quote_ident(c.name)
                         for c in table.columns)
        chunk, params = key_range_sql(table.key, within)
        chunk = chunk.removeprefix(" WHERE ")
        filters, values = _where(table, where)
        conditions = " AND ".join(c.removeprefix(" WHERE ") for c in (chunk, filters) if c)
        sql = f"SELECT {cols} FROM {_name(table.table)}" + (f" WHERE {conditions}" if conditions else "")
        if ordered and table.key:
            sql += f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}"
        conn = self._snapshot_connection(table, at)
        return self._rows(conn, sql, params + values, table, batch_rows)

    def _snapshot_connection(self, table: TableSchema, at: Callable[[int, str], None] | None) -> Any:
        """A connection in a consistent-snapshot transaction (taken after start_cdc's P0, so the table's changes
        from P0 replayed onto it converge). With ``at``, the binlog position of exactly that snapshot."""
        # UTC (connect's session setup): TIMESTAMPs read as the binlog holds them
        conn = reading_connection(self.ep)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if at is None:
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    return conn
                file, offset = capture.snapshot_position(cur, self.ep, table.table)
            at(logpos.major(file, offset), logpos.token(file, offset))
            return conn
        except DRIVER_ERRORS as exc:
            conn.close()
            raise classify(driver_error(exc), self.ep) from None
        except BaseException:
            conn.close()
            raise

    def _rows(self, conn: Any, sql: str, args: list, table: TableSchema, batch_rows: int) -> Iterator[Batch]:
        names = table.column_names
        convert = row_converter(table.columns, log=False)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)
                while True:
                    rows = cur.fetchmany(batch_rows)
                    if not rows:
                        break
                    yield Batch(len(rows), [dict(zip(names, convert(r), strict=True)) for r in rows])
            conn.commit()
        except DRIVER_ERRORS as exc:
            raise classify(driver_error(exc), self.ep) from None
        finally:
            conn.close()

    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        """Equal spans of a single integer key, sized from the table's row estimate."""
        whole = [KeyRange()]
        if len(table.key) != 1 or not next(c for c in table.columns if c.name == table.key[0]).type.startswith("int"):
            return whole
        key = quote_ident(table.key[0])
        (low, high), = self.query(f"SELECT MIN({key}), MAX({key}) FROM {_name(table.table)}")
        if low is None:
            return whole
        rows = table.rows_estimate or high - low + 1
        chunks = min(round(rows / rows_per_chunk), high - low + 1)
        if chunks < 2:
            return whole
        span = (high - low + 1) / chunks
        return KeyRange.between([(low - 1 + round(span * i),) for i in range(1, chunks)])

    # -- change capture --------------------------------------------------------------------------

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        problems = self.check(cdc=True)
        if problems:
            raise ConfigError("; ".join(problems))
        keyless = [t.table for t in tables if not t.key and not t.full_row]
        if keyless:
            raise ConfigError(
                f"table(s) {', '.join(map(str, keyless))} have no primary key or unique index of NOT NULL columns and "
                f"the binlog does not log whole rows on {self.ep.where()}: set binlog_row_image=FULL, add a key, or "
                "exclude them with a selection rule")
        return self.server.current(self.query)

    @staticmethod
    def position_error(text: str) -> str | None:
        return logpos.position_error(text)

    def parse_position(self, task: str, text: str) -> Position:
        problem = logpos.position_error(text)
        if problem:
            raise ConfigError(problem)
        file, offset = logpos.parse(text)
        if logpos.basename(file) != self.server.basename:
            raise ConfigError(f"CDC start position {text}: the binlog files of {self.ep.where()} are named "
                              f"{self.server.basename}.NNNNNN: give one of SHOW BINARY LOGS")
        return logpos.position(self.server.log, file, offset)

    def check_position(self, task: str, position: Position) -> str | None:
        return capture.check_position(self.query, self.ep, self.server, position)

    @classmethod
    def whole_rows_cure(cls, table: TableId) -> str:
        return "set binlog_row_image=FULL on the source server (SET GLOBAL binlog_row_image='FULL' and in its config)"

    def stream(self, task: str, start: Position, tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        own: list[MysqlSource] = []  # information_schema for the DDL read: a connection of the reader's own

        def catalog() -> MysqlSource:
            if not own:
                own.append(MysqlSource(self.ep))
            return own[0]

        def describe(table: TableId) -> TableSchema | None:
            found = catalog().tables([TableRule(table.schema, table.name, "explicit")])
            return found[0] if found else None

        shapes = ddl.Catalog(describe, lambda sql, args=None: catalog().query(sql, args), self.server.mariadb,
                             lambda where: capture.table_map_names(self.ep, task, self.ep.database, where))
        try:
            yield from capture.Reader(self.ep, self.server, task, start, tables, self.query, shapes).changes()
        finally:
            for source in own:
                source.close()

    def close(self) -> None:
        try:
            self._conn.close()
        except pymysql.Error:
            pass


def _where(table: TableSchema, where: Sequence[Filter]) -> tuple[str, list[str]]:
    """DMS's filters as a WHERE clause: a BOOLEAN (BIT(1), TINYINT(1)) compared as a number with 'true' as 1."""
    flags = {c.name for c in table.columns if c.type == "bool"}
    truth = {"true": "1", "false": "0"}
    where = [Filter(f.column, tuple(Condition(c.op, truth.get(str(c.value).lower(), c.value),
                                              truth.get(str(c.end).lower(), c.end)) for c in f.conditions))
             if f.column in flags else f for f in where]

    def column(name: str) -> str:  # a % in a name is doubled: PyMySQL reads it as a placeholder
        quoted = quote_ident(name).replace("%", "%%")
        return f"({quoted} + 0)" if name in flags else quoted
    return where_clause(where, column, "%s")


def _name(table: TableId) -> str:
    return qualified(table.schema, table.name)


