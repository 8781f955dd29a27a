"""A source and a target driven as the worker drives them, without Celery, Redis or the task model.

What the worker does, in the order it does it (worker/full_load.py, worker/cdc/): start_cdc before
the snapshot; prepare and load; read the stream from P0, cutting batches only at transaction ends;
decode text values unless the target takes the source's text; skip what the target's checkpoint
already holds; apply a batch with its checkpoint; acknowledge the source up to what is applied.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from connectors.base import Change, OnConflict, Op, Position, TableId, TableRule, TableSchema
from worker.compare import TableResult, compare

from .engines import Engine

READ_SECONDS = 30.0  # longest wait for changes a test made to come out of a stream


class Pipeline:
    def __init__(self, source: Engine, target: Engine, table: TableId, task: str) -> None:
        self.src_engine, self.dst_engine = source, target
        self.table, self.task = table, task
        self.source: Any = None
        self.target: Any = None
        self.stream: Iterator[Change | Position] | None = None
        self.p0: Position | None = None
        self.schema: TableSchema | None = None
        self.acked: Position | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> Pipeline:
        self.source = self.src_engine.open_source()
        self.target = self.dst_engine.open_target()
        (self.schema,) = self.source.tables([TableRule(self.table.schema, self.table.name, "explicit")])
        return self

    def close(self) -> None:
        """Stop as a worker does: the stream closes, the connections go (capture stays)."""
        if self.stream is not None:
            self.stream.close()  # type: ignore[attr-defined]
            self.stream = None
        for side in (self.source, self.target):
            if side is not None:
                side.close()
        self.source = self.target = None

    def drop(self) -> None:
        """Remove the task's capture from the source (its slot, triggers or log)."""
        source = self.src_engine.open_source()
        try:
            source.drop_cdc(self.task)
        finally:
            source.close()

    def start_cdc(self) -> Position:
        self.p0 = self.source.start_cdc(self.task, [self.schema])
        return self.p0

    def load(self, batch_rows: int = 50_000, mode: str = "drop") -> int:
        self.target.prepare(self.schema, mode)
        return self.target.load(self.schema, self.source.snapshot(self.schema, batch_rows=batch_rows))

    # -- change data capture ---------------------------------------------------------------------

    def read(self, changes: int) -> list[tuple[list[Change], Position]]:
        """Whole transactions (changes, end) from the stream, up to the one that brings ``changes`` changes
        the target's checkpoint does not hold yet (a source may send again what it was not told was applied)."""
        if self.stream is None:
            self.stream = self.source.stream(self.task, self.start(), [self.schema])
        done = self.checkpoint()
        deadline = time.monotonic() + READ_SECONDS
        txns: list[tuple[list[Change], Position]] = []
        held: list[Change] = []
        seen = 0
        for item in self.stream:
            if isinstance(item, Position):
                if held:
                    txns.append((held, item))
                    held = []
                    if seen >= changes:
                        return txns
            else:
                held.append(item)
                seen += done is None or item.position > done
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.src_engine.name} sent {seen} of {changes} changes in {READ_SECONDS} s")
        raise AssertionError("the change stream ended")

    def idle(self) -> Position:
        """Read on until the source says it is idle (a heartbeat); nothing but heartbeats may come first."""
        if self.stream is None:
            self.stream = self.source.stream(self.task, self.start(), [self.schema])
        deadline = time.monotonic() + READ_SECONDS
        for item in self.stream:
            assert isinstance(item, Position), f"a change while idle: {item}"
            if item.minor == 0:
                return item
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"{self.src_engine.name} sent no heartbeat in {READ_SECONDS} s")

    def batch(self, txns: Sequence[tuple[list[Change], Position]]) -> dict[TableSchema, list[Change]]:
        """Transactions as one apply batch: decoded for the target, without what its checkpoint holds."""
        done = self.target.applied(self.task).get(self.table)
        takes_text = self.target.text_engine == self.src_engine.name
        out = []
        for changes, _end in txns:
            for ch in changes:
                if done is not None and not ch.position > done:
                    continue
                out.append(self.source.decode(self.schema, ch) if ch.text and not takes_text else ch)
        return {self.schema: out}

    def apply(self, txns: Sequence[tuple[list[Change], Position]], ack: bool = True,
              on_conflict: dict[Op, OnConflict] | None = None) -> int:
        """Apply the transactions in one batch, then acknowledge the source; returns the changes applied."""
        batch = self.batch(txns)
        self.target.apply(self.task, self.target.plan(batch, on_conflict), on_conflict)
        if ack and txns:
            self.ack(txns[-1][1])
        return len(batch[self.schema])

    def ack(self, upto: Position) -> None:
        """Acknowledge the source, and remember it as the worker does (its stream resumes from there)."""
        self.source.ack(upto)
        self.acked = upto

    def start(self) -> Position:
        """Where a stream starts, as the worker's (StateStore.resume_at): P0, or the last acknowledgement after it."""
        assert self.p0 is not None
        acked = self.acked
        return acked if acked is not None and acked.log == self.p0.log and acked > self.p0 else self.p0

    def replicate(self, changes: int) -> int:
        return self.apply(self.read(changes))

    # -- what the tables hold --------------------------------------------------------------------

    def source_rows(self) -> list[dict[str, Any]]:
        return [row for batch in self.source.snapshot(self.schema, ordered=True) for row in batch.rows()]

    def target_rows(self) -> list[dict[str, Any]]:
        return [row for rows in self.target.read(self.schema) for row in rows]

    def checkpoint(self) -> Position | None:
        return self.target.applied(self.task).get(self.table)

    def validate(self) -> TableResult:
        """The validation job's comparison: the source's ordered snapshot against the target's read-back."""
        batches = self.source.snapshot(self.schema, ordered=True)
        return compare(self.schema, (b.rows() for b in batches), self.target.read(self.schema))
