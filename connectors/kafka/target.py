"""Kafka target: every row change one message in DMS's JSON layout (connectors/streams/records.py).

Exactly once where Kafka allows it (``ExactlyOnce``, the default): ``apply`` sends a batch's records and the
task's checkpoint (one record per table in ``CheckpointTopic``, keyed by task and table) in one Kafka
transaction, under a transactional id of the endpoint and task; a worker killed mid-batch leaves an open
transaction that the next producer of that id aborts when it starts (``init_transactions`` fences the old
one), so a consumer reading ``read_committed`` sees each change once, and ``applied`` reads the checkpoint
as committed. A full load's chunk is one transaction too (its id names the table and key range). With
``ExactlyOnce`` false, records are sent by an idempotent producer and the checkpoint after them:
at-least-once, each record carrying its source position in the header ``dms-position``.

Partitions: the load's records are keyed by the row's primary key, changes by ``schema.table`` (DMS's
defaults), so every change of one row lands in one partition, in source order (the producer keeps order
per partition: idempotence allows no reordering on retries).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
from connectors.errors import DataError
from connectors.store_target import AppendTarget
from connectors.streams.records import Fold, Record, Route
from connectors.streams.routes import records_for, route_of, table_routes

from . import client
from . import settings as kafka_settings
from .producer import RecordProducer

POSITION_HEADER = "dms-position"
OLD_KEY_HEADER = "dms-old-key"
TOPIC_KEY = "kafka-target-topic"  # an object-mapping rule's topic for its tables (DMS's key)


class KafkaTarget(AppendTarget):
    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.settings = kafka_settings.values(endpoint)
        self.config = kafka_settings.client_config(self.settings, endpoint)
        self.producer_config = kafka_settings.producer_config(self.settings, endpoint)
        self.topic: str = self.settings["Topic"]
        self.checkpoints: str = self.settings["CheckpointTopic"]
        self.exactly_once: bool = self.settings["ExactlyOnce"]
        self.max_bytes: int = self.settings["MessageMaxBytes"]
        self.records = records_for(self.settings, endpoint)
        self.routes = table_routes(endpoint, TOPIC_KEY)
        self._routed: dict[TableId, tuple[str, Route | None]] = {}
        self._producers: dict[str, RecordProducer] = {}
        self._topics: set[str] = set()

    # -- connections -----------------------------------------------------------------------------

    def _producer(self, name: str) -> RecordProducer:
        """The producer of one transactional id (one per task's apply, one per loaded chunk), made once."""
        producer = self._producers.get(name)
        if producer is None:
            producer = RecordProducer(self.producer_config, self.ep, self._transactional_id(name)
                                      if self.exactly_once else None, self.max_bytes, client.TRANSACTION_TIMEOUT_MS)
            self._producers[name] = producer
        return producer

    def _transactional_id(self, name: str) -> str:
        return f"opendms-{self.ep.id}-{name}"

    def _drop(self, name: str) -> None:
        producer = self._producers.pop(name, None)
        if producer is not None:
            producer.close()

    def _route(self, table: TableId) -> tuple[str, Route | None]:
        """The table's topic and partitioning: its first object-mapping rule's, else the endpoint's topic and
        DMS's default keys."""
        found = self._routed.get(table)
        if found is None:
            rule = route_of(self.routes, table)
            found = self._routed[table] = (rule.destination or self.topic, rule.route) if rule else (self.topic, None)
        return found

    def _ensure_topic(self, topic: str) -> None:
        if topic not in self._topics:
            client.ensure_topic(self.config, self.ep, topic, compacted=topic == self.checkpoints)
            self._topics.add(topic)

    def _send(self, producer: RecordProducer, topic: str, record: Record, table: TableId) -> None:
        if len(record.value) > self.max_bytes:
            raise DataError(f"a message of {table} is {len(record.value)} bytes, over KafkaSettings.MessageMaxBytes "
                            f"{self.max_bytes} of endpoint {self.ep.id}: raise MessageMaxBytes (and the topic's "
                            "max.message.bytes) or leave the large column out")
        headers = []
        if record.position:
            headers.append((POSITION_HEADER, record.position.encode()))
        if record.old_key:
            headers.append((OLD_KEY_HEADER, record.old_key.encode()))
        producer.send(topic, record.key.encode(), record.value, headers)

    def _transaction(self, name: str, body: Any) -> Any:
        """Run ``body(producer)`` inside one transaction of the named producer (or, without ExactlyOnce, then
        flush): committed whole, or aborted and the producer dropped (the next one fences what is left)."""
        producer = self._producer(name)
        try:
            if self.exactly_once:
                producer.begin()
            result = body(producer)
            if self.exactly_once:
                producer.commit()
            else:
                producer.flush()
            return result
        except BaseException as exc:
            if self.exactly_once:
                try:
                    producer.abort()
                except Exception:  # the broker or the producer is gone: the transaction times out or is fenced
                    pass
            self._drop(name)
            if isinstance(exc, Exception) and client.driver_error(exc):
                raise client.classify(exc, self.ep) from exc
            raise

    def check(self) -> list[str]:
        return client.check(self.config, self.ep, self.topic, self.checkpoints, self.exactly_once)

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """The topic exists (made when missing); a load starting afresh ("drop", "truncate") sends a control
        record saying so (``drop-table``/``truncate-table``), then the table's definition with
        IncludeControlDetails (``create-table``)."""
        topic, _route = self._route(table.table)
        self._ensure_topic(topic)
        sent: list[Record] = []
        if mode in ("drop", "truncate"):
            sent.append(self.records.control(table, "drop-table" if mode == "drop" else "truncate-table"))
        if mode == "drop" and self.records.settings.include_control_details:
            sent.append(self.records.create_table(table))
        if sent:
            def body(producer: RecordProducer) -> None:
                for record in sent:
                    self._send(producer, topic, record, table.table)
            self._transaction(f"prepare-{_digest(str(table.table))}", body)

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """One transaction per chunk: a chunk loaded again after a worker died mid-way leaves the first try's
        records aborted (a chunk loaded again after its commit is sent twice: its rows' latest images stand)."""
        topic, route = self._route(table.table)
        self._ensure_topic(topic)
        name = f"load-{_digest(str(table.table), json.dumps((within or KeyRange()).to_json(), default=str))}"

        def body(producer: RecordProducer) -> int:
            count = 0
            for batch in batches:
                for row in batch.rows():
                    self._send(producer, topic, self.records.load(table, row, route=route), table.table)
                    count += 1
            return count
        try:
            return self._transaction(name, body)
        finally:
            self._drop(name)  # a chunk's producer serves it once

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        """The batch's records and each table's checkpoint in one transaction. Nothing is read back, so there
        are no conflicts to check: every change is appended (``on_conflict`` has nothing to act on)."""
        self._ensure_topic(self.checkpoints)

        def body(producer: RecordProducer) -> None:
            marks: dict[TableId, Position] = {}
            for part in parts_of(changes):
                for schema, items in part.items():
                    topic, route = self._route(schema.table)
                    self._ensure_topic(topic)
                    for change in items:
                        record = self.records.change(schema, change, route=route)
                        if record is not None:
                            self._send(producer, topic, record, schema.table)
                    if items:
                        marks[schema.table] = items[-1].position
            for table, position in marks.items():
                producer.send(self.checkpoints, _checkpoint_key(task, table), position.encode().encode())
        self._transaction(f"task-{task}", body)
        return []

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        client.log.warning("apply_exception", task=task, table=str(table.table), op=change.op.value, error=error)

    def applied(self, task: str) -> dict[TableId, Position]:
        """The task's checkpoints as committed. Its producer starts first: that aborts what a killed worker
        left open, so the committed end of the checkpoint topic can be read to."""
        if self.exactly_once:
            self._producer(f"task-{task}")
        prefix = f"{task}\x00".encode()
        found: dict[TableId, Position] = {}
        for message in client.read_topic(self.config, self.ep, self.checkpoints):
            if message.key is None or not message.key.startswith(prefix):
                continue
            table = TableId.parse(message.key[len(prefix):].decode())
            if message.value is None:
                found.pop(table, None)
            else:
                found[table] = Position.decode(message.value.decode())
        return found

    def forget(self, task: str) -> list[str]:
        """A tombstone for each of the task's checkpoints (the topic is compacted)."""
        known = self.applied(task)
        if known:
            def body(producer: RecordProducer) -> None:
                for table in known:
                    producer.send(self.checkpoints, _checkpoint_key(task, table), None)
            self._transaction(f"task-{task}", body)
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The topic folded into the table's rows (each key's latest image; a ``drop-table`` or
        ``truncate-table`` control record starts afresh), as a ``read_committed`` consumer sees it."""
        fold = Fold(table)
        mine: list[tuple[tuple, tuple[bytes, str, str]]] = []
        want = (table.table.schema, table.table.name)
        for message in client.read_topic(self.config, self.ep, self._route(table.table)[0]):
            if message.value is None:
                continue
            meta = json.loads(message.value).get("metadata", {})
            if (meta.get("schema-name"), meta.get("table-name")) != want:
                continue
            headers = {k: v.decode() for k, v in message.headers or ()}
            position = headers.get(POSITION_HEADER, "")
            # The load's records (no position) span partitions: in the order they were made, a load's
            # control record before its rows when made in the same millisecond.
            when = (message.timestamp, meta.get("record-type") != "control", message.partition, message.offset)
            mine.append((when, (message.value, position, headers.get(OLD_KEY_HEADER, ""))))
        mine.sort(key=lambda item: item[0] if not item[1][1] else (0,))
        for value, _position, old_key in Fold.order([record for _when, record in mine]):
            fold.add(value, old_key)
        rows = fold.result()
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def close(self) -> None:
        for name in list(self._producers):
            self._drop(name)


def _checkpoint_key(task: str, table: TableId) -> bytes:
    return f"{task}\x00{table}".encode()


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:16]

