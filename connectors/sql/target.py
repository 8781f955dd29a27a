"""The transactional SQL target: what every SQL engine's target does the same way.

Data and checkpoint commit in one transaction: ``apply`` writes each table's last position into
``awsdms_txn_state`` (DMS's name for its checkpoint control table) with the batch, so a crash
anywhere loses nothing and applies nothing twice. A change that could not be applied is kept in
``awsdms_apply_exceptions``, with DMS's columns.

An engine subclasses ``SqlTarget`` and supplies its SQL: the transaction and its driver's errors
(``begin``, ``commit``, ``rollback``, ``driver_errors``, ``classify``), the spelling (``quote``,
``table_name``, ``param``, the control tables' type names, ``on_duplicate``), and the loading side
of the Target contract (prepare, load, keys, read). The apply statements below are portable SQL,
one row at a time; an engine replaces any of them with a faster form of its own (PostgreSQL: COPY
into a staging table, VALUES lists), keeping what each returns: the rows it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from connectors.base import (
    Capability,
    Change,
    Changes,
    Column,
    Conflict,
    Endpoint,
    OnConflict,
    Op,
    Position,
    Row,
    TableId,
    TableSchema,
    TargetKind,
    parts_of,
)
from connectors.errors import DmsError, ObjectError
from connectors.net_effect import checking, raise_fatal

from . import ddl
from .apply import Prepared, apply_table, plans

CHECKPOINTS = "awsdms_txn_state"  # DMS's name for its checkpoint control table
EXCEPTIONS = "awsdms_apply_exceptions"  # DMS's name and columns for changes that could not be applied


class SqlTarget:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ_BACK})
    kind: ClassVar[TargetKind] = TargetKind.TRANSACTIONAL  # data and checkpoint in one transaction
    text_engine: ClassVar[str | None] = None

    # -- what an engine supplies: its driver ----------------------------------------------------
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()  # what ``classify`` turns into DmsErrors
    # The engine's classifier of a driver error raised on an endpoint, as its connect module has it: the one
    # place of the engine that knows its codes (a staticmethod, so that the class does not bind it).
    classify_error: ClassVar[Callable[[BaseException, Endpoint], DmsError]]
    param: ClassVar[str] = "?"  # the driver's parameter marker
    # The control tables' column types: text (``key_text`` where it is part of a primary key),
    # names, a time, and the expressions of now (the checkpoint's stamp; UTC for the exceptions).
    key_text: ClassVar[str] = "TEXT"
    text: ClassVar[str] = "TEXT"
    name_text: ClassVar[str] = "TEXT"
    stamp: ClassVar[tuple[str, str]] = ("TEXT", "CURRENT_TIMESTAMP")  # checkpoint's updated_at: type, value
    utc_time: ClassVar[tuple[str, str]] = ("TEXT", "CURRENT_TIMESTAMP")  # exception's ERROR_TIME: type, value

    ep: Endpoint
    conn: Any

    def __init__(self, endpoint: Endpoint, conn: Any) -> None:
        self.ep = endpoint
        self.conn = conn
        # Objects this session made or saw (control tables, staging tables): gone with a rollback.
        self._made: set[str] = set()

    def begin(self) -> Any:
        """Start a write transaction; returns what statements are executed on (a DB-API cursor)."""
        raise NotImplementedError

    def commit(self, cur: Any) -> None:
        raise NotImplementedError

    def rollback(self, cur: Any) -> None:
        """Roll back after any failure (quietly: the failure that caused it is what the caller sees)."""
        try:
            self.conn.rollback()
        except self.driver_errors:
            pass  # the connection is gone: the failure that brought us here is what the caller sees

    def classify(self, exc: BaseException) -> DmsError:
        """A driver error -> connectors/errors.py's tree, by the engine's ``classify_error``."""
        return type(self).classify_error(exc, self.ep)

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def table_name(self, schema: TableSchema) -> str:
        """The target table's name as statements spell it."""
        return f"{self.quote(schema.table.schema)}.{self.quote(schema.table.name)}"

    def on_duplicate(self, key: Sequence[str], columns: Sequence[str]) -> str:
        """The clause after an INSERT that makes it an upsert on ``key``: ``columns`` take the new
        row's values (none: the row stays)."""
        if not columns:
            return f"ON CONFLICT ({self._list(key)}) DO NOTHING"
        sets = ", ".join(f"{self.quote(c)} = excluded.{self.quote(c)}" for c in columns)
        return f"ON CONFLICT ({self._list(key)}) DO UPDATE SET {sets}"

    def insert_rows(self, cur: Any, head: str, row: str, rows: Sequence[Sequence[Any]], tail: str = "") -> int:
        """``head VALUES row, row, ... tail`` for every row (``row`` spells one with parameter markers);
        the rows it wrote."""
        return _many(cur, f"{head} VALUES {row} {tail}", rows)

    def declare(self, schema: TableSchema, column: Column) -> str:
        """The column's type as the target declares it in a new table."""
        raise NotImplementedError

    def retype(self, table: str, schema: TableSchema, column: Column) -> str | None:
        """The statement that gives a column its new type (None: the engine's columns take any value)."""
        return f"ALTER TABLE {table} ALTER COLUMN {self.quote(column.name)} TYPE {self.declare(schema, column)}"

    def rename_table(self, old: TableSchema, new: TableSchema) -> str:
        return f"ALTER TABLE {self.table_name(old)} RENAME TO {self.quote(new.table.name)}"

    def bind(self, values: Sequence[Any]) -> list[Any]:
        """Plain Python values -> what the driver binds."""
        return list(values)

    def render(self, cur: Any, sql: str, params: Sequence[Any]) -> str:
        """A statement with its parameters written in, as the exceptions table shows it."""
        parts = sql.split(self.param)
        return parts[0] + "".join(_literal(v) + rest for v, rest in zip(params, parts[1:], strict=False))

    # -- the apply statements: portable, row by row; an engine may replace any with its own ---------

    def start_apply(self, cur: Any) -> None:
        """Session settings for a batch's transaction (PostgreSQL: constraints deferred to its end)."""

    def encode_rows(self, schema: TableSchema, rows: list[Row], text: bool) -> Any:
        """Full rows, as ``write_rows`` takes them; done by ``plan`` on the worker's other thread."""
        names = schema.column_names
        return [self.bind([row.get(n) for n in names]) for row in rows]

    def delete_rows(self, cur: Any, schema: TableSchema, keys: list[tuple], whole: bool) -> int:
        return _many(cur, f"DELETE FROM {self.table_name(schema)} WHERE {self._match(schema.key)}",
                     [self.bind(k) for k in keys])

    def write_rows(self, cur: Any, schema: TableSchema, rows: Any, expected: bool | None) -> int:
        """Full rows (``encode_rows``): an upsert (expected None), an update of rows that must be there
        (True) or an insert of rows that must not (False). Returns the rows written."""
        names, key = schema.column_names, schema.key
        name = self.table_name(schema)
        if expected is True:
            others = [n for n in names if n not in key] or list(key)
            at = [names.index(n) for n in (*others, *key)]
            return _many(cur, f"UPDATE {name} SET {self._match(others, ', ')} WHERE {self._match(key)}",
                         [[r[i] for i in at] for r in rows])
        others = [] if expected is False else [n for n in names if n not in key]
        return self.insert_rows(cur, f"INSERT INTO {name} ({self._list(names)})",
                                f"({', '.join([self.param] * len(names))})", rows, self.on_duplicate(key, others))

    def update_columns(self, cur: Any, schema: TableSchema, columns: tuple[str, ...], rows: list[tuple],
                       whole: bool) -> int:
        """Partial rows (``columns`` then the key's values) onto the rows of their keys."""
        return _many(cur, f"UPDATE {self.table_name(schema)} SET {self._match(columns, ', ')} "
                          f"WHERE {self._match(schema.key)}", [self.bind(r) for r in rows])

    def update_one(self, cur: Any, schema: TableSchema, change: Change) -> int:
        """A key change with a partial new image: the old row updated where it is; the rows touched."""
        after, before = change.after or {}, change.before or {}
        cols = [n for n in schema.column_names if n in after]
        return _many(cur, f"UPDATE {self.table_name(schema)} SET {self._match(cols, ', ')} "
                          f"WHERE {self._match(schema.key)}",
                     [self.bind([after[n] for n in cols] + [before[k] for k in schema.key])])

    def truncate(self, cur: Any, schema: TableSchema) -> None:
        cur.execute(f"DELETE FROM {self.table_name(schema)}")  # inside the transaction on every engine

    def existing(self, cur: Any, schema: TableSchema, keys: list[tuple]) -> list[tuple]:
        """The keys the table holds now."""
        sql = f"SELECT 1 FROM {self.table_name(schema)} WHERE {self._match(schema.key)}"
        return [k for k in keys if _query(cur, sql, self.bind(k)).fetchone()]

    def apply_keyless(self, cur: Any, schema: TableSchema, changes: Sequence[Change],
                      checked: Mapping[Op, OnConflict] | None) -> list[Conflict]:
        """A keyless table whose source logs whole old rows: each change on one row equal to its old row."""
        raise ObjectError(f"table {schema.table} has no key: changes cannot be applied on {self.ep.engine}; "
                          "add a primary key on the source and reload the table")

    def forget_session(self) -> None:
        self._made.clear()

    def unique_refused(self, schema: TableSchema, exc: BaseException) -> bool:
        """Whether a unique index other than the key refused a set statement that changes applied one by
        one could pass (an engine checking unique indexes per row, not at commit, says so)."""
        return False

    # -- the Target contract's SQL side, shared ----------------------------------------------------

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One transaction: commit on success; on any failure roll back, and classify driver errors."""
        try:
            cur = self.begin()
            try:
                result = fn(cur, *args)
                self.commit(cur)
                return result
            except BaseException:
                self._made.clear()  # what this transaction created is gone with it
                self.rollback(cur)
                raise
        except self.driver_errors as exc:
            raise self.classify(exc) from None

    def check(self) -> list[str]:
        self._run(lambda cur: cur.execute("SELECT 1"))
        return []

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        checked = checking(on_conflict)

        def work(cur: Any) -> list[Conflict]:
            self._ensure_checkpoints(cur)
            self.start_apply(cur)
            marks: dict[str, str] = {}
            conflicts: list[Conflict] = []
            for part in parts_of(changes):
                # Plans made ahead by plan() hold, if made under the same policies.
                made = part.plans if isinstance(part, Prepared) and part.checked == checked else {}
                for schema, items in part.items():
                    if not items:
                        continue
                    if items[0].op is Op.DDL:  # a schema change comes alone (worker/cdc/ddl.py)
                        ddl.run(cur, self, schema, list(items))
                    else:
                        conflicts += apply_table(cur, self, schema, items, checked, made.get(schema))
                    marks[str(schema.table)] = items[-1].position.encode()
            raise_fatal(conflicts, checked)
            if marks:
                self.insert_rows(cur, f"INSERT INTO {CHECKPOINTS} (task_name, table_name, position, updated_at)",
                                 f"({self.param}, {self.param}, {self.param}, {self.stamp[1]})",
                                 [(task, table, position) for table, position in marks.items()],
                                 self.on_duplicate(("task_name", "table_name"), ("position", "updated_at")))
            return conflicts

        return self._run(work)

    def plan(self, changes: Mapping[TableSchema, Sequence[Change]],
             on_conflict: Mapping[Op, OnConflict] | None = None) -> Mapping[TableSchema, Sequence[Change]]:
        """Collapse each table's runs and encode their rows now, on the caller's thread."""
        checked = checking(on_conflict)
        return Prepared(changes, {schema: plans(self, schema, items, checked) for schema, items in changes.items()},
                        checked)

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        name = self.table_name(table)
        row = change.after if change.after is not None else change.before or {}
        cols = [n for n in table.column_names if n in row]
        q = self.quote

        def work(cur: Any) -> None:
            if change.op is Op.DELETE:
                statement = self.render(cur, f"DELETE FROM {name} WHERE {self._match(table.key)}",
                                        [row.get(k) for k in table.key])
            else:
                verb = "INSERT INTO" if change.op is Op.INSERT else "UPSERT INTO"
                statement = self.render(cur, f"{verb} {name} ({self._list(cols)}) VALUES "
                                             f"({', '.join([self.param] * len(cols))})", [row[c] for c in cols])
            if EXCEPTIONS not in self._made:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {EXCEPTIONS} ({q('TASK_NAME')} {self.name_text} NOT NULL, "
                            f"{q('TABLE_OWNER')} {self.name_text} NOT NULL, {q('TABLE_NAME')} {self.name_text} "
                            f"NOT NULL, {q('ERROR_TIME')} {self.utc_time[0]} NOT NULL DEFAULT ({self.utc_time[1]}), "
                            f"{q('STATEMENT')} {self.text} NOT NULL, {q('ERROR')} {self.text} NOT NULL)")
                self._made.add(EXCEPTIONS)
            p = self.param
            cur.execute(f"INSERT INTO {EXCEPTIONS} ({q('TASK_NAME')}, {q('TABLE_OWNER')}, {q('TABLE_NAME')}, "
                        f"{q('ERROR_TIME')}, {q('STATEMENT')}, {q('ERROR')}) "
                        f"VALUES ({p}, {p}, {p}, {self.utc_time[1]}, {p}, {p})",
                        (task, table.table.schema, table.table.name, statement, error))

        self._run(work)

    def applied(self, task: str) -> dict[TableId, Position]:
        def read(cur: Any) -> list[tuple]:
            self._ensure_checkpoints(cur)
            return _query(cur, f"SELECT table_name, position FROM {CHECKPOINTS} WHERE task_name = {self.param}",
                          (task,)).fetchall()

        return {TableId.parse(t): Position.decode(p) for t, p in self._run(read)}

    def forget(self, task: str) -> list[str]:
        """The task's checkpoints go, and what its load set aside comes back as it was."""
        def work(cur: Any) -> None:
            self._ensure_checkpoints(cur)
            cur.execute(f"DELETE FROM {CHECKPOINTS} WHERE task_name = {self.param}", (task,))

        self._run(work)
        return self.after_load(task, replicating=False)

    def after_load(self, task: str, *, replicating: bool) -> list[str]:
        return []

    def _ensure_checkpoints(self, cur: Any) -> None:
        if CHECKPOINTS in self._made:
            return
        cur.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (task_name {self.key_text} NOT NULL, "
                    f"table_name {self.key_text} NOT NULL, position {self.text} NOT NULL, "
                    f"updated_at {self.stamp[0]} NOT NULL DEFAULT ({self.stamp[1]}), "
                    "PRIMARY KEY (task_name, table_name))")
        self._made.add(CHECKPOINTS)

    def close(self) -> None:
        try:
            self.conn.close()
        except self.driver_errors:
            pass

    def _list(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def _match(self, names: Sequence[str], sep: str = " AND ") -> str:
        return sep.join(f"{self.quote(n)} = {self.param}" for n in names)


def _many(cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """executemany, and the rows it touched in all (a DB-API cursor, or a sqlite3 connection; PyMySQL's
    returns a count, its cursor keeps the rows)."""
    result = cur.executemany(sql, rows)
    return (result if hasattr(result, "rowcount") else cur).rowcount


def _query(cur: Any, sql: str, params: Sequence[Any]) -> Any:
    """execute, and what to fetch its rows from (a DB-API cursor, or a sqlite3 connection's new cursor)."""
    result = cur.execute(sql, params)
    return result if hasattr(result, "fetchall") else cur


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"
