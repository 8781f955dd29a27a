"""PostgreSQL target: table preparation, COPY loads, set-based idempotent apply with checkpoints."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg2
import psycopg2.errors
import psycopg2.extras

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
from connectors.errors import ObjectError
from connectors.net_effect import (
    checking,
    expectations,
    first_ops,
    missed,
    net_effect,
    raise_fatal,
    resolve,
    segments,
)

from .connect import classify, connect, key_range_sql, qualified, quote_ident
from .copyout import COPY_BINARY, COPY_TEXT, copy_out, row_decoder
from .copytext import encoder_for, format_rows, format_text_rows
from .keyless import apply_keyless
from .prepare import before_load, column_type, prepare_table, replica_role, restore

CHECKPOINTS = "awsdms_txn_state"  # DMS's name for its checkpoint control table
_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: every type below it is built in
EXCEPTIONS = "awsdms_apply_exceptions"  # DMS's name and columns for changes that could not be applied
_EXCEPTIONS_DDL = (
    f'CREATE TABLE IF NOT EXISTS {EXCEPTIONS} ("TASK_NAME" varchar(128) NOT NULL, "TABLE_OWNER" varchar(128) '
    'NOT NULL, "TABLE_NAME" varchar(128) NOT NULL, "ERROR_TIME" timestamp NOT NULL '
    "DEFAULT (now() AT TIME ZONE 'utc'), \"STATEMENT\" text NOT NULL, \"ERROR\" text NOT NULL)"
)

class _BatchStream:
    """A file-like object that psycopg2's copy_expert reads: one COPY for a whole iterator of batches."""

    def __init__(self, schema: TableSchema, batches: Iterable[Batch]) -> None:
        self.batches = iter(batches)
        self.encoders = [encoder_for(column_type(schema, n)) for n in schema.column_names]
        self.names = schema.column_names

    def read(self, size: int = -1) -> bytes:
        for batch in self.batches:
            if batch.raw is not None and batch.raw[0] in (COPY_TEXT, COPY_BINARY):
                return batch.raw[1]
            data = format_rows(([row.get(n) for n in self.names] for row in batch.rows()), self.encoders)
            if data:
                return data
        return b""


