"""Kinesis Data Streams target (append): DMS's JSON records (connectors/streams/records.py, as for Kafka), one
per row change, written by batched PutRecords (stream.py); at least once.

Kinesis records have no headers, so what a consumer needs beyond DMS's layout travels in ``metadata``, under
names of OpenDMS's own: ``opendms-position`` (the source position of a change: the identity of a duplicate
after a replay, and the order of changes) and ``opendms-old-key`` (an update that moved its row: the old key's
values as a JSON list).

The task's checkpoint is a control record in the same stream, written after the batch's records went
through (``"operation": "opendms-checkpoint"``, partition key ``awsdms_txn_state.<task>``, so all of a task's
land in one shard, in order); ``applied`` reads that shard back. A worker killed between the two writes the
batch again: its records appear twice, with the same positions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.base import (
    Batch,
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
    parts_of,
)
from connectors.store_target import AppendTarget
from connectors.streams.records import Fold, Record, Route
from connectors.streams.routes import records_for, route_of, table_routes

from .settings import KINESIS_SETTINGS
from .stream import MAX_KEY_CHARS, Entry, Stream

log = structlog.get_logger(__name__)
CHECKPOINT = "opendms-checkpoint"
FORGET = "opendms-forget"
RESETS = ("drop-table", "truncate-table")


def checkpoint_key(task: str) -> str:
    return f"awsdms_txn_state.{task}"


class KinesisTarget(AppendTarget):
    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.settings = KINESIS_SETTINGS.values(endpoint)
        self.stream = Stream(endpoint)
        self.records = records_for(self.settings, endpoint)
        self.routes = table_routes(endpoint)  # they key a table's records (DMS has no stream per table here)
        self.indent = "\t" if self.settings["MessageFormat"] == "json" else None
        self._marks: dict[str, dict[str, str]] = {}  # task -> its checkpoint as read, then as written here

    def check(self) -> list[str]:
        """The stream exists and is writable, and the credentials may describe and list it."""
        try:
            status = self.stream.call("describe_stream_summary")["StreamDescriptionSummary"]["StreamStatus"]
            self.stream.shards()
        except Exception as exc:  # noqa: BLE001  (classified by the stream: the one line `endpoint test` shows)
            return [str(exc)]
        if status not in ("ACTIVE", "UPDATING"):
            return [f"{self.ep.where()}: stream {self.stream.name} is {status}: wait until it is ACTIVE"]
        return []

    # -- records -----------------------------------------------------------------------------------

    def _route(self, table: TableSchema) -> Route | None:
        """The table's partitioning: its first object-mapping rule's partition-key-type, else DMS's keys."""
        found = route_of(self.routes, table.table)
        return found.route if found else None

    def _entry(self, schema: TableSchema, record: Record) -> Entry:
        """The record as an entry: its position and old key added to its metadata; a partition key Kinesis
        takes (1 to 256 characters: an empty key is the table's name, a longer one is cut)."""
        data = record.value
        if record.position or record.old_key:
            doc = json.loads(data)
            meta = doc["metadata"]
            if record.position:
                meta["opendms-position"] = record.position
            if record.old_key:
                meta["opendms-old-key"] = json.loads(record.old_key)
            data = json.dumps(doc, ensure_ascii=False, indent=self.indent, allow_nan=False).encode()
        return Entry((record.key or str(schema.table))[:MAX_KEY_CHARS], data)

    def _control(self, key: str, operation: str, body: Mapping[str, Any]) -> Entry:
        meta = {"timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "record-type": "control",
                "operation": operation, "partition-key-type": "task-id"}
        return Entry(key, json.dumps({"control": dict(body), "metadata": meta}, ensure_ascii=False).encode())

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """A stream has no tables: "drop" sends a drop-table control record (and the table's definition with
        IncludeControlDetails), "truncate" a truncate-table one, so that a consumer folding the stream starts
        the table afresh; "keep" sends nothing."""
        if mode == "keep":
            return
        operation = "drop-table" if mode == "drop" else "truncate-table"
        entries = [self._entry(table, self.records.control(table, operation))]
        if mode == "drop" and self.settings["IncludeControlDetails"]:
            entries.append(self._entry(table, self.records.create_table(table)))
        self.stream.put(entries)

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """A ``load`` record per row (partition key: the primary key), a batch at a time. A chunk loaded again
        sends its rows again: a consumer keeping the latest image per key ends with the source's rows."""
        route = self._route(table)
        count = 0
        for batch in batches:
            rows = batch.rows()
            self.stream.put([self._entry(table, self.records.load(table, row, route=route)) for row in rows])
            count += len(rows)
        return count

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        """Every change as a record, in source order, then the task's checkpoint. Records are appended, never
        checked against what the stream holds: apply-error policies do not apply (as in DMS)."""
        entries: list[Entry] = []
        marks: dict[str, str] = {}
        for part in parts_of(changes):  # the whole batch first: a batch that fails to arrive sends nothing
            for schema, items in part.items():
                route = self._route(schema)
                for ch in items:
                    record = self.records.change(schema, ch, route=route)
                    if record is not None:
                        entries.append(self._entry(schema, record))
                if items:
                    marks[str(schema.table)] = items[-1].position.encode()
        if not marks:
            return []
        self.stream.put(entries)
        self.stream.put([self._control(checkpoint_key(task), CHECKPOINT, {"task-name": task, "positions": marks})])
        if task in self._marks:
            self._marks[task].update(marks)
        return []

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        log.warning("change_not_applied", task=task, table=str(table.table), op=change.op.value, error=error)

    def applied(self, task: str) -> dict[TableId, Position]:
        """The task's checkpoint: read from its shard once, then kept as this target writes it."""
        if task not in self._marks:
            self._marks[task] = self._read_marks(task)
        return {TableId.parse(t): Position.decode(p) for t, p in self._marks[task].items()}

    def _read_marks(self, task: str) -> dict[str, str]:
        marks: dict[str, str] = {}
        for read in self.stream.read(only_key=checkpoint_key(task)):
            doc = json.loads(read.data)
            body, op = doc.get("control") or {}, doc.get("metadata", {}).get("operation")
            if body.get("task-name") != task:
                continue
            if op == CHECKPOINT:
                marks.update(body.get("positions", {}))
            elif op == FORGET:
                marks.clear()
        return marks

    def forget(self, task: str) -> list[str]:
        self.stream.put([self._control(checkpoint_key(task), FORGET, {"task-name": task})])
        self._marks[task] = {}
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The table's rows as a consumer keeping the latest image per key holds them: every shard read, the
        records of the table after its last drop-table or truncate-table without a position (a load started
        afresh) taken, loads in arrival order, then changes once each in source order."""
        mine: list[tuple[tuple, dict[str, Any], bytes]] = []
        for read in self.stream.read():
            doc = json.loads(read.data)
            meta = doc.get("metadata", {})
            if (meta.get("schema-name"), meta.get("table-name")) == (table.table.schema, table.table.name):
                mine.append(((read.arrived, read.shard, read.sequence), meta, read.data))
        mine.sort(key=lambda item: item[0])
        start = max((i for i, (_, meta, _) in enumerate(mine)
                     if meta.get("record-type") == "control" and meta.get("operation") in RESETS
                     and not meta.get("opendms-position")), default=0)
        loads, changes, seen = [], [], set()
        for _, meta, data in mine[start:]:
            position = meta.get("opendms-position", "")
            if not position:
                loads.append((data, "", ""))
            elif position not in seen:  # a record written again (a replay, a retried entry): once
                seen.add(position)
                old = meta.get("opendms-old-key")
                changes.append((data, position, json.dumps(old) if old is not None else ""))
        fold = Fold(table)
        for data, _, old_key in Fold.order([*loads, *changes]):
            fold.add(data, old_key)
        rows = fold.result()
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def close(self) -> None:
        pass
