"""Per-table routing of the changes read: to the next apply batch, to the change cache, or nowhere.

- a live table's change joins the batch, unless the target's checkpoint for that table is already
  at or past it (as after a restart);
- a change of a table still loading (pending, loading, loaded) goes to the table's change cache;
- a failed table's changes are dropped (the table is suspended); a truncate is dropped unless
  HandleSourceTableTruncated; a schema change goes to ``on_ddl`` (ddl.py), also for a table not
  planned (a table created on the source), unless the target's checkpoint is past it.

This is the CDC path's per-change work: it is kept to a few dict look-ups per change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from connectors.base import Change, Op, Position, TableId, TableSchema
from connectors.model.states import CACHING, TableStage
from connectors.model.tablemap import TableMap

from ..cache import ChangeCache

# Looked up per change: Op.X or TableStage.X costs ten times a global.
_DDL, _TRUNCATE = Op.DDL, Op.TRUNCATE
_LIVE, _FAILED = TableStage.LIVE, TableStage.FAILED


class Router:
    """Routes changes by their table's state; holds the batch being gathered and where reading is."""

    def __init__(self, tables: Mapping[TableId, TableSchema], maps: Mapping[TableId, TableMap], cache: ChangeCache,
                 *, keep_truncates: bool, on_ddl: Callable[[Change], None]) -> None:
        self.tables = tables
        self.names = {t: str(t) for t in tables}  # live state is keyed by name; spelt once, not per change
        self.maps = maps
        self.by_target = {m.target.table: m for m in maps.values()}
        self.cache = cache
        self.keep_truncates = keep_truncates
        self.on_ddl = on_ddl
        self.states: dict[str, TableStage] = {}  # table name -> state, as the last flush read it
        self.applied: dict[TableId, Position] = {}  # target table -> the target's checkpoint
        self.batch: dict[TableMap, list[Change]] = defaultdict(list)
        self.pending = 0  # changes batched or cached since the last flush
        self.committed = 0  # of the changes pending, those of whole source transactions
        self.read = 0  # changes read since the last flush (CDCThroughputRowsSource)
        self.last: Position | None = None
        self.last_commit_read: float | None = None
        self.caught_up = False
        self._table: TableId | None = None  # the table of the last change routed, and its route
        self._route_to: tuple[str, TableMap | None, TableId | None] = ("", None, None)

    def route(self, ch: Change) -> None:
        self.read += 1
        self.last = ch.position
        self.caught_up = False
        self.last_commit_read = ch.commit_time
        table = ch.table
        if table is not self._table:  # changes come in runs of one table: resolve its route once per run
            self._table = table
            mapped = self.maps.get(table)
            self._route_to = (self.names.get(table) or str(table), mapped, mapped and mapped.target.table)
        name, mapped, target = self._route_to
        table_state = self.states.get(name)
        if ch.op is _DDL:
            done = self.applied.get(target) if target is not None else None
            if table_state != _FAILED and (done is None or ch.position > done):  # not applied before a restart
                self.on_ddl(ch)
            return
        if ch.op is _TRUNCATE and not self.keep_truncates:
            return  # ChangeProcessingDdlHandlingPolicy.HandleSourceTableTruncated is off
        if table_state == _LIVE:
            done = self.applied.get(target)
            if done is None or ch.position.major > done.major or ch.position > done:
                self.batch[mapped].append(ch)
                self.pending += 1
        elif table_state in CACHING:
            self.cache.add(ch)
            self.pending += 1
        # failed tables (Table error) are suspended: their changes are not applied

    def floor(self, target: TableId, at: Position) -> None:
        """The target table holds its changes up to ``at`` already (a keyless table's load snapshot): those
        are not applied again, neither from its cache nor once it is live."""
        done = self.applied.get(target)
        if done is None or done < at:
            self.applied[target] = at

    def reset_route(self) -> None:
        """Tables were added, renamed or dropped: routes are resolved again."""
        self._table = None

    def boundary(self, end: Position) -> None:
        """A transaction's end (or an idle heartbeat, minor 0) was read."""
        if self.last is None or end > self.last:
            self.last = end
        self.caught_up = end.minor == 0  # an idle heartbeat, not the end of a transaction

    def take(self) -> dict[TableMap, list[Change]]:
        """The batch gathered so far; a new one begins."""
        batch, self.batch = self.batch, defaultdict(list)
        return batch

    def in_memory(self) -> int:
        return sum(len(items) for items in self.batch.values())

    def oldest(self) -> float | None:
        """The commit time of the oldest change batched, if the source gives one."""
        return min((items[0].commit_time for items in self.batch.values() if items and items[0].commit_time),
                   default=None)

    def caching(self) -> list[str]:
        """The tables whose changes go to the change cache."""
        return [t for t, s in self.states.items() if s in CACHING]

    def state_of(self, table: TableId) -> TableStage | None:
        return self.states.get(self.names.get(table) or str(table))

    def failed(self, table: TableId) -> None:
        self.states[str(table)] = TableStage.FAILED
