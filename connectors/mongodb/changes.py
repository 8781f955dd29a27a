"""Change data capture from MongoDB change streams: one stream per followed collection, merged by cluster time,
with the collections' life (created, dropped, renamed, the database dropped) as schema changes in the stream.

What a server says and how it becomes a change (connectors/ddl.py):

- ``drop`` (and ``dropDatabase``: every followed collection of the database): ``TableDdl.DROP``; the worker
  follows HandleSourceTableDropped. mongo-java-server sends a drop without its namespace, to every
  collection's stream: the oplog entry at its cluster time names the collection.
- ``rename``: ``TableDdl.RENAME`` to the collection's new name (its new stream starts at the rename).
- ``invalidate`` after a drop or rename we followed: the end of that stream. Any other invalidate: the
  stream starts again after it (``startAfter``), so it never ends replication without a word.
- A new collection: found by listing the databases' collections on every turn (every server version has
  that; a database-wide ``create`` event needs MongoDB 6 and ``showExpandedEvents``, and mongo-java-server
  has neither): ``TableDdl.CREATE``, then its documents from its own stream. Only changes before the
  cluster time read before the listing leave the reader, so a collection the listing finds is opened at
  the time of the previous listing, before any of its changes; its creation goes out just before its first
  change (an empty collection is created on the target with its first document). The first listing counts
  every collection not followed as created at the stream's start (it may have been made during the full
  load): the worker creates those its rules select and ignores the others (whose streams stay open: a cost
  per collection).
- A followed collection gone from the listing with neither a drop nor a rename in its stream by the next
  turn (mongo-java-server neither logs nor reports a rename): the stream stops with one line, rather
  than lose what the collection holds now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from connectors.base import DOC_ID, Change, Op, Position, TableId, TableSchema
from connectors.ddl import SchemaChange, TableDdl
from connectors.errors import DataError

from .values import id_text

log = structlog.get_logger(__name__)

POLL = 0.2  # seconds between turns on idle change streams
LOG = "oplog"
ROWS = ("insert", "update", "replace")
DDLS = ("drop", "rename", "dropDatabase", "invalidate")


def major_of(seconds: int, increment: int) -> int:
    """A cluster time (seconds, increment) as one ordered integer."""
    return (seconds << 32) | increment


def position(seconds: int, increment: int, minor: int = 0, token: str = "") -> Position:
    """A position at a cluster time; its token is the time as T.I, then :RESUMETOKEN when a change has one."""
    spelled = f"{seconds}.{increment}" + (f":{token}" if token else "")
    return Position(LOG, major_of(seconds, increment), minor, spelled)


class ChangeReader:
    """The merged change streams of a task's collections from a position, as changes and positions."""

    def __init__(self, client: Any, settings: dict[str, Any], database: str,
                 describe: Callable[[TableId], TableSchema], row: Callable[[dict, TableSchema], dict]) -> None:
        self.client, self.settings, self.database = client, settings, database
        self.describe, self.row = describe, row
        self.tables: dict[TableId, TableSchema] = {}
        self.streams: dict[TableId, Any] = {}
        self.listed: dict[str, set[str]] = {}  # database -> collections at the last listing
        self.missing: dict[TableId, int] = {}  # followed, gone from a listing: the turns since, with no event
        self.held: list[tuple[tuple, Change]] = []  # read, not yet given out (at or after the watermark)
        self.pending: dict[TableId, tuple] = {}  # found by the last listing, created at or after this time
        self.unborn: set[TableId] = set()  # new collections whose creation goes out with their first change

    # -- streams ---------------------------------------------------------------------------------

    def _open(self, table: TableId, at: Position | None = None, after: dict | None = None,
              stamp: Any = None) -> None:
        """The collection's stream: after a resume token (``after``: startAfter), at a cluster time
        (``stamp``: inclusive, what was given out is skipped), or from a task position ``at`` (its resume
        token when it is this collection's only, else its cluster time)."""
        from bson import Timestamp

        options: dict[str, Any] = {"full_document": "updateLookup" if self.settings["UseUpdateLookUp"] else None}
        if after is not None:
            options["start_after"] = after
        elif stamp is not None:
            options["start_at_operation_time"] = stamp
        else:
            assert at is not None
            _, _, token = at.token.partition(":")
            if token and len(self.tables) == 1:
                options["resume_after"] = {"_data": token}
            else:
                options["start_at_operation_time"] = Timestamp(at.major >> 32, at.major & 0xFFFFFFFF)
        self.streams[table] = self.client[table.schema][table.name].watch(**options)

    def _close(self, table: TableId) -> None:
        stream = self.streams.pop(table, None)
        if stream is not None:
            stream.close()

    def _databases(self) -> list[str]:
        return [self.database] if self.database else sorted({t.schema for t in self.tables})

    def _list(self) -> dict[str, set[str]]:
        return {db: {n for n in self.client[db].list_collection_names() if not n.startswith("system.")}
                for db in self._databases()}

    def _now(self) -> Any:
        """The server's operation time: every change at or after it is still to come."""
        return self.client.admin.command("ping").get("operationTime")

    # -- the loop --------------------------------------------------------------------------------

    def changes(self, start: Position, tables: dict[TableId, TableSchema]) -> Iterator[Change | Position]:
        self.tables = dict(tables)
        for table in self.tables:
            self._open(table, start)
        from bson import Timestamp

        # Every collection not followed yet counts as created at the start (during the full load, say):
        # those the rules select the worker creates, the others it leaves.
        mark = Timestamp(start.major >> 32, start.major & 0xFFFFFFFF)
        self.listed = {}
        last = start
        while True:
            now = self._now()
            listed = self._list()
            for table in list(self.streams):
                while (stream := self.streams.get(table)) is not None and (event := stream.try_next()) is not None:
                    self._hold(table, event)
            self._confirm()
            self._discover(listed, mark)
            self._vanished(listed)
            self.listed = listed
            bound = (now.time, now.inc, 0) if now is not None else (1 << 62, 0, 0)
            if self.pending:  # new collections, maybe a rename's new name: nothing after them goes out yet
                bound = min(bound, min(self.pending.values()))
            self.held.sort(key=lambda item: item[0])
            ready = [c for k, c in self.held if k < bound]
            self.held = [(k, c) for k, c in self.held if not k < bound]
            given = False
            for change in ready:
                if change.position > last:
                    last, given = change.position, True
                    yield change
                    yield change.position
            if now is not None:
                mark = now
            if not given:
                after = last.major + 1
                yield position(after >> 32, after & 0xFFFFFFFF)
                time.sleep(POLL)

    def _discover(self, listed: dict[str, set[str]], mark: Any) -> None:
        """Collections new since the last listing, created at or after ``mark``: their streams open there, and
        their creation waits a turn (all changes before the listing read by then) for a rename naming them."""
        if mark is None:  # a server without operation times: new collections are not followed
            return
        for db, names in listed.items():
            for name in sorted(names - self.listed.get(db, set())):
                table = TableId(db, name)
                if table in self.tables:
                    continue  # its rename, met in the stream, opened it
                self.tables[table] = self.describe(table)
                self._open(table, stamp=mark)
                self.pending[table] = (mark.time, mark.inc, 0)

    def _confirm(self) -> None:
        """Collections found by the last listing that no rename named (it would be read by now): new, their
        creation sent before their first change."""
        self.unborn.update(self.pending)
        self.pending.clear()

    def _born(self, table: TableId, key: tuple) -> None:
        """The creation of a new collection, just before its first change (at ``key``)."""
        self.unborn.discard(table)
        self.pending.pop(table, None)
        schema = self.tables[table]
        log.info("collection_created", table=str(table))
        self.held.append(((key[0], key[1], 0), Change(
            table, Op.DDL, position(key[0], key[1], 0), after={"columns": list(schema.column_names)},
            commit_time=float(key[0]), schema=SchemaChange(TableDdl.CREATE, schema, f"create collection {table}"))))

    def _vanished(self, listed: dict[str, set[str]]) -> None:
        """A followed collection gone from two listings with no drop or rename read: the stream stops."""
        for table in list(self.tables):
            if table.name in listed.get(table.schema, {table.name}):
                self.missing.pop(table, None)
                continue
            self.missing[table] = self.missing.get(table, 0) + 1
            if self.missing[table] > 1:
                raise DataError(
                    f"collection {table} is gone from the source with neither a drop nor a rename in its change "
                    "stream (this server does not report renames): if it was renamed, reload the task "
                    "(`dms task start --type reload-target`); a real MongoDB replica set reports both")

    # -- events ----------------------------------------------------------------------------------

    def _hold(self, stream_of: TableId, event: dict) -> None:
        kind = event.get("operationType")
        stamp = event["clusterTime"]
        key = (stamp.time, stamp.inc, 1)
        at = position(stamp.time, stamp.inc, 1, (event.get("_id") or {}).get("_data", ""))
        ns = event.get("ns") or {}
        table = TableId(ns.get("db", stream_of.schema), ns["coll"]) if "coll" in ns else stream_of
        if kind == "drop" and "coll" not in ns:
            table = self._dropped(stamp) or stream_of
        if kind in DDLS:
            self._ddl(stream_of, table, kind, event, key, at)
            return
        schema = self.tables.get(table)
        if schema is None:
            return
        if table in self.unborn or table in self.pending:
            self._born(table, key)
        when = float(stamp.time)
        if kind in ROWS:
            doc = event.get("fullDocument")
            if doc is None:  # deleted since: the delete follows in the stream
                return
            row = self.row(doc, schema)
            op = Op.INSERT if kind == "insert" else Op.UPDATE
            self.held.append((key, Change(table, op, at, {DOC_ID: row[DOC_ID]} if op is Op.UPDATE else None,
                                          row, when)))
        elif kind == "delete":
            found = (event.get("documentKey") or {}).get("_id")
            self.held.append((key, Change(table, Op.DELETE, at, {DOC_ID: id_text(found)}, None, when)))

    def _ddl(self, stream_of: TableId, table: TableId, kind: str, event: dict, key: tuple, at: Position) -> None:
        when = float(event["clusterTime"].time)
        if kind == "invalidate":
            if stream_of in self.tables:  # not after a drop or rename we followed: go on after it
                log.warning("change_stream_invalidated", table=str(stream_of))
                self._close(stream_of)
                self._open(stream_of, after=event["_id"])
            else:
                self._close(stream_of)
            return
        if kind == "dropDatabase":
            gone = [t for t in self.tables if t.schema == (event.get("ns") or {}).get("db", stream_of.schema)]
        else:
            gone = [table] if table in self.tables else []
        for old in gone:
            del self.tables[old]
            self.missing.pop(old, None)
            self.unborn.discard(old)
            if kind == "rename":
                to = event.get("to") or {}
                new = TableId(to.get("db", old.schema), to.get("coll", ""))
                schema = self.describe(new)
                self.tables[new] = schema
                if self.pending.pop(new, None) is None and new not in self.unborn:
                    self._open(new, stamp=event["clusterTime"])  # else the listing found it and opened it
                self.unborn.discard(new)
                self.held = [(k, c) for k, c in self.held if not (c.table == new and c.op is Op.DDL
                                                                  and c.schema.kind is TableDdl.CREATE)]
                sc = SchemaChange(TableDdl.RENAME, schema, f"rename collection {old} to {new}")
            else:
                sc = SchemaChange(TableDdl.DROP, None, f"drop collection {old}")
            self.held.append((key, Change(old, Op.DDL, at, after={"columns": list(sc.schema.column_names)
                                                                  if sc.schema else []}, commit_time=when, schema=sc)))
            self._close(old)  # a real server's invalidate that follows is not read
            log.info("collection_" + ("renamed" if kind == "rename" else "dropped"), table=str(old))

    def _dropped(self, stamp: Any) -> TableId | None:
        """The collection a drop without a namespace dropped (mongo-java-server's), from the oplog."""
        try:
            entry = self.client.local["oplog.rs"].find_one({"ts": stamp, "op": "c"}, projection={"ns": 1, "o": 1})
        except Exception:  # noqa: BLE001 -- no access to the local database: the stream's own collection
            return None
        if entry is None or "drop" not in (entry.get("o") or {}):
            return None
        return TableId(str(entry.get("ns", "")).split(".", 1)[0], entry["o"]["drop"])