class PostgresTarget:
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ_BACK}
    )
    kind: ClassVar[TargetKind] = TargetKind.TRANSACTIONAL
    text_engine: ClassVar[str | None] = "postgres"

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.conn = connect(endpoint)
        self._staging: set[str] = set()
        # fireTriggers=true: the target's triggers fire on replicated rows, so the session keeps its role
        # and foreign keys are set aside during the load instead (connectors/postgres/prepare.py).
        self.fire_triggers = endpoint.extra.get("fireTriggers", "false").lower() in ("true", "y", "yes", "1")
        try:
            self.replica = not self.fire_triggers and replica_role(self.conn)
        except psycopg2.Error as exc:
            self.conn.close()
            raise classify(exc, endpoint) from None

    def _run(self, fn, *args: Any) -> Any:
        """One transaction: commit on success; on any failure roll back, and classify driver errors."""
        try:
            with self.conn.cursor() as cur:
                result = fn(cur, *args)
            self.conn.commit()
            return result
        except BaseException as exc:
            try:
                self.conn.rollback()
            except psycopg2.Error:
                pass
            # What this transaction created (staging tables, the checkpoint table) is gone with it.
            self._staging.clear()
            if isinstance(exc, psycopg2.Error):
                raise classify(exc, self.ep) from None
            raise

    def check(self) -> list[str]:
        self._run(lambda cur: cur.execute("SELECT 1"))
        return []

    # -- full load -------------------------------------------------------------------------------

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
        where, params = key_range_sql(table.key, [column_type(table, k) for k in table.key], within)

        def copy(cur: Any) -> int:
            if where:  # a chunk loaded again: its earlier rows (committed before a crash) go first
                cur.execute(f"DELETE FROM {name}{where}", params)
            cur.copy_expert(sql, stream, size=1 << 20)
            return cur.rowcount

        return self._run(copy)

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        checked = checking(on_conflict)

        def work(cur: Any) -> list[Conflict]:
            self._ensure_checkpoints(cur)
            # Every statement here finds its rows by key, one probe per changed row. Unanalyzed
            # staging tables make the planner hash-join instead, reading the whole table per batch.
            cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
            # Source transactions apply whole but table by table: deferrable keys are checked at commit.
            cur.execute("SET CONSTRAINTS ALL DEFERRED")
            marks: dict[str, str] = {}
            conflicts: list[Conflict] = []
            for part in parts_of(changes):
                # Plans made ahead by plan() hold, if made under the same policies.
                plans = part.plans if isinstance(part, _Prepared) and part.checked == checked else {}
                for schema, items in part.items():
                    if not items:
                        continue
                    if checked:
                        conflicts += _apply_checked(cur, self, schema, items, checked, plans.get(schema))
                    else:
                        _apply_table(cur, self, schema, items, plans=plans.get(schema))
                    marks[str(schema.table)] = items[-1].position.encode()
            raise_fatal(conflicts, checked)
            if marks:
                psycopg2.extras.execute_values(
                    cur,
                    f"INSERT INTO {CHECKPOINTS} (task_name, table_name, position) VALUES %s "
                    "ON CONFLICT (task_name, table_name) DO UPDATE SET position = EXCLUDED.position, "
                    "updated_at = now()",
                    [(task, table, position) for table, position in marks.items()],
                )
            return conflicts

        return self._run(work)

    def plan(self, changes: Mapping[TableSchema, Sequence[Change]],
             on_conflict: Mapping[Op, OnConflict] | None = None) -> Mapping[TableSchema, Sequence[Change]]:
        """Collapse each table's runs and write their COPY text now, on the caller's thread."""
        checked = checking(on_conflict)
        return _Prepared(changes, {schema: _plans(schema, items, checked) for schema, items in changes.items()},
                         checked)

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        name = qualified(table.table.schema, table.table.name)
        row = change.after if change.after is not None else change.before or {}
        cols = [n for n in table.column_names if n in row]

        def work(cur: Any) -> None:
            if change.op is Op.DELETE:
                match = " AND ".join(f"{quote_ident(k)} = %s" for k in table.key)
                statement = cur.mogrify(f"DELETE FROM {name} WHERE {match}", [row.get(k) for k in table.key])
            else:
                verb = "INSERT INTO" if change.op is Op.INSERT else "UPSERT INTO"
                statement = cur.mogrify(f"{verb} {name} ({', '.join(quote_ident(c) for c in cols)}) VALUES "
                                        f"({', '.join(['%s'] * len(cols))})", [row[c] for c in cols])
            cur.execute(_EXCEPTIONS_DDL)
            cur.execute(f'INSERT INTO {EXCEPTIONS} ("TASK_NAME", "TABLE_OWNER", "TABLE_NAME", "STATEMENT", "ERROR") '
                        "VALUES (%s, %s, %s, %s, %s)",
                        (task, table.table.schema, table.table.name, statement.decode(), error))

        self._run(work)

    def applied(self, task: str) -> dict[TableId, Position]:
        def read(cur: Any) -> list[tuple]:
            self._ensure_checkpoints(cur)
            cur.execute(f"SELECT table_name, position FROM {CHECKPOINTS} WHERE task_name = %s", (task,))
            return cur.fetchall()

        return {TableId.parse(t): Position.decode(p) for t, p in self._run(read)}

    def forget(self, task: str) -> list[str]:
        """The task's checkpoints go, and what its load set aside comes back as it was."""
        def work(cur: Any) -> None:
            self._ensure_checkpoints(cur)
            cur.execute(f"DELETE FROM {CHECKPOINTS} WHERE task_name = %s", (task,))

        self._run(work)
        return restore(self._run, task, replicating=False)

    def _ensure_checkpoints(self, cur: Any) -> None:
        if CHECKPOINTS in self._staging:
            return
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (task_name text NOT NULL, table_name text NOT NULL, "
            "position text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (task_name, table_name))"
        )
        self._staging.add(CHECKPOINTS)

    def staging_table(self, cur: Any, schema: TableSchema) -> str:
        """A temporary table shaped like the target, emptied at every commit, made once per session."""
        digest = hashlib.sha1(str(schema.table).encode()).hexdigest()[:12]
        name = f"_dms_stage_{digest}"
        if name not in self._staging:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {name} "
                f"(LIKE {qualified(schema.table.schema, schema.table.name)}) ON COMMIT DELETE ROWS"
            )
            self._staging.add(name)
        return name

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        cols = ", ".join(quote_ident(n) for n in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if table.key else ""
        sql = f"COPY (SELECT {cols} FROM {qualified(table.table.schema, table.table.name)}{order}) TO STDOUT"
        decode = row_decoder(table, lambda name: column_type(table, name))
        for batch in copy_out(self.ep, sql, batch_rows, decode):
            yield batch.rows()

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


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


def _columns(names: Sequence[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _constraint_name(table: str, columns: Sequence[str]) -> str:
    """PostgreSQL's own spelling, <table>_<columns>_key, kept within its 63-byte names by a digest."""
    name = f"{table}_{'_'.join(columns)}_key"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:50].decode(errors='ignore')}_{digest}_key"


class _Prepared(dict):
    """A batch with its run plans made ahead (PostgresTarget.plan)."""

    def __init__(self, changes: Mapping[TableSchema, Sequence[Change]],
                 plans: dict[TableSchema, list[_RunPlan | None]], checked: Mapping[Op, OnConflict] | None) -> None:
        super().__init__(changes)
        self.plans = plans
        self.checked = checked


class _Mismatch(Exception):
    """A checked statement touched another number of rows than its changes expected."""


def _apply_checked(cur: Any, target: PostgresTarget, schema: TableSchema, changes: Sequence[Change],
                   checked: Mapping[Op, OnConflict], plans: list[_RunPlan | None] | None) -> list[Conflict]:
    """Set-based with row counts checked, which costs nothing while no change conflicts; when one
    does, the table's changes go again from a savepoint, each key looked up first, so the
    conflicting changes are left out where one-by-one apply would meet them."""
    cur.execute("SAVEPOINT dms_checked")
    try:
        conflicts = _apply_table(cur, target, schema, changes, checked, plans=plans)
    except _Mismatch:
        cur.execute("ROLLBACK TO SAVEPOINT dms_checked")
        target._staging.clear()  # a staging table made after the savepoint is gone; the others are made again
        conflicts = _apply_table(cur, target, schema, changes, checked, exact=True)
    cur.execute("RELEASE SAVEPOINT dms_checked")
    return conflicts


def _apply_table(cur: Any, target: PostgresTarget, schema: TableSchema, changes: Sequence[Change],
                 checked: Mapping[Op, OnConflict] | None = None, exact: bool = False,
                 plans: list[_RunPlan | None] | None = None) -> list[Conflict]:
    name = qualified(schema.table.schema, schema.table.name)
    if not schema.key:
        if schema.full_row:  # REPLICA IDENTITY FULL: rows matched on all their columns
            return apply_keyless(cur, schema, name, changes, column_type, checked)
        raise ObjectError(f"table {schema.table} has no key: changes cannot be applied; add a primary key on "
                          "the source (or set REPLICA IDENTITY FULL) and reload the table")
    conflicts: list[Conflict] = []
    for n, part in enumerate(segments(schema, changes)):
        if isinstance(part, list):
            if checked and exact:
                kept, found = resolve(schema, part, _existing(cur, schema, name, part), checked)
                conflicts += found
                _apply_run(cur, target, schema, name, _plan_run(schema, kept, None))
            else:
                plan = plans[n] if plans is not None else None
                _apply_run(cur, target, schema, name, plan or _plan_run(schema, part, checked))
        elif part.op is Op.TRUNCATE:
            cur.execute(f"TRUNCATE {name}")
        else:
            conflicts += missed(schema, part, _update_in_place(cur, schema, name, part), checked)
    return conflicts


def _plans(schema: TableSchema, changes: Sequence[Change], checked: Mapping[Op, OnConflict] | None
           ) -> list[_RunPlan | None]:
    """A plan per segment of a table's changes (None for those applied alone)."""
    if not schema.key:  # applied change by change (keyless.py)
        return []
    return [_plan_run(schema, part, checked) if isinstance(part, list) else None for part in segments(schema, changes)]


def _existing(cur: Any, schema: TableSchema, name: str, run: Sequence[Change]) -> list[tuple]:
    """The keys of a run that the target holds now."""
    keys = list(first_ops(schema, run))
    if not keys:
        return []
    aliases = ", ".join(f"_k{i}" for i in range(len(schema.key)))
    match = " AND ".join(f"t.{quote_ident(k)} = v._k{i}" for i, k in enumerate(schema.key))
    template = "(%s, " + ", ".join(f"%s::{column_type(schema, k)}" for k in schema.key) + ")"
    found = psycopg2.extras.execute_values(
        cur, f"SELECT v.n FROM (VALUES %s) AS v(n, {aliases}) JOIN {name} AS t ON {match}",
        [(n, *k) for n, k in enumerate(keys)], template=template, page_size=10_000, fetch=True)
    return [keys[n] for (n,) in found]


def _update_in_place(cur: Any, schema: TableSchema, name: str, ch: Change) -> int:
    after, before = ch.after or {}, ch.before or {}
    cols = [n for n in schema.column_names if n in after]
    sets = ", ".join(f"{quote_ident(n)} = %s::{column_type(schema, n)}" for n in cols)
    match = " AND ".join(f"{quote_ident(k)} = %s::{column_type(schema, k)}" for k in schema.key)
    cur.execute(f"UPDATE {name} SET {sets} WHERE {match}", [after[n] for n in cols] + [before[k] for k in schema.key])
    return cur.rowcount


def _touched(cur: Any, sql: str, rows: list[tuple], template: str, checked: bool) -> int:
    """Run a VALUES statement; a checked one goes as one statement so its row count is whole."""
    psycopg2.extras.execute_values(cur, sql, rows, template=template,
                                   page_size=max(len(rows), 1) if checked else 10_000)
    return cur.rowcount


@dataclass
class _RunPlan:
    """A run's net effect as statements to run, made without a connection. ``expected``: None for
    no check, True where the rows must be there, False where they must not."""

    deletes: list[tuple[bool | None, list[tuple]]]
    upserts: list[tuple[bool | None, bytes, int]]  # COPY text of full rows, and their count
    partial: list[tuple[tuple[str, ...], bool, list[tuple]]]  # columns present, must exist, values + key


def _plan_run(schema: TableSchema, run: list[Change], checked: Mapping[Op, OnConflict] | None) -> _RunPlan:
    plan = _RunPlan([], [], [])
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
        names = schema.column_names
        for expected, keys in (split(upserts).items() if expect else [(None, list(upserts))]):
            # keys are upserts' own order: all of them are its values as they stand
            rows = list(upserts.values()) if len(keys) == len(upserts) else [upserts[k] for k in keys]
            if run[0].text:  # already PostgreSQL's spelling: only COPY's escaping to add
                data = format_text_rows(rows, names)
            else:
                data = format_rows((list(map(row.get, names)) for row in rows),
                                   [encoder_for(column_type(schema, n)) for n in names])
            plan.upserts.append((expected, data, len(keys)))
    groups_p: dict[tuple[tuple[str, ...], bool], list[tuple]] = {}
    for k, values in partial.items():
        cols_present = tuple(n for n in schema.column_names if n in values and n not in schema.key)
        if cols_present:
            groups_p.setdefault((cols_present, bool(expect and expect[firsts.get(k)])), []).append(
                tuple(values[n] for n in cols_present) + k)
    plan.partial = [(cols, must_exist, rows) for (cols, must_exist), rows in groups_p.items()]
    return plan


def _apply_run(cur: Any, target: PostgresTarget, schema: TableSchema, name: str, plan: _RunPlan) -> None:
    """A run's plan as set operations. Each checked statement's row count must be what the keys'
    first changes expect (_Mismatch otherwise): on the common path a check costs nothing."""
    key_sql = ", ".join(quote_ident(k) for k in schema.key)
    key_types = [column_type(schema, k) for k in schema.key]
    for expected, keys in plan.deletes:
        template = "(" + ", ".join(f"%s::{t}" for t in key_types) + ")"
        done = _touched(cur, f"DELETE FROM {name} WHERE ({key_sql}) IN (VALUES %s)", keys, template,
                        expected is not None)
        if expected is not None and done != (len(keys) if expected else 0):
            raise _Mismatch
    for expected, data, count in plan.upserts:
        done = _upsert(cur, target, schema, name, data, expected)
        if expected is not None and done != count:
            raise _Mismatch
    for cols_present, must_exist, rows in plan.partial:
        all_cols = cols_present + schema.key
        types = [column_type(schema, n) for n in all_cols]
        template = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
        sets = ", ".join(f"{quote_ident(n)} = v.{quote_ident(n)}" for n in cols_present)
        match = " AND ".join(f"t.{quote_ident(k)} = v.{quote_ident(k)}" for k in schema.key)
        alias = ", ".join(quote_ident(n) for n in all_cols)
        done = _touched(cur, f"UPDATE {name} AS t SET {sets} FROM (VALUES %s) AS v ({alias}) WHERE {match}",
                        rows, template, must_exist)
        if must_exist and done != len(rows):
            raise _Mismatch


def _upsert(cur: Any, target: PostgresTarget, schema: TableSchema, name: str, data: bytes,
            expected: bool | None) -> int:
    """Full rows (COPY text) through the staging table: an upsert (expected None), an update of rows
    that must be there (True) or an insert of rows that must not (False). Returns the rows written."""
    names = schema.column_names
    stage = target.staging_table(cur, schema)
    cols = ", ".join(quote_ident(n) for n in names)
    key_sql = ", ".join(quote_ident(k) for k in schema.key)
    cur.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", _Bytes(data), size=1 << 20)
    others = [n for n in names if n not in schema.key] or list(schema.key)
    if expected is True:
        sets = ", ".join(f"{quote_ident(n)} = s.{quote_ident(n)}" for n in others)
        match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in schema.key)
        cur.execute(f"UPDATE {name} AS t SET {sets} FROM {stage} AS s WHERE {match}")
    elif expected is False:
        cur.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({key_sql}) DO NOTHING")
    else:
        action = ("DO UPDATE SET " + ", ".join(f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in others)
                  if len(names) > len(schema.key) else "DO NOTHING")
        cur.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({key_sql}) {action}")
    done = cur.rowcount
    cur.execute(f"TRUNCATE {stage}")  # the next run in this transaction reuses it
    return done


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data

