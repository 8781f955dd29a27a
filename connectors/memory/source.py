"""Memory source: tables as the application made them, snapshots copied under the lock, change capture per task."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import InvalidOperation
from typing import Any, ClassVar

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
    Positions,
    Retained,
    Source,
    TableRule,
    TableSchema,
    selects,
)
from connectors.errors import ConfigError, PositionLost
from connectors.filters import converter, holds

from .store import Capture, Database, in_range, open_database, position


class MemorySource(Source):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.CDC, Capability.BEFORE_IMAGE})

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.db: Database = open_database(endpoint)

    def check(self, cdc: bool) -> list[str]:
        return []

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        with self.db.lock:
            return [t.schema for name, t in sorted(self.db.tables.items()) if selects(rules, name)]

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        keyless = [str(t.table) for t in tables if not t.key]
        if keyless:
            raise ConfigError(f"table(s) {', '.join(keyless)} of source {self.ep.id} have no primary key, so their "
                              "updates and deletes cannot be replicated: add a key, or exclude them")
        db = self.db
        with db.lock:  # capture restarts now: an earlier run's changes are dropped
            db.captures[task] = Capture(db.log_ids(task), frozenset(t.table for t in tables))
            return position(db.log_id(task), db.txn + 1, 0)

    @staticmethod
    def position_error(text: str) -> str | None:
        major, _, minor = text.strip().partition(".")
        if major.isdigit() and (minor or "0").isdigit():
            return None
        return f"CDC start position {text!r} is not a memory log position (N or N.M, as shown by RecoveryCheckpoint)"

    @classmethod
    def capture_objects(cls, ep: Endpoint, task: str) -> list[tuple[str, str]]:
        return []  # capture lives in the process's memory: nothing outlives it to drop by hand

    def parse_position(self, task: str, text: str) -> Position:
        problem = self.position_error(text)
        if problem:
            raise ConfigError(problem)
        major, _, minor = text.strip().partition(".")
        return position(self.db.log_id(task), int(major), int(minor or 0))

    def check_position(self, task: str, at: Position) -> str | None:
        with self.db.lock:
            end = self.db.txn + 1  # the next transaction
        if at.major > end:  # one counter of transactions for every log
            return (f"CDC start position {at.token} is ahead of the memory log of {self.ep.where()} "
                    f"(next transaction {end}): give a position at or before {end}")
        held = self.resume_positions(task)
        kept = held.get(at.log) if held is not None else None
        if kept is not None and at < kept:
            return (f"CDC start position {at.token} is before transaction {kept.major}, the oldest the "
                    f"change capture of task {task} on {self.ep.where()} still holds: give a later position")
        return None

    def capture_lost(self, task: str) -> str | None:
        if self.resume_positions(task) is None:
            return f"the change capture of task {task} is gone from {self.ep.where()}"
        return None

    def can_resume(self, task: str, checkpoint: Positions | None = None) -> str | None:
        """Exactly: a log can resume from its checkpoint unless it was acknowledged beyond it (its changes
        after the checkpoint are gone); a log the checkpoint lacks must not have been acknowledged at all."""
        lost = self.capture_lost(task)
        if lost or checkpoint is None:
            return lost
        with self.db.lock:
            capture = self.db.captures[task]
            for log in capture.logs:
                acked = capture.acked.get(log)
                if acked is not None and (log not in checkpoint or checkpoint[log] < acked):
                    at = checkpoint[log].token if log in checkpoint else "its start"
                    return (f"the change capture of task {task} on {self.ep.where()} discarded log {log} up to "
                            f"{acked.token}, after the checkpoint ({at}): reload the task")
            strange = [log for log in checkpoint if log not in capture.logs]
        if strange:
            return f"the checkpoint names log(s) {', '.join(strange)}, not of task {task}'s capture: reload the task"
        return None

    def retained_log(self, task: str) -> Retained | None:
        return None  # what capture keeps is counted in changes, not in a log's bytes

    def leftovers(self, tasks: Iterable[str]) -> list[str]:
        return []

    def resume_position(self, task: str) -> Position | None:
        """Where reading resumes (before the oldest transaction kept), or None when capture is gone; a
        database of several logs has no single one (ValueError): see resume_positions."""
        kept = self.resume_positions(task)
        return None if kept is None else kept.single()

    def resume_positions(self, task: str) -> Positions | None:
        with self.db.lock:
            capture = self.db.captures.get(task)
            if capture is None:
                return None
            return Positions(position(log, entries[0][0] if entries else self.db.txn + 1, 0)
                             for log, entries in capture.entries.items())

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None) -> Iterator[Batch]:
        db = self.db
        names = table.column_names
        with db.lock:  # the snapshot is the table as of this call
            stored = db.table(table.table)
            types = {c.name: c for c in stored.schema.columns}
            missing = [n for n in names if n not in types]
            if missing:
                raise ConfigError(f"column(s) {', '.join(missing)} of {table.table} are not in memory database "
                                  f"{db.name}: plan the task again")
            rows = [{n: r[n] for n in names} for r in stored.ordered()
                    if in_range(tuple(r[k] for k in table.key), within)
                    and all(_passes(r[f.column], types[f.column], f.conditions) for f in where)]
        return (Batch(len(part), part) for part in _cut(rows, batch_rows))

    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        """Ranges of ``rows_per_chunk`` keys each, cut at the table's keys as they are now."""
        with self.db.lock:
            stored = self.db.table(table.table)
            keys = [tuple(r[k] for k in table.key) for r in stored.ordered()] if table.key else []
        if len(keys) <= rows_per_chunk:
            return [KeyRange()]
        return KeyRange.between(keys[rows_per_chunk - 1:len(keys) - 1:rows_per_chunk])

    def stream(self, task: str, start: Position | Positions,
               tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        if self.resume_positions(task) is None:
            raise PositionLost(f"the change capture of task {task} is gone from {self.ep.where()}: reload the task")
        starts = start if isinstance(start, Positions) else Positions([start])
        return self._changes(task, starts, frozenset(t.table for t in tables))

    def _changes(self, task: str, start: Positions, tables: frozenset) -> Iterator[Change | Position]:
        db = self.db
        # per log, the first transaction that may hold changes after start (a log start lacks: all of it)
        first = {log: start[log].major for log in start}
        while True:
            with db.lock:
                capture = db.captures.get(task)
                if capture is None:
                    raise PositionLost(f"the change capture of task {task} was dropped from {self.ep.where()}")
                todo = sorted((txn, log, changes) for log, entries in capture.entries.items()
                              for txn, changes in entries if txn >= first.get(log, 0))
                idle = [position(log, db.txn + 1, 0) for log in capture.logs]
            if not todo:
                yield from idle  # a heartbeat per log: every transaction committed so far has been sent
                with db.lock:
                    if db.txn < idle[0].major:
                        db.committed.wait(db.POLL)
                continue
            for txn, log, changes in todo:
                sent = [c for c in changes if not start.covers(c.position) and c.table in tables]
                yield from sent
                if sent:
                    yield changes[-1].position  # the end of the transaction (in its log)
                first[log] = txn + 1

    def decode(self, table: TableSchema, change: Change) -> Change:
        return change  # values are Python values already

    def ack(self, upto: Position) -> None:
        with self.db.lock:
            for capture in self.db.captures.values():
                entries = capture.entries.get(upto.log)
                if entries is not None:
                    while entries and entries[0][1][-1].position <= upto:
                        entries.popleft()
                    acked = capture.acked.get(upto.log)
                    capture.acked[upto.log] = upto if acked is None or acked < upto else acked

    def drop_cdc(self, task: str) -> None:
        with self.db.lock:
            self.db.captures.pop(task, None)

    def close(self) -> None:
        pass


def _cut(rows: list, size: int) -> Iterator[list]:
    for i in range(0, len(rows), max(1, size)):
        yield rows[i:i + size]


def _typed(text: str | None, column: Column) -> Any:
    """A filter's text value as the column's type, as a SQL engine reads a literal compared with a column."""
    if text is None:
        return None
    try:
        return converter(column.type)(text)
    except (ValueError, InvalidOperation):
        raise ConfigError(f"filter value {text!r} is not a {column.type} for column {column.name}") from None


def _passes(value: Any, column: Column, conditions: Sequence[Condition]) -> bool:
    """Any of a filter's conditions holds (SQL's rules: a comparison with NULL is never true)."""
    if value is None:  # no bounds to read: only ``null`` holds
        return any(holds(c.op, None, None, None) for c in conditions)
    return any(holds(c.op, value, _typed(c.value, column), _typed(c.end, column)) for c in conditions)
