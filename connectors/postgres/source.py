"""PostgreSQL source: catalogue discovery, COPY snapshots, pgoutput change streams."""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

import psycopg2
import psycopg2.errors

from connectors.base import (
    Batch,
    Capability,
    Change,
    Column,
    Endpoint,
    Filter,
    KeyRange,
    Op,
    Position,
    Retained,
    Row,
    SchemaObject,
    Selection,
    SequenceValue,
    Source,
    TableId,
    TableRule,
    TableSchema,
)
from connectors.ddl import SchemaChange
from connectors.errors import ConfigError, PositionLost, TransientError
from connectors.filters import where_clause

from . import ddl, pgoutput, slots
from .connect import classify, connect, key_range_sql, qualified, quote_ident, task_object_name
from .copyout import COPY_BINARY, copy_out, copy_out_binary, row_decoder
from .copytext import decoder_for
from .cutover import source_objects, source_sequences

# Tables with storage only: a partitioned table is read (and replicated) through its leaf partitions,
# never itself, so no row travels twice; each leaf comes with its partition tree's root, by which a
# selection rule naming the partitioned table selects its partitions.
_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.reltuples::bigint, rn.nspname, r.relname, c.relreplident
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class r ON c.relispartition AND r.oid = pg_partition_root(c.oid)
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%%' AND c.relname NOT LIKE 'awsdms\\_%%' AND c.relname NOT LIKE 'opendms\\_%%'
ORDER BY n.nspname, c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, t.typname, t.typcategory
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attrelid, a.attnum
"""

# Primary key, replica identity index and plain unique indexes (no expression, no predicate; key
# columns only, not INCLUDE ones). The key is the primary key, else the replica identity index: the
# columns pgoutput sends as the old key; the other unique indexes go to the target after the load.
_INDEXES_SQL = """
SELECT i.indrelid, array_agg(a.attname ORDER BY k.ord), i.indisprimary, i.indisreplident
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = ANY(%s) AND k.ord <= i.indnkeyatts
  AND (i.indisprimary OR i.indisreplident
       OR (i.indisunique AND i.indisvalid AND i.indexprs IS NULL AND i.indpred IS NULL))
