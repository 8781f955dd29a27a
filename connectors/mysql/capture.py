"""Change capture from the binlog: what the server must be set to, where a snapshot stands in the log, and the
reader that turns the binlog (mysql-replication's events) into Changes and boundaries (events.py).

Nothing is created on the source for a task: the binlog is the server's own, kept for ``binlog_expire_logs_seconds``
(``expire_logs_days``) whatever any reader does. So a task resumes from the position its target acknowledged,
as long as the server still has that file; a purged one is PositionLost.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    FormatDescriptionEvent,
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from connectors.base import Change, Endpoint, Op, Position, TableId, TableSchema
from connectors.errors import ConfigError, DmsError, PositionLost

from . import ddl, logpos
from .classify import classify
from .events import Assembler
from .rowread import OPERATIONAL_ERRORS

Query = Callable[..., list[tuple]]
IDLE = 0.5  # seconds without a transaction of ours before a heartbeat (the server sends its own as often)
RETENTION_ADVISED = 24 * 3600  # DMS's advice: keep binlogs a day at least


@dataclass(frozen=True, slots=True)
class Server:
    """The server's binlog settings, read once."""

    log_bin: bool
    format: str
    row_image: str
    row_metadata: str  # "" where the server has no such setting (before MariaDB 10.5, MySQL 8.0.1)
    server: str  # server_uuid (MySQL), else server_id
    basename: str  # of the binlog files: mysql-bin for mysql-bin.000001
    retention: int  # seconds the server keeps binlogs (0: for ever)
    mariadb: bool

    @property
    def log(self) -> str:
        return logpos.log_id(self.server, self.basename)

    @classmethod
    def read(cls, query: Query, ep: Endpoint) -> Server:
        values = {name.lower(): value for name, value in query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', "
            "'binlog_row_metadata', 'server_id', 'server_uuid', 'log_bin_basename', 'expire_logs_days', "
            "'binlog_expire_logs_seconds', 'version')")}
        seconds = int(float(values.get("binlog_expire_logs_seconds") or 0))
        days = float(values.get("expire_logs_days") or 0)
        retention = seconds or int(days * 86400)
        basename = (values.get("log_bin_basename") or "").rsplit("/", 1)[-1]
        return cls(values.get("log_bin", "OFF").upper() in ("ON", "1"), values.get("binlog_format", "").upper(),
                   values.get("binlog_row_image", "").upper(), values.get("binlog_row_metadata", "").upper(),
                   values.get("server_uuid") or str(values.get("server_id", "")), basename, retention,
                   "mariadb" in str(values.get("version", "")).lower())

    def current(self, query: Query) -> Position:
        """The end of the binlog now: where the next transaction will start."""
        file, offset = _status(query)
        return logpos.position(self.log, file, offset)


def _status(query: Query) -> tuple[str, int]:
    rows = query("SHOW MASTER STATUS")
    if not rows:
        raise ConfigError("the source server writes no binlog: start it with log_bin (and binlog_format=ROW)")
    return rows[0][0], int(rows[0][1])


def problems(query: Query, ep: Endpoint, server: Server) -> list[str]:
    """Why the binlog cannot serve CDC, one line per setting to change (empty: ready)."""
    where = ep.where()
    if not server.log_bin:
        return [f"the binlog is off on {where}: start the server with log_bin (log-bin=mysql-bin), binlog_format=ROW "
                "and binlog_row_image=FULL (needed for CDC)"]
    out = []
    if server.format != "ROW":
        out.append(f"binlog_format is {server.format} on {where}: set binlog_format=ROW (SET GLOBAL binlog_format="
                   "'ROW' and in the server's config; needed for CDC)")
    if server.row_image != "FULL":
        out.append(f"binlog_row_image is {server.row_image} on {where}: set binlog_row_image=FULL (needed for CDC: "
                   "updates and deletes must log whole rows)")
    if server.row_metadata not in ("", "FULL"):
        out.append(f"binlog_row_metadata is {server.row_metadata} on {where}: set binlog_row_metadata=FULL (needed "
                   "for CDC: row events must name their columns and ENUM/SET members)")
    grants = " ".join(str(g[0]).upper() for g in query("SHOW GRANTS"))
    everything = "ALL PRIVILEGES ON *.*" in grants
    missing = [p for p, spellings in (("REPLICATION SLAVE", ("REPLICATION SLAVE", "REPLICATION REPLICA")),
                                      ("REPLICATION CLIENT", ("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER")))
               if not everything and not any(s in grants for s in spellings)]
    if missing:
        out.append(f"user {ep.user!r} on {where} may not read the binlog: GRANT {', '.join(missing)} ON *.* TO "
                   f"{ep.user!r} (needed for CDC)")
    return out


