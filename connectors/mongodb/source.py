"""MongoDB source: collections as tables (document or table mode), full load by cursor, change data capture
from change streams, positioned by cluster time and resumed by resume token."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import structlog

from connectors.base import (
    DOC_ID,
    Batch,
    Capability,
    Change,
    Endpoint,
    Filter,
    KeyRange,
    Position,
    Positions,
    Source,
    TableId,
    TableRule,
    TableSchema,
    document_table,
    selects,
)
from connectors.errors import ConfigError, PositionLost

from .changes import ChangeReader, major_of, position
from .connect import classify, client, not_replica_set, replica_set_name, settings
from .values import document_row, infer, table_row

log = structlog.get_logger(__name__)

SEGMENTS = 16  # DMS's default number-of-partitions of autosegmentation
SYSTEM_DATABASES = ("admin", "local", "config")


class MongoSource(Source):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CDC})

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.settings = settings(endpoint)
        self.client = client(endpoint)
        self._schemas: dict[TableId, TableSchema] = {}

    def _no_lookup(self) -> str:
        # An update event without its full document carries only the changed fields, which a document or
        # table target cannot apply without the document before them: refused, not dropped or guessed.
        return (f"{self.ep.where()}: MongoDbSettings.UseUpdateLookUp false is not supported for CDC (an update "
                "would carry only its changed fields): set it to true, the default")

    def _fail(self, exc: BaseException):
        return classify(exc, self.ep.where())

    # -- discovery -------------------------------------------------------------------------------

    def check(self, cdc: bool) -> list[str]:
        try:
            self.client.admin.command("ping")
            if cdc and replica_set_name(self.client.admin) is None:
                return [not_replica_set(self.ep.where())]
            if cdc and not self.settings["UseUpdateLookUp"]:
                return [self._no_lookup()]
        except Exception as exc:  # noqa: BLE001 -- every driver error becomes one line
            return [str(self._fail(exc))]
        return []

    def _databases(self) -> list[str]:
        if self.ep.database:
            return [self.ep.database]
        return sorted(d for d in self.client.list_database_names() if d not in SYSTEM_DATABASES)

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        found = []
        try:
            for database in self._databases():
                db = self.client[database]
                for name in sorted(db.list_collection_names()):
                    table = TableId(database, name)
                    if name.startswith("system.") or not selects(rules, table):
                        continue
                    found.append(self._describe(table))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        return found

    def _describe(self, table: TableId) -> TableSchema:
        coll = self.client[table.schema][table.name]
        estimate = coll.estimated_document_count()
        if self.settings["NestingLevel"] == "one":
            sample = int(self.settings["DocsToInvestigate"] or 0)
            if sample <= 0:
                raise ConfigError(f"{self.ep.where()}: MongoDbSettings.DocsToInvestigate must be greater than 0")
            schema = infer(table, coll.find().limit(sample), estimate)
        else:
            schema = document_table(table, engine="mongodb", rows_estimate=estimate)
        self._schemas[table] = schema
        return schema

    def _row(self, doc: dict, table: TableSchema) -> dict[str, Any]:
        # by the endpoint's mode, not by TableSchema.documents: a schema stored with a task may lack the flag
        return table_row(doc, table) if self.settings["NestingLevel"] == "one" else document_row(doc)

    # -- full load -------------------------------------------------------------------------------

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None, at=None) -> Iterator[Batch]:
        if where:
            raise ConfigError(f"{self.ep.where()}: source filters are not supported on MongoDB collections "
                              f"({table.table}), as in DMS: remove the filter rule")
        return self._batches(table, batch_rows, ordered, within)

    # -- segments (DMS's autosegmentation) ----------------------------------------------------------

    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        """A big collection (by its estimated count) in segments of about ``rows_per_chunk`` documents."""
        try:
            estimate = self.client[table.table.schema][table.table.name].estimated_document_count()
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        count = -(-estimate // max(1, rows_per_chunk))
        return self.segments(table, count) if count >= 2 else [KeyRange()]

    def segments(self, table: TableSchema, count: int) -> list[KeyRange]:
        """``count`` (0: DMS's 16) ranges of ``_id`` of about equal documents, their bounds found as DMS's
        autosegmentation finds them: the ``_id`` after skipping that many documents in ``_id`` order. Only a
        collection whose identities are all ObjectIds is segmented (the smallest and the largest are: BSON
        orders by type first), since an ObjectId's hex orders as the ObjectId does, in the target's key
        comparisons too; any other collection loads whole."""
        count = count or SEGMENTS
        coll = self.client[table.table.schema][table.table.name]
        try:
            if count < 2 or not self._object_ids(coll):
                return [KeyRange()]
            total = coll.count_documents({})
            bounds: list[tuple] = []
            for i in range(1, count):
                skip = total * i // count - 1
                found = next(iter(coll.find({}, {"_id": 1}).sort("_id", 1).skip(max(skip, 0)).limit(1)), None)
                if skip >= 0 and found is not None and (not bounds or bounds[-1] < (str(found["_id"]),)):
                    bounds.append((str(found["_id"]),))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        log.info("collection_segmented", table=str(table.table), documents=total, segments=len(bounds) + 1)
        return KeyRange.between(bounds)

    @staticmethod
    def _object_ids(coll: Any) -> bool:
        from bson import ObjectId

        first = coll.find_one({}, {"_id": 1}, sort=[("_id", 1)])
        last = coll.find_one({}, {"_id": 1}, sort=[("_id", -1)])
        return first is not None and isinstance(first["_id"], ObjectId) and isinstance(last["_id"], ObjectId)

    def _segment(self, coll: Any, within: KeyRange) -> dict[str, Any] | None:
        """The query of a range of ObjectId identities (a segment), or None when the range or the collection
        is of other identities (then read all and keep the range, in memory)."""
        from bson import ObjectId

        bounds = [b[0] for b in (within.after, within.upto) if b is not None]
        if not all(isinstance(b, str) and ObjectId.is_valid(b) and len(b) == 24 for b in bounds):
            return None
        if not self._object_ids(coll):
            return None
        query: dict[str, Any] = {}
        if within.after is not None:
            query["$gt"] = ObjectId(within.after[0])
        if within.upto is not None:
            query["$lte"] = ObjectId(within.upto[0])
        return {"_id": query}

    def _batches(self, table: TableSchema, batch_rows: int, ordered: bool,
                 within: KeyRange | None) -> Iterator[Batch]:
        coll = self.client[table.table.schema][table.table.name]
        try:
            query = self._segment(coll, within) if within is not None and not within.whole and not ordered else {}
            if ordered or (within is not None and not within.whole and query is None):
                # the key is the identity's text, whose order is not BSON's: read all, order by the text
                rows = sorted((self._row(d, table) for d in coll.find()), key=lambda r: r[DOC_ID])
                if within is not None and not within.whole:
                    rows = [r for r in rows if (within.after is None or (r[DOC_ID],) > tuple(within.after))
                            and (within.upto is None or (r[DOC_ID],) <= tuple(within.upto))]
                for i in range(0, len(rows), max(1, batch_rows)):
                    part = rows[i:i + batch_rows]
                    yield Batch(len(part), part)
                return
            part: list[dict[str, Any]] = []
            for doc in coll.find(query, batch_size=min(batch_rows, 10_000)):
                part.append(self._row(doc, table))
                if len(part) >= batch_rows:
                    yield Batch(len(part), part)
                    part = []
            if part:
                yield Batch(len(part), part)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc

    # -- change capture --------------------------------------------------------------------------

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        """Change streams need no capture object: the position is the newest change of the oplog (read with
        DMS's documented read access to the local database), else the server's operation time now: at or
        before every change the snapshot that follows may miss."""
        try:
            if replica_set_name(self.client.admin) is None:
                raise ConfigError(not_replica_set(self.ep.where()))
            at = self.client.admin.command("ping").get("operationTime")
            newest = self._newest(at)
            if newest is not None:  # that change is in the snapshot: the stream starts after it
                return position(newest >> 32, newest & 0xFFFFFFFF, 1)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        if at is None:
            raise ConfigError(f"{self.ep.where()} gives no operation time: it is not a replica set member that "
                              "change streams can follow")
        return position(at.time, at.inc)

    @staticmethod
    def position_error(text: str) -> str | None:
        time_part = text.strip().split(":", 1)[0]
        seconds, _, increment = time_part.partition(".")
        if seconds.isdigit() and (increment or "0").isdigit():
            return None
        return (f"CDC start position {text!r} is not a MongoDB cluster time: give SECONDS.INCREMENT, e.g. "
                "1700000000.1, optionally followed by :RESUMETOKEN as RecoveryCheckpoint shows it")

    def parse_position(self, task: str, text: str) -> Position:
        problem = self.position_error(text)
        if problem:
            raise ConfigError(problem)
        time_part, _, token = text.strip().partition(":")
        seconds, _, increment = time_part.partition(".")
        return position(int(seconds), int(increment or 0), 0, token)

    def _newest(self, at) -> int | None:
        """The cluster time of the newest oplog entry, searched from a second before the operation time ``at``
        (a bounded read of the oplog's end: a server may ignore a reverse natural order), or None."""
        from bson import Timestamp

        if at is None:
            return None
        try:
            last = self.client.local["oplog.rs"].find_one({"ts": {"$gte": Timestamp(max(at.time - 1, 0), 0)}},
                                                          sort=[("ts", -1)], projection={"ts": 1})
        except Exception:  # noqa: BLE001 -- no access to the local database: the operation time serves
            return None
        return None if last is None else major_of(last["ts"].time, last["ts"].inc)

    def _edge(self, order: int) -> int | None:
        """The cluster time of the oldest (1) or newest (-1) entry of the oplog, or None when it cannot be
        read here (no access to the local database, or nothing in it)."""
        try:
            first = self.client.local["oplog.rs"].find_one({}, sort=[("$natural", order)], projection={"ts": 1})
        except Exception:  # noqa: BLE001 -- no access to the local database: the server says it when resuming
            return None
        return None if first is None else major_of(first["ts"].time, first["ts"].inc)

    def check_position(self, task: str, at: Position) -> str | None:
        oldest = self._edge(1)
        # by the second: a start position is the start of a second (connectors/mongodb: start_cdc), at or
        # before the first operation of that second that the oplog may hold
        if oldest is not None and at.major >> 32 < oldest >> 32:
            return (f"position {at.token} of task {task} is older than the oldest change the oplog of "
                    f"{self.ep.where()} holds ({oldest >> 32}.{oldest & 0xFFFFFFFF}): reload the task, and size "
                    "the oplog for the task's longest stop")
        return None

    def stream(self, task: str, start: Position | Positions,
               tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        at = start.single() if isinstance(start, Positions) else start
        if not self.settings["UseUpdateLookUp"]:
            raise ConfigError(self._no_lookup())
        lost = self.check_position(task, at)
        if lost:
            raise PositionLost(lost)
        reader = ChangeReader(self.client, self.settings, self.ep.database, self._describe, self._row)
        return self._changes(reader, at, {t.table: t for t in tables})

    def _changes(self, reader: ChangeReader, at: Position,
                 tables: dict[TableId, TableSchema]) -> Iterator[Change | Position]:
        try:
            yield from reader.changes(at, tables)
        except GeneratorExit:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc

    def close(self) -> None:
        self.client.close()
