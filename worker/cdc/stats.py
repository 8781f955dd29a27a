"""CDC statistics: what an apply did per table (a tally), and the task's backlog and latencies.

DMS's figures as the CDC job keeps them in the live state: per table Inserts/Updates/Deletes/Ddls,
the task's CDCRowsSource/CDCRowsTarget rates, CDCChangesMemoryTarget/CDCChangesDiskTarget/
CDCIncomingChanges (what waits to be applied) and CDCLatencySource/CDCLatencyTarget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from connectors.base import Change, Conflict, Op, Position, TableId, TableSchema
from connectors.model.tablemap import TableMap

from .. import logs, series
from ..state import StateStore

log = logs.get_logger(__name__)

COUNTERS = {Op.INSERT: "Inserts", Op.UPDATE: "Updates", Op.DELETE: "Deletes", Op.TRUNCATE: "Ddls", Op.DDL: "Ddls"}


class Tally:
    """What an apply did, for the statistics: counted as its changes go by, so a spilled source
    transaction is never held whole."""

    def __init__(self, by_target: Mapping[TableId, TableMap]) -> None:
        self.by_target = by_target
        self.counts: dict[str, dict[str, int]] = {}
        self.last: dict[TableId, Position] = {}
        self.oldest: float | None = None
        self.applied = 0

    def add(self, mapped: Mapping[TableSchema, Sequence[Change]]) -> Tally:
        for schema, items in mapped.items():
            if not items:
                continue
            self.last[schema.table] = items[-1].position
            c = self.counts.setdefault(str(self.by_target[schema.table].source.table), {})
            for ch in items:
                name = COUNTERS[ch.op]
                c[name] = c.get(name, 0) + 1
            self.applied += len(items)
            t = items[0].commit_time
            if t is not None and (self.oldest is None or t < self.oldest):
                self.oldest = t
        return self

    def skip(self, conflicts: Sequence[Conflict]) -> None:
        """Changes left out under the apply-error policies were not applied."""
        for c in conflicts:
            counts = self.counts[str(self.by_target[c.table.table].source.table)]
            counts[COUNTERS[c.change.op]] -= 1
            self.applied -= 1


def backlog(*, in_memory: int, cached: int, last: Position | None, caught_up: bool,
            last_commit_read: float | None, oldest: float | None, now: float) -> dict[str, object]:
    """The task's fields as a flush found it: DMS's CDCIncomingChanges is what waits to be applied.
    cdc_reported: readers add the time since it to the latencies once it is stale (worker/metrics.py)."""
    fields: dict[str, object] = {"CDCChangesMemoryTarget": in_memory, "CDCChangesDiskTarget": cached,
                                 "CDCIncomingChanges": in_memory + cached, "cdc_reported": now}
    if last is not None:
        fields["cdc_read"] = last
    if caught_up and not in_memory and not cached:
        # Nothing waiting on either side: DMS reports no latency rather than the age of the last change.
        fields["CDCLatencySource"] = fields["CDCLatencyTarget"] = 0.0
    else:
        if last_commit_read is not None:
            fields["CDCLatencySource"] = round(max(0.0, now - last_commit_read), 3)
        if oldest is not None:  # going to the target now; the apply thread's figure follows when it is in
            fields["CDCLatencyTarget"] = round(max(0.0, now - oldest), 3)
    return fields


class Statistics:
    """The CDC job's figures, written to the task's live state."""

    def __init__(self, state: StateStore, task: str) -> None:
        self.state = state
        self.task = task

    def read(self, changes: int) -> None:
        """Changes read from the source since the last flush (CDCThroughputRowsSource)."""
        if changes:
            self.state.count(self.task, CDCRowsSource=changes)

    def report(self, **found: object) -> None:
        """The backlog and latencies a flush found (see :func:`backlog`)."""
        fields = backlog(**found)  # type: ignore[arg-type]
        self.state.set_task(self.task, **fields)
        series.add_latencies(self.state.r, self.task, time.time(), fields)

    def applied(self, tally: Tally, finished: float | None = None) -> None:
        """An apply is on the target: its counts, its rate and DMS's CDCLatencyTarget, the oldest change
        that was waiting for the target, until it is applied."""
        self.state.add_stats(self.task, tally.counts, rates={"CDCRowsTarget": tally.applied})
        finished = finished or time.time()
        latency = round(max(0.0, finished - tally.oldest), 3) if tally.oldest is not None else None
        log.info("cdc_applied", changes=tally.applied, tables=len(tally.counts),
                 position=max(tally.last.values()).token, latency=latency)
        if latency is not None:
            self.state.set_task(self.task, CDCLatencyTarget=latency, cdc_applied_time=finished)
            series.add_latencies(self.state.r, self.task, finished, {"CDCLatencyTarget": latency})

    def table(self, table: TableId, **counts: int) -> None:
        """Counts of one table outside an apply (Ddls, LobTruncations)."""
        self.state.add_stats(self.task, {str(table): counts})