def retention_warning(ep: Endpoint, server: Server) -> str | None:
    """A line when the server purges binlogs sooner than a stopped task may wait to resume (DMS advises a day)."""
    if not server.log_bin or server.retention == 0 or server.retention >= RETENTION_ADVISED:
        return None
    setting = "binlog_expire_logs_seconds"
    return (f"{ep.where()} purges binlogs after {server.retention / 3600:g} h ({setting}): a task stopped longer "
            f"cannot resume and must reload; set {setting} to {RETENTION_ADVISED} or more")


def check_position(query: Query, ep: Endpoint, server: Server, position: Position) -> str | None:
    """Why capture cannot start at ``position``: its file purged, or beyond the binlog's end."""
    file, offset = logpos.where(position)
    files = {name: int(size) for name, size, *_ in query("SHOW BINARY LOGS")}
    last = max(files, key=logpos.file_number) if files else file
    if file in files and offset <= files[file] or not files:
        return None
    if file in files or logpos.file_number(file) > logpos.file_number(last):
        return (f"CDC start position {position.token} is ahead of the end of the binlog on {ep.where()} "
                f"({last}:{files.get(last, 0)}): give a position at or before it (SHOW MASTER STATUS)")
    first = min(files, key=logpos.file_number)
    return (f"binlog file {file} of position {position.token} is no longer on {ep.where()} (oldest: {first}; "
            f"purged after binlog_expire_logs_seconds): reload the task, and keep binlogs longer")


def snapshot_position(cur: Any, ep: Endpoint, table: TableId) -> tuple[str, int]:
    """Start a consistent-snapshot transaction on ``cur`` and return the binlog position it stands at: every
    transaction committed before it is in the snapshot, none after. MariaDB says so itself
    (binlog_snapshot_file/position); MySQL needs a moment's global read lock around the snapshot's start."""
    cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%%'")
    if cur.fetchall():
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%%'")
        status = {name.lower(): value for name, value in cur.fetchall()}
        return status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
    try:
        cur.execute("FLUSH TABLES WITH READ LOCK")
    except OPERATIONAL_ERRORS as exc:  # either driver's (rowread.py)
        raise ConfigError(f"loading keyless table {table} needs a moment's global read lock, which user {ep.user!r} "
                          f"may not take on {ep.where()}: GRANT RELOAD ON *.* TO {ep.user!r}, or give the table a "
                          "primary key") from exc
    try:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cur.execute("SHOW MASTER STATUS")
        file, offset = cur.fetchone()[:2]
    finally:
        cur.execute("UNLOCK TABLES")
    return file, int(offset)


def reader_id(task: str, database: str) -> int:
    """The server id this task's reader registers with: a server drops an earlier reader of the same id, so each
    task has its own (stable, so a restarted task replaces its own old connection). The database is part of it:
    tasks of one name from two installations (or the tests' parallel processes) on one server keep apart."""
    return 1_000_000 + zlib.crc32(f"{database}/{task}".encode()) % 3_000_000_000


_ROWS = {WriteRowsEvent: Op.INSERT, UpdateRowsEvent: Op.UPDATE, DeleteRowsEvent: Op.DELETE}
_EVENTS = [*_ROWS, GtidEvent, MariadbGtidEvent, QueryEvent, XidEvent, RotateEvent, FormatDescriptionEvent,
           HeartbeatLogEvent]