GROUP BY i.indexrelid, i.indrelid, i.indisprimary, i.indisreplident
ORDER BY i.indrelid, i.indexrelid
"""


_OPS = {ord("I"): Op.INSERT, ord("U"): Op.UPDATE, ord("D"): Op.DELETE}  # by pgoutput's message tag


def _selected(selection: Selection, table: TableId, root: TableId | None) -> bool:
    """Selected by the rules, or a partition of a partitioned table they select and not excluded itself."""
    return selection.selects(table) or (root is not None and selection.selects(root) and not any(
        r.action == "exclude" and r.matches(table) for r in selection.rules))


def _column(table: TableSchema, name: str) -> Column:
    return next(c for c in table.columns if c.name == name)


def _native(table: TableSchema, name: str) -> str:
    return _column(table, name).native or "text"


class PostgresSource(Source):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CDC, Capability.BEFORE_IMAGE})

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self._conn = connect(endpoint, autocommit=True)
        self._repl: Any = None
        self._ack_lsn = 0
        self._sysid: str | None = None
        self._decoders: dict[TableId, tuple[TableSchema, tuple[tuple[str, Any], ...]]] = {}

    # -- helpers ---------------------------------------------------------------------------------

    def _query(self, sql: str, args: Any = None) -> list[tuple]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        except psycopg2.Error as exc:
            raise classify(exc, self.ep) from None

    def _log(self, slot: str) -> str:
        if self._sysid is None:
            self._sysid = str(self._query("SELECT system_identifier FROM pg_control_system()")[0][0])
        return f"pg:{self._sysid}:{slot}"

    def _slot(self, task: str) -> str:
        return self.ep.extra.get("slotName") or task_object_name(task)

    def _publication(self, task: str) -> str:
        return self.ep.extra.get("publicationName") or task_object_name(task)

    # -- Source ----------------------------------------------------------------------------------

    def check(self, cdc: bool) -> list[str]:
        problems = []
        if not cdc:
            return problems
        (wal_level,), = self._query("SHOW wal_level")
        if wal_level != "logical":
            problems.append(
                f"wal_level is {wal_level!r} on source {self.ep.id}: set wal_level=logical in postgresql.conf "
                "and restart PostgreSQL (needed for CDC)"
            )
        (can_replicate,), = self._query(
            "SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user"
        )
        if not can_replicate:
            problems.append(
                f"user {self.ep.user!r} on source {self.ep.id} may not read changes: "
                f"ALTER ROLE {quote_ident(self.ep.user)} REPLICATION"
            )
        return problems

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        selection = Selection(rules)
        rows = [r for r in self._query(_TABLES_SQL) if _selected(selection, TableId(r[1], r[2]),
                                                                 TableId(r[4], r[5]) if r[5] else None)]
        if not rows:
            return []
        oids = [r[0] for r in rows]
        columns: dict[int, list[Column]] = {}
        for relid, name, native, notnull, typname, category in self._query(_COLUMNS_SQL, (oids,)):
            columns.setdefault(relid, []).append(ddl.column(name, native, notnull, typname, category))
        primary: dict[int, tuple[str, ...]] = {}
        identity: dict[int, tuple[str, ...]] = {}
        unique: dict[int, list[tuple[str, ...]]] = {}
        for relid, names, is_primary, is_identity in self._query(_INDEXES_SQL, (oids,)):
            if is_primary:
                primary[relid] = tuple(names)
            if is_identity:
                identity[relid] = tuple(names)
            unique.setdefault(relid, []).append(tuple(names))
        schemas = []
        for oid, schema, name, estimate, _root_schema, _root_name, ident in rows:
            key = primary.get(oid) or identity.get(oid, ())
            others = tuple(dict.fromkeys(u for u in unique.get(oid, ()) if u != key))
            schemas.append(TableSchema(TableId(schema, name), tuple(columns.get(oid, ())), key, "postgres",
                                       self._estimate(schema, name, estimate), others,
                                       full_row=not key and ident == "f"))
        return schemas

    def advice(self, cdc: bool) -> list[str]:
        return ddl.advice(self._query, self.ep) if cdc else []

    def server(self) -> dict[str, str]:
        (version,), = self._query("SHOW server_version")
        return {"EngineVersion": version}

    def table_bytes(self, tables: Sequence[TableId]) -> dict[TableId, int]:
        if not tables:
            return {}
        names = [qualified(t.schema, t.name) for t in tables]
        sizes = self._query("SELECT n, pg_total_relation_size(n::regclass) FROM unnest(%s::text[]) n", (names,))
        return dict(zip(tables, (size for _, size in sizes), strict=True))

    def sequences(self, tables: Sequence[TableSchema]) -> list[SequenceValue]:
        return source_sequences(self._query, tables)

    def schema_objects(self, tables: Sequence[TableSchema]) -> list[SchemaObject]:
        return source_objects(self._query, tables)

    def largest_values(self, table: TableSchema, columns: Sequence[str]) -> dict[str, int]:
        if not columns:
            return {}
        as_text = {c.name: "" if c.native == "bytea" else "::text" for c in table.columns}
        sizes = ", ".join(f"coalesce(max(octet_length({quote_ident(c)}{as_text.get(c, '::text')})), 0)"
                          for c in columns)
        (row,) = self._query(f"SELECT {sizes} FROM {qualified(table.table.schema, table.table.name)}")
        return dict(zip(columns, row, strict=True))

    def _estimate(self, schema: str, name: str, reltuples: int) -> int:
        """pg_class.reltuples, or for a table never analyzed (-1) the planner's guess from its size."""
        if reltuples >= 0:
            return reltuples
        (plan,), = self._query(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {qualified(schema, name)}")
        plan = plan[0] if isinstance(plan, list) else plan
        return int(plan["Plan"]["Plan Rows"])

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        keyless = [t.table for t in tables if not t.key and not t.full_row]
        if keyless:
            fix = "; ".join(f"ALTER TABLE {qualified(t.schema, t.name)} REPLICA IDENTITY FULL" for t in keyless[:3])
            raise ConfigError(
                f"table(s) {', '.join(map(str, keyless))} have no primary key and no REPLICA IDENTITY FULL, so "
                f"their updates and deletes cannot be replicated: run {fix}{'; ...' if len(keyless) > 3 else ''} "
                "(rows are then matched on all their columns, as PostgreSQL's own replication does; a "
                "define-primary-key transformation rule can also key the target on columns that identify a row), "
                "add a primary key, or exclude them with a selection rule"
            )
        name, slot = self._publication(task), self._slot(task)
        # DDL reaches the stream as rows of the task's audit table, which the publication lists too.
        audit = [ddl.audit_table(self.ep, task)] if ddl.install(self._query, self.ep, task, name) else []
        table_list = ", ".join([*(qualified(t.table.schema, t.table.name) for t in tables), *audit])
        # The publication must exist before the slot: pgoutput reads it as of each change's time.
        if self.ep.extra.get("publicationName"):
            if not self._query("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)):
                raise ConfigError(f"publication {name!r} named by the endpoint's publicationName does not exist "
                                  f"on {self.ep.where()}: create it or remove publicationName")
            if audit:
                ddl.publish(self._query, name, audit[0])
        elif self._query("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)):
            self._query(f"ALTER PUBLICATION {quote_ident(name)} SET TABLE {table_list}")
        else:
            self._query(f"CREATE PUBLICATION {quote_ident(name)} FOR TABLE {table_list}")
        if self.ep.extra.get("slotName"):
            found = self._query("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                                (slot,))
            if not found:
                raise ConfigError(f"slot {slot!r} named by the endpoint's slotName does not exist on {self.ep.where()}")
            lost = self.capture_lost(task)
            if lost:
                raise ConfigError(lost)
            lsn = pgoutput.str_to_lsn(found[0][0])
        else:
            self._drop_slot(slot)  # a slot of an earlier run: capture restarts now
            (text,), = self._query("SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            lsn = pgoutput.str_to_lsn(text)
        return Position(self._log(slot), lsn, 0, pgoutput.lsn_to_str(lsn))

    @staticmethod
    def position_error(text: str) -> str | None:
        return slots.lsn_error(text)

    @classmethod
    def capture_objects(cls, ep: Endpoint, task: str) -> list[tuple[str, str]]:
        return slots.capture_objects(ep, task) + ddl.objects(ep, task)

    def parse_position(self, task: str, text: str) -> Position:
        problem = slots.lsn_error(text)
        if problem:
            raise ConfigError(problem)
        lsn = slots.lsn_of(text)
        return Position(self._log(self._slot(task)), lsn, 0, pgoutput.lsn_to_str(lsn))

    def check_position(self, task: str, position: Position) -> str | None:
        return slots.check_position(self._query, self.ep, task, self._slot(task), position)

    @classmethod
    def whole_rows_cure(cls, table: TableId) -> str:
        return f"run ALTER TABLE {qualified(table.schema, table.name)} REPLICA IDENTITY FULL on the source"

    def capture_lost(self, task: str) -> str | None:
        return slots.capture_lost(self._query, self.ep, task, self._slot(task))

    def retained_log(self, task: str) -> Retained | None:
        return slots.retained(self._query, self.ep, self._slot(task))

    def resume_position(self, task: str) -> Position | None:
        slot = self._slot(task)
        found = self._query("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        if not found or found[0][0] is None:
            return None
        lsn = pgoutput.str_to_lsn(found[0][0])
        return Position(self._log(slot), lsn, 0, pgoutput.lsn_to_str(lsn))

    def leftovers(self, tasks: Iterable[str]) -> list[str]:
        return slots.leftovers(self._query, self.ep, tasks)

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None, at: Callable[[int, str], None] | None = None) -> Iterator[Batch]:
        cols = ", ".join(quote_ident(c) for c in table.column_names)
        order = f" ORDER BY {', '.join(quote_ident(k) for k in table.key)}" if ordered and table.key else ""
        chunk, params = key_range_sql(table.key, [_native(table, k) for k in table.key], within)
        # mogrify reads % as a placeholder, so a % in a filter's column name is doubled
        filters, values = where_clause(where, lambda c: quote_ident(c).replace("%", "%%"), "%s")
        conditions = " AND ".join(c.removeprefix(" WHERE ") for c in (chunk, filters) if c)
        select = f"SELECT {cols} FROM {qualified(table.table.schema, table.table.name)}"
        if conditions:
            with self._conn.cursor() as cur:
                select = cur.mogrify(f"{select} WHERE {conditions}", params + values).decode()
        select += order
        conn = self._exact_snapshot(table, at) if at is not None else None
        if raw == COPY_BINARY:
            return copy_out_binary(self.ep, f"COPY ({select}) TO STDOUT (FORMAT binary)", conn)
        return copy_out(self.ep, f"COPY ({select}) TO STDOUT", batch_rows, row_decoder(table), conn)

    def _exact_snapshot(self, table: TableSchema, at: Callable[[int, str], None]) -> Any:
        """A connection in a transaction whose snapshot holds exactly the table's changes committed before
        the WAL position given to ``at``. A SHARE lock waits for the table's writers to commit and holds new
        ones back for the moment it takes to export the snapshot and read the WAL's insert position: every
        change of the table committed before that position is in the snapshot, every later one is not.
        The COPY's connection imports the snapshot, and the lock goes at once."""
        name = qualified(table.table.schema, table.table.name)
        holder = connect(self.ep)
        try:
            with holder.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute(f"LOCK TABLE {name} IN SHARE MODE")
                cur.execute("SELECT pg_export_snapshot(), pg_current_wal_insert_lsn()::text")
                snapshot, lsn = cur.fetchone()
            conn = connect(self.ep)
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
        except psycopg2.errors.InsufficientPrivilege:
            raise ConfigError(f"loading keyless table {table.table} needs a moment's SHARE lock on it, which user "
                              f"{self.ep.user!r} may not take: GRANT UPDATE ON {name} TO {quote_ident(self.ep.user)}, "
                              "or give the table a primary key") from None
        except psycopg2.Error as exc:
            raise classify(exc, self.ep) from None
        finally:
            holder.close()  # ends its transaction: the lock goes, the imported snapshot stays
        at(pgoutput.str_to_lsn(lsn), lsn)
        return conn
    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        """Equal spans of a single integer key, sized from the planner's row estimate."""
        whole = [KeyRange()]
        if len(table.key) != 1 or _column(table, table.key[0]).type not in ("int2", "int4", "int8"):
            return whole
        name = qualified(table.table.schema, table.table.name)
        key = quote_ident(table.key[0])
        (low, high, estimate), = self._query(
            f"SELECT min({key}), max({key}), (SELECT reltuples FROM pg_class WHERE oid = %s::regclass) FROM {name}",
            (name,))
        if low is None:
            return whole
        rows = estimate if estimate and estimate > 0 else high - low + 1  # never analysed: assume dense keys
        chunks = min(round(rows / rows_per_chunk), high - low + 1)
        if chunks < 2:
            return whole
        span = (high - low + 1) / chunks
        return KeyRange.between([(low - 1 + round(span * i),) for i in range(1, chunks)])

    def stream(self, task: str, start: Position, tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        return _ChangeReader(self, task, start, tables).changes()

    def decode(self, table: TableSchema, change: Change) -> Change:
        """pgoutput's text values -> Python values, each column by its type."""
        if not change.text or change.op is Op.DDL:
            return change
        known = self._decoders.get(table.table)
        if known is None or known[0] is not table:  # new, or its columns changed (DDL)
            # Only the columns whose text is not their value (numbers, bool, bytea): text, dates, JSON and
            # the like stay as they are, and a column unknown to the schema (DDL not captured) stays text.
            known = self._decoders[table.table] = (table, tuple(
                (c.name, fn) for c in table.columns if (fn := decoder_for(c.native or c.type)) is not str))
        decoders = known[1]

        def row(values: Row | None) -> Row | None:
            if values is None:
                return None
            out = dict(values)  # the change read keeps its text: a failed batch is decoded again
            for name, decode in decoders:
                value = out.get(name)
                if value is not None:  # NULL, or an unchanged TOASTed value (absent)
                    out[name] = decode(value)
            return out

        # Made directly: dataclasses.replace looks the fields up again for every change
        return Change(change.table, change.op, change.position, row(change.before), row(change.after),
                      change.commit_time, change.txid, False, change.schema)

    def ack(self, upto: Position) -> None:
        # The stream's own loop sends it, at its next message: the stream may be read on another
        # thread, and one replication connection must not be used by two threads at once.
        self._ack_lsn = max(self._ack_lsn, upto.major)

    def drop_cdc(self, task: str) -> None:
        """Drop the slot and publication the task created; ones named by the endpoint are the user's."""
        name = task_object_name(task)
        if not self.ep.extra.get("slotName"):
            self._drop_slot(name)
        if not self.ep.extra.get("publicationName"):
            self._query(f"DROP PUBLICATION IF EXISTS {quote_ident(name)}")
        ddl.remove(self._query, self.ep, task)

    def _drop_slot(self, slot: str) -> None:
        for _ in range(40):  # a walsender that is still exiting keeps the slot active for a moment
            active = self._query("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            if not active:
                return
            if not active[0][0]:
                self._query("SELECT pg_drop_replication_slot(%s)", (slot,))
                return
            self._query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s",
                        (slot,))
            time.sleep(0.25)
        raise TransientError(f"replication slot {slot!r} on {self.ep.where()} stays in use: try again shortly")

    def close(self) -> None:
        for conn in (self._conn, self._repl and self._repl.conn):
            if conn is not None:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass


class _ChangeReader:
    """pgoutput messages -> Changes in commit order, with heartbeats while the log is idle."""

    IDLE = 0.5  # seconds without a message before a heartbeat, so callers can flush and check stops

    def __init__(self, source: PostgresSource, task: str, start: Position, tables: Sequence[TableSchema]) -> None:
        self.source = source
        self.task = task
        self.start = start
        self.tables = {t.table: t for t in tables}
        self.tracker = ddl.Tracker(source._query, self.tables, (ddl.artifacts_schema(source.ep),
                                                                ddl.names(source.ep, task)[0]))
        self.audit_names: tuple[str, ...] = ()
        self.relations: dict[int, tuple[TableSchema, tuple[str, ...]] | None] = {}  # relid -> (table, columns)
        self.acked = 0  # the flush position last sent to the server

    def changes(self) -> Iterator[Change | Position]:
        src = self.source
        slot = src._slot(self.task)
        lost = src.capture_lost(self.task)
        if lost:
            raise PositionLost(f"{lost}: reload the task with `dms task start {self.task} --type reload-target`")
        (end,), = src._query("SELECT pg_current_wal_insert_lsn()::text")
        if self.start.major > pgoutput.str_to_lsn(end):  # its heartbeats would mark the WAL read up to there
            raise ConfigError(f"CDC start position {self.start.token} is ahead of the end of the WAL on "
                              f"{src.ep.where()} ({end}): start the task again with --type reload-target")
        conn = connect(src.ep, replication=True)
        cur = conn.cursor()
        src._repl = _Repl(conn, cur)
        try:
            cur.start_replication(
                slot_name=slot, decode=False, start_lsn=self.start.major,
                options={"proto_version": "1", "publication_names": src._publication(self.task)},
            )
            yield from self._loop(conn, cur)
        except psycopg2.Error as exc:
            raise classify(exc, src.ep) from None
        finally:
            with contextlib.suppress(psycopg2.Error):
                self._feedback(cur)  # an ack made as the stream closes (the task stops)
            src._repl = None
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def _loop(self, conn: Any, cur: Any) -> Iterator[Change | Position]:
        log = self.start.log
        in_txn = False
        commit_lsn, commit_time, xid, index, token = 0, 0.0, "", 0, ""
        last_end = self.start.major
        quiet_since = time.monotonic()
        source = self.source
        while True:
            if source._ack_lsn != self.acked:
                self._feedback(cur)
            msg = cur.read_message()
            if msg is None:
                if not in_txn and quiet_since is None:  # the quiet starts: from the last message read
                    quiet_since = time.monotonic()
                select.select([conn], [], [], self.IDLE)
                # A heartbeat after IDLE seconds without a change, keepalives or not: while the client's
                # flush position trails, the walsender sends a keepalive on every WAL write of the
                # server (any database), so on a busy server the socket is never quiet for IDLE.
                if not in_txn and quiet_since is not None and time.monotonic() - quiet_since >= self.IDLE:
                    quiet_since = time.monotonic()
                    # wal_end of the last keepalive: everything before it has been sent to us
                    last_end = max(last_end, cur.wal_end or 0)
                    yield Position(log, last_end, 0, pgoutput.lsn_to_str(last_end))
                continue
            quiet_since = None  # a clock read per message would cost more than the message's decoding
            payload = msg.payload
            if payload and payload[0] in pgoutput.ROW_TAGS:  # most messages: read straight into the change's rows
                rid = pgoutput.relid(payload)
                rel = self.relations.get(rid)
                if rel is not None:
                    index += 1
                    yield self._change(rel, payload, Position(log, commit_lsn, index, token), commit_time, xid)
                elif rid == self.tracker.audit_relid:
                    found = self._audit(payload)
                    if found is not None:
                        index += 1
                        yield Change(found[0], Op.DDL, Position(log, commit_lsn, index, token),
                                     after={"columns": list(found[1].schema.column_names if found[1].schema else ())},
                                     commit_time=commit_time, txid=xid, schema=found[1])
                continue
            m = pgoutput.decode(payload)
            kind = type(m)
            if kind is pgoutput.Begin:
                in_txn, commit_lsn, commit_time, xid, index = True, m.final_lsn, m.commit_time, str(m.xid), 0
                token = pgoutput.lsn_to_str(commit_lsn)
            elif kind is pgoutput.Commit:
                in_txn = False
                last_end = max(last_end, m.end_lsn)
                # The transaction is whole: a bare Position here lets the caller apply up to it.
                yield Position(log, commit_lsn, index, token)
            elif kind is pgoutput.Relation:
                drift = self._relation(m)
                if drift is not None:
                    index += 1
                    pos = Position(log, commit_lsn, index, token)
                    yield Change(drift.schema.table, Op.DDL, pos, after={"columns": list(drift.schema.column_names)},
                                 commit_time=commit_time, txid=xid, schema=drift)
            elif kind is pgoutput.Truncate:
                for relid in m.relids:
                    rel = self.relations.get(relid)
                    if rel is not None:
                        index += 1
                        pos = Position(log, commit_lsn, index, token)
                        yield Change(rel[0].table, Op.TRUNCATE, pos, commit_time=commit_time, txid=xid, text=True)

    def _feedback(self, cur: Any) -> None:
        """Send the source's latest acknowledgement, if it is new."""
        if self.source._ack_lsn != self.acked:
            self.acked = self.source._ack_lsn
            # Without force, psycopg2 holds the feedback until its status_interval (10 s) is up, and
            # the last one of a stopped task never reached the server.
            cur.send_feedback(flush_lsn=self.acked, force=True)

    def _relation(self, m: Any) -> SchemaChange | None:
        """Learn a relation; return the change when its columns differ from what the audit rows said (DDL
        without the event trigger)."""
        names = tuple(c.name for c in m.columns)
        if self.tracker.is_audit(m.schema, m.name):
            self.tracker.audit_relid, self.audit_names = m.relid, names
        schema = self.tables.get(TableId(m.schema, m.name))
        if schema is None:
            self.relations[m.relid] = None
            return None
        drift = None
        if names != schema.column_names:
            drift = self.tracker.drifted(schema, names, [(c.type_oid, c.type_mod) for c in m.columns])
            schema = drift.schema
        self.relations[m.relid] = (schema, names)
        return drift

    def _audit(self, payload: bytes) -> tuple[TableId, SchemaChange] | None:
        tag, _, _, row = pgoutput.row_change(payload, self.audit_names)
        return self.tracker.read(row) if tag == ord("I") and row else None

    @staticmethod
    def _change(rel: Any, payload: bytes, pos: Position, commit_time: float, xid: str) -> Change:
        # Values stay pgoutput's text: a PostgreSQL target copies them as they are (Change.text).
        schema, names = rel
        tag, old, old_is_key, new = pgoutput.row_change(payload, names)
        if old is not None and old_is_key:
            old = {k: old.get(k) for k in schema.key}
        op = _OPS[tag]
        return Change(schema.table, op, pos, old, new, commit_time, xid, True)


class _Repl:
    __slots__ = ("conn", "cursor_")

    def __init__(self, conn: Any, cursor: Any) -> None:
        self.conn, self.cursor_ = conn, cursor
