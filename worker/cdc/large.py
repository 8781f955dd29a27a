"""Source transactions larger than a batch: streamed into one open target transaction, or spilled.

A transaction larger than a batch (BatchSplitSize) streams: what is held goes into a target
transaction that stays open, and the rest follows part by part as it is read, so memory stays bounded
and the target still shows the transaction whole, once it commits. With MemoryLimitTotal below a
batch, or while a transaction whose streamed apply failed is read again, the changes held spill to
Redis instead (as DMS spills to disk) and come back when the transaction ends, to apply in one
target transaction.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator, Mapping, Sequence

from connectors.base import Change, Conflict, OnConflict, Op, Position, TableSchema
from connectors.errors import DataError, Stop
from connectors.model.states import TableStage
from connectors.model.tablemap import TableMap

from .. import logs
from ..cache import ChangeCache
from ..job import describe_error
from ..state import StateStore
from .applier import Applier, InFlight
from .stats import Tally

log = logs.get_logger(__name__)

_ABORT = object()  # sent down a stream: the open target transaction rolls back
_END = object()  # sent down a stream: the source transaction is whole, the target commits it


def plan_part(applier: Applier, batch: Mapping[TableMap, Sequence[Change]],
              rules: Mapping[Op, OnConflict] | None, tally: Tally) -> Mapping | None:
    """Changes held, mapped, counted and planned for the target: a stream's next part (None: nothing)."""
    mapped = applier.mapped(batch)
    if not mapped:
        return None
    tally.add(mapped)
    return applier.target.plan(mapped, rules)


class Stream:
    """A source transaction going to the target part by part, into one open target transaction on the
    applier's thread."""

    def __init__(self, applier: Applier, rules: Mapping[Op, OnConflict] | None, tally: Tally) -> None:
        self.applier = applier
        self.rules = rules
        self.tally = tally
        self.parts: queue.Queue = queue.Queue(maxsize=2)
        parts = self.parts

        def consume() -> Iterator[Mapping[TableSchema, Sequence[Change]]]:
            while (part := parts.get()) is not _END:
                if part is _ABORT:
                    raise Stop("the CDC job ended with a source transaction half read")
                yield part

        def apply() -> tuple[list[Conflict], float]:
            return applier.target.apply(applier.task, consume(), rules), time.time()

        self.future = applier.thread.submit(apply)

    def send(self, part: object) -> None:
        """Put a part (None: nothing to send) or a signal down the stream, unless the apply failed."""
        if part is None:
            return
        while True:
            try:
                self.parts.put(part, timeout=0.5)
                return
            except queue.Full:
                if self.future.done():  # the apply thread failed: the error comes out at settle
                    return

    def part(self, batch: Mapping[TableMap, Sequence[Change]]) -> None:
        self.send(plan_part(self.applier, batch, self.rules, self.tally))

    def end(self, batch: Mapping[TableMap, Sequence[Change]], upto: Position | None) -> None:
        """The transaction ended: its last part goes, and the target commits it on the apply thread."""
        self.part(batch)
        self.send(_END)
        self.applier.inflight = InFlight(self.future, {}, None, upto, self.tally)

    def abort(self) -> None:
        """The job ends with the transaction half read: the open target transaction rolls back."""
        self.parts.put(_ABORT)


class Spill:
    """A live table's changes beyond MemoryLimitTotal, in Redis until their source transaction ends."""

    def __init__(self, state: StateStore, task: str, log_id: str, applier: Applier, chunk: int) -> None:
        self.cache = ChangeCache(state, task, log_id, key=StateStore.spill_key)
        self.applier = applier
        self.chunk = chunk
        self.spilled: dict[TableMap, int] = {}  # changes per table in the spill, until their transaction applies

    def __bool__(self) -> bool:
        return bool(self.spilled)

    def __len__(self) -> int:
        return sum(self.spilled.values())

    def hold(self, batch: Mapping[TableMap, Sequence[Change]]) -> int:
        """The changes held go to Redis; how many."""
        held = 0
        for table_map, items in batch.items():
            for ch in items:
                self.cache.add(ch)
            self.spilled[table_map] = self.spilled.get(table_map, 0) + len(items)
            held += len(items)
        self.cache.flush()
        return held

    def apply(self, memory: Mapping[TableMap, Sequence[Change]], upto: Position | None) -> None:
        """The transaction ended (at ``upto``): what was spilled, then what is still held, in one target
        transaction."""
        applier = self.applier
        applier.settle()
        spilled, self.spilled = self.spilled, {}
        tables = list(dict.fromkeys([*spilled, *memory]))
        applied = applier.router.applied

        def chunks(table_map: TableMap) -> Iterator[Sequence[Change]]:
            """The table's changes in order: read back from the spill, then those still held."""
            done = applied.get(table_map.target.table)
            if table_map in spilled:
                yield from self.cache.read(table_map.source.table, chunk=self.chunk, after=done)
            if memory.get(table_map):
                yield memory[table_map]

        tally = Tally(applier.router.by_target)

        def parts() -> Iterator[dict[TableSchema, list[Change]]]:
            for table_map in tables:
                for todo in chunks(table_map):
                    part = applier.mapped({table_map: todo})
                    tally.add(part)
                    yield part

        try:
            conflicts = applier.target.apply(applier.task, parts(), applier.policies.rules(False))
        except DataError as exc:
            # A table's changes fail: the transaction can no longer apply whole. Each table goes
            # through the usual handling, where its policy decides, part by part.
            log.warning("cdc_spilled_apply_failed", error=describe_error(exc))
            for table_map in tables:
                for todo in chunks(table_map):
                    applier.apply({table_map: todo})
                    if applier.router.state_of(table_map.source.table) == TableStage.FAILED:
                        break  # suspended: the rest of its changes are not applied
        else:
            applier.record(tally, conflicts)
            applier.policies.conflicted(conflicts)
        applier.applied_upto = upto
        for table_map in spilled:
            self.cache.drop(table_map.source.table)