class Reader:
    """The binlog from a position on, as Changes and boundaries, with heartbeats while it is idle."""

    def __init__(self, ep: Endpoint, server: Server, task: str, start: Position, tables: Sequence[TableSchema],
                 query: Query, catalog: ddl.Catalog | None = None) -> None:
        self.ep, self.server, self.task, self.start = ep, server, task, start
        self.tables = list(tables)
        self.query = query
        self.catalog = catalog  # None: DDL is not followed

    def changes(self) -> Iterator[Change | Position]:
        where = self.ep.where()
        problem = problems(self.query, self.ep, self.server)
        if problem:
            raise ConfigError("; ".join(problem))
        if self.start.log != self.server.log:
            raise PositionLost(f"position {self.start.token} is of another binlog ({self.start.log}) than {where}'s "
                               f"({self.server.log}): reload the task with `dms task start {self.task} --type "
                               "reload-target`")
        lost = check_position(self.query, self.ep, self.server, self.start)
        if lost:
            raise PositionLost(f"{lost}: `dms task start {self.task} --type reload-target`")
        file, offset = logpos.where(self.start)
        settings = _settings(self.ep)
        # The reader keeps these lists (not copies) and looks in them at each table map: a table that joins
        # (created, renamed) is added to them when its DDL is read, before its first rows.
        schemas, names = sorted({t.table.schema for t in self.tables}), sorted({t.table.name for t in self.tables})
        reader = BinLogStreamReader(
            settings, server_id=reader_id(self.task, self.ep.database), log_file=file, log_pos=offset,
            resume_stream=True, blocking=True, slave_heartbeat=IDLE, only_events=_EVENTS, enable_logging=False,
            only_schemas=schemas, only_tables=names)

        def follow(table: TableId) -> None:
            for names_of, name in ((schemas, table.schema), (names, table.name)):
                if name not in names_of:
                    names_of.append(name)
        # A table created in the endpoint's database joins (or, with none named, in a database of the task's
        # tables): not one a target makes in another database of the same server.
        databases = {self.ep.database} if self.ep.database else {t.table.schema for t in self.tables}
        follower = ddl.Follower(self.catalog, follow, databases) if self.catalog is not None else None
        try:
            yield from self._loop(reader, Assembler(self.server.log, self.tables, self.start, follower))
        except pymysql.Error as exc:
            raise _lost(exc, self.ep, self.task) from None
        finally:
            reader.close()

    def _loop(self, reader: BinLogStreamReader, asm: Assembler) -> Iterator[Change | Position]:
        last_sent = time.monotonic()
        for event in reader:
            kind = type(event)
            packet = event.packet
            end = packet.log_pos
            if kind is RotateEvent:
                asm.rotate(event.next_binlog, event.position)
                continue
            asm.moved(end)
            begins = end - packet.event_size
            op = _ROWS.get(kind)
            if op is not None:
                rows = asm.rows(event.schema, event.table, op, tuple(c.name for c in event.columns), event.rows,
                                event.timestamp)
                yield from rows
                continue
            if kind is XidEvent:
                out: list[Change | Position] = asm.commit()
            elif kind is GtidEvent or kind is MariadbGtidEvent:
                asm.begin(begins, event.gtid, event.timestamp)
                continue
            elif kind is QueryEvent:
                schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                out = asm.query(begins, schema, event.query, event.timestamp)
            elif kind is HeartbeatLogEvent:
                out = list(asm.idle())
            else:
                continue
            now = time.monotonic()
            if not out and now - last_sent >= IDLE:  # others' transactions only: say how far the log was read
                out = list(asm.idle())
            if out:
                last_sent = now
                yield from out


def _settings(ep: Endpoint) -> dict[str, Any]:
    return {"host": ep.host, "port": ep.port, "user": ep.user, "password": ep.password, "charset": "utf8mb4"}


def table_map_names(ep: Endpoint, task: str, database: str, where: tuple[str, int]) -> tuple[str, ...] | None:
    """The column names of the table map event at ``where`` (file, offset): a table's columns at that point of
    the binlog (ddl.py). A dump of its own, under another server id than the task's reader (a server drops a
    reader whose id another one takes)."""
    file, offset = where
    own_id = 4_100_000_000 + zlib.crc32(f"{database}/{task}/ddl".encode()) % 190_000_000
    reader = BinLogStreamReader(_settings(ep), server_id=own_id, log_file=file, log_pos=offset, resume_stream=True,
                                blocking=False, only_events=[TableMapEvent], enable_logging=False)
    try:
        for event in reader:
            names = tuple(c.name for c in event.columns)
            return names if all(names) else None  # no names: binlog_row_metadata is not FULL
        return None
    except pymysql.Error as exc:
        raise _lost(exc, ep, task) from None
    finally:
        reader.close()


def _lost(exc: pymysql.Error, ep: Endpoint, task: str) -> DmsError:
    """The binlog dump's errors: a purged or unknown position is PositionLost, the rest as any other error."""
    code = exc.args[0] if exc.args else 0
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code == 1236:  # ER_MASTER_FATAL_ERROR_READING_BINLOG: the file is gone, or the position is not an event's
        return PositionLost(f"{ep.where()} cannot send the binlog from the task's position ({text}): reload the task "
                            f"with `dms task start {task} --type reload-target`, and keep binlogs longer "
                            "(binlog_expire_logs_seconds)")
    if code in (1227, 1045, 1044):
        return ConfigError(f"user {ep.user!r} may not read the binlog of {ep.where()} ({text}): GRANT REPLICATION "
                           f"SLAVE, REPLICATION CLIENT ON *.* TO {ep.user!r}")
    return classify(exc, ep)


