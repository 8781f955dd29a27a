"""Binlog events -> Changes and transaction boundaries (no connection: driven by capture.py's reader, and by
tests/unit/test_mysql_binlog.py with events made by hand).

A transaction in the binlog is a GTID event (MariaDB: its own GTID event, which replaces BEGIN; MySQL: a
GTID event then a ``BEGIN`` query), its table maps and row events, and an XID event (or a ``COMMIT`` query
for a non-transactional engine). A statement outside BEGIN..COMMIT (DDL, ``TRUNCATE``) is a transaction of its
own. Each change's position is its transaction's start with the change's number in it (logpos.py); the
transaction's end is sent as a bare Position once all its changes went, and a heartbeat (minor 0) at the
offset after it when nothing of ours was in it and the caller asks (``idle``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.base import Change, Op, Position, TableId, TableSchema

from . import ddl, logpos
from .values import row_converter

_BEGIN = {"BEGIN", "START TRANSACTION"}
_COMMIT = {"COMMIT"}


def truncated(schema: str, sql: str) -> TableId | None:
    """The table a TRUNCATE statement empties (its database, else the statement's current one), or None."""
    stmt = ddl.recognise(schema, sql)
    return stmt.tables[0][0] if stmt is not None and stmt.kind is None else None


class _Table:
    """A selected table as the binlog shows it: its schema, its columns in the log's order, how to convert."""

    __slots__ = ("schema", "names", "index", "convert", "drift")

    def __init__(self, schema: TableSchema, names: tuple[str, ...]) -> None:
        self.schema = schema
        self.names = names
        by_name = {c.name: c for c in schema.columns}
        self.drift = names != schema.column_names
        # only the plan's columns (a projection), in the plan's order, converted as its columns say
        self.index = [names.index(c.name) for c in schema.columns if c.name in names]
        kept = tuple(by_name[names[i]] for i in self.index)
        self.convert = row_converter(kept, log=True)


class Assembler:
    """Feeds on the reader's events in log order and returns what to send: Changes and boundaries."""

    def __init__(self, log: str, tables: Sequence[TableSchema], start: Position,
                 follower: ddl.Follower | None = None) -> None:
        self.log = log
        self.follower = follower  # None: DDL is not followed (a TRUNCATE still is)
        self.tables: dict[tuple[str, str], TableSchema] = {(t.table.schema, t.table.name): t for t in tables}
        self.known: dict[tuple[str, tuple[str, ...]], _Table] = {}
        self.file, offset = logpos.where(start)
        self.end = offset  # where the next event starts (the offset after the last one read)
        self.in_txn = False
        self.start = start.major  # the open transaction's major
        self.count = 0  # changes sent of the open transaction
        self.gtid: str | None = None
        self.commit_time: float | None = None
        self.sent_end = start.major  # the last boundary or heartbeat sent

    # -- where we are ----------------------------------------------------------------------------

    def rotate(self, file: str, offset: int) -> None:
        """The log goes on in another file (a rotate event, real or the one a dump starts with)."""
        self.file, self.end = file, offset

    def moved(self, end: int) -> None:
        """The event just read ends at ``end`` in the current file."""
        if end:
            self.end = end

    def here(self) -> int:
        return logpos.major(self.file, self.end)

    # -- transactions ----------------------------------------------------------------------------

    def begin(self, event_start: int, gtid: str | None = None, when: float | None = None) -> None:
        """A GTID event or a BEGIN query starting at ``event_start`` in the current file."""
        if self.in_txn and gtid is None:  # MySQL's BEGIN after its GTID event: the same transaction
            return
        self.in_txn = True
        self.start = logpos.major(self.file, event_start)
        self.count = 0
        self.gtid = gtid
        self.commit_time = when

    def commit(self) -> list[Change | Position]:
        """An XID event or a COMMIT query (the caller has called ``moved`` with its end)."""
        return self._close()

    def _close(self) -> list[Change | Position]:
        self.in_txn = False
        self.gtid = None
        if self.count:
            self.sent_end = self.start
            return [Position(self.log, self.start, self.count, self._token(self.start))]
        return []

    def idle(self) -> list[Position]:
        """A heartbeat at where the next transaction starts (again and again while the log is quiet: callers
        check for stops at each), unless inside a transaction."""
        if self.in_txn:
            return []
        self.sent_end = self.here()
        return [Position(self.log, self.sent_end, 0, logpos.token(self.file, self.end))]

    def _token(self, major: int) -> str:
        return logpos.token(logpos.file_of(self.log, major), logpos.offset_of(major))

    def _position(self) -> Position:
        self.count += 1
        return Position(self.log, self.start, self.count, self._token(self.start))

    # -- statements and rows ---------------------------------------------------------------------

    def query(self, event_start: int, schema: str, sql: str, when: float | None = None) -> list[Change | Position]:
        """A query event: BEGIN, COMMIT, or a statement (DDL, TRUNCATE) that is a transaction of its own."""
        word = sql.strip().upper()
        if word in _BEGIN:
            self.begin(event_start, None, when)
            return []
        if word in _COMMIT:
            return self.commit()
        if not self.in_txn:  # DDL of MySQL without GTIDs: no GTID event came first
            self.begin(event_start, None, when)
        out: list[Change | Position] = []
        stmt = ddl.recognise(schema, sql)
        if stmt is not None and stmt.kind is None:
            table = stmt.tables[0][0]
            if (table.schema, table.name) in self.tables:
                out.append(Change(table, Op.TRUNCATE, self._position(), commit_time=self.commit_time, txid=self.gtid))
        elif stmt is not None and self.follower is not None:
            for table, change in self.follower.changes(self.tables, stmt, sql, (self.file, self.end)):
                self.known.clear()  # row events are read by the tables' new plans from here on
                columns = list(change.schema.column_names) if change.schema is not None else []
                out.append(Change(table, Op.DDL, self._position(), after={"columns": columns},
                                  commit_time=self.commit_time, txid=self.gtid, schema=change))
        out.extend(self._close())
        return out

    def rows(self, schema: str, name: str, op: Op, names: tuple[str, ...], rows: Sequence[Mapping[str, Any]],
             when: float | None = None) -> list[Change]:
        """One row event's rows (mysql-replication's dicts: ``values`` or ``before_values``/``after_values``)."""
        plan = self.tables.get((schema, name))
        if plan is None:
            return []
        if not self.in_txn:  # rows without a GTID or BEGIN event first (never from a server; be safe)
            self.begin(self.end, None, when)
        if self.commit_time is None:
            self.commit_time = when
        table = self.known.get((f"{schema}.{name}", names))
        out: list[Change] = []
        if table is None:
            table = self.known[(f"{schema}.{name}", names)] = _Table(plan, names)
            if table.drift:  # the table's columns changed on the source since the plan
                out.append(Change(plan.table, Op.DDL, self._position(), after={"columns": list(names)},
                                  commit_time=self.commit_time, txid=self.gtid))
        image = _image(table)
        for row in rows:
            if op is Op.UPDATE:
                before, after = image(row["before_values"], row.get("before_none_sources")), \
                    image(row["after_values"], row.get("after_none_sources"))
            elif op is Op.INSERT:
                before, after = None, image(row["values"], row.get("none_sources"))
            else:
                before, after = image(row["values"], row.get("none_sources")), None
            out.append(Change(plan.table, op, self._position(), before, after, self.commit_time, self.gtid))
        return out


def _image(table: _Table) -> Callable[[Mapping[str, Any], Mapping[str, str] | None], dict[str, Any]]:
    names = [table.names[i] for i in table.index]
    convert = table.convert

    def image(values: Mapping[str, Any], nones: Mapping[str, str] | None) -> dict[str, Any]:
        raw = tuple(values.get(n) for n in names)
        if nones:  # an empty SET is '' (mysql-replication gives None for it)
            raw = tuple("" if v is None and nones.get(n) == "empty set" else v for n, v in zip(names, raw, strict=True))
        return dict(zip(names, convert(raw), strict=True))
    return image
