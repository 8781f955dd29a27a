"""The CDC job: read the source's change stream, cache or apply each change, acknowledge the source.

One job per task, single owner by lease. For each change:

- its table is live: it joins the next apply batch (skipped if the target's checkpoint for that
  table is already at or past it, as after a restart);
- its table is still loading: it goes to the table's change cache in Redis;
- when a table's load has finished ("loaded"), its cache is applied from the start, in order,
  through the same idempotent apply, and the table goes live.

Positions move only after durability: a batch is applied together with its checkpoint in one
target transaction, and the source is acknowledged only up to what is applied while no table is
still caching (until then the source keeps its log from P0, so nothing rests on Redis alone).
"""

from __future__ import annotations

import collections
import concurrent.futures
import gc
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from connectors.base import Change, Conflict, OnConflict, Op, Position, TableId, TableSchema
from connectors.errors import ApplyConflict, ConfigError, DataError, ObjectError, PositionLost, Stop
from connectors.model.states import CACHING, UNLOADED, Status, StopReason, TableStage
from connectors.model.tablemap import TableMap
from connectors.registry import open_source, open_target

from . import logs
from .cache import ChangeCache
from .job import Job, describe_error, retrying
from .precreated import put_back_aside
from .state import StateStore
from .validation import send_validation

log = logs.get_logger(__name__)

FLUSH_SECONDS = 0.25  # longest a read change waits before it is applied or cached
MIN_FLUSH_SECONDS = 0.02  # shortest gap between two flushes while changes trickle in
MAX_BATCH = 20_000  # changes per apply transaction, cut at a source transaction's end
# MemoryLimitTotal (MB) -> changes held before the rest of a source transaction spills to Redis. A
# change of a narrow row takes about 650 bytes in memory; 2 KB leaves room for wide ones.
CHANGES_PER_MB = 500
ACK_SECONDS = 1.0
GC_THRESHOLD = 100_000  # allocations between young collections (CPython's default: 700)
_DDL, _TRUNCATE = Op.DDL, Op.TRUNCATE  # looked up per change: Op.X costs ten times a global
_COUNTERS = {Op.INSERT: "Inserts", Op.UPDATE: "Updates", Op.DELETE: "Deletes", Op.TRUNCATE: "Ddls", Op.DDL: "Ddls"}


def run_cdc(job: Job) -> None:
    logs.bind(phase="cdc")
    # Every change makes a few dicts and tuples that live until their batch is applied: with the
    # default thresholds the collector rescans the worker's whole heap every few thousand changes,
    # which cost a third of the CDC path's time. What the worker holds at start is frozen out of it.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    streamed_ok_after: list[Position | None] = [None]

    def replicate() -> None:
        while True:
            try:
                return _Replicator(job, streamed_ok_after[0]).run()
            except _ReadAgain as again:
                # A streamed transaction failed to apply: read it again from the source, held and
                # spilled this time, so each table's changes can go through its error policy.
                log.warning("cdc_read_again", upto=again.upto.token, error=again.error)
                streamed_ok_after[0] = again.upto

    try:
        retrying(job, "cdc", replicate)
    except (PositionLost, ConfigError, DataError) as exc:
        job.fail_task(describe_error(exc))
        raise


class _ReadAgain(Exception):
    def __init__(self, upto: Position, error: str) -> None:
        super().__init__(error)
        self.upto, self.error = upto, error


class _Replicator:
    def __init__(self, job: Job, no_stream_until: Position | None = None) -> None:
        self.job = job
        self.task = job.task
        self.state: StateStore = job.state
        self.tables: dict[TableId, TableSchema] = self.state.tables(self.task)
        self.names = {t: str(t) for t in self.tables}  # live state is keyed by name; spelt once, not per change
        self.maps: dict[TableId, TableMap] = job.maps
        self.by_target = {m.target.table: m for m in self.maps.values()}
        self.settings = settings = job.definition.settings
        tuning = settings.tuning
        if settings.target_metadata.BatchApplyEnabled:
            # DMS's batch apply: batches gather at least BatchApplyTimeoutMin (unless full), and wait
            # at most BatchApplyTimeoutMax, which OpenDMS caps at FLUSH_SECONDS for latency's sake.
            self.min_flush = float(tuning.BatchApplyTimeoutMin)
            self.flush_seconds = max(self.min_flush, min(FLUSH_SECONDS, float(tuning.BatchApplyTimeoutMax)))
        else:
            self.min_flush = MIN_FLUSH_SECONDS
            self.flush_seconds = min(FLUSH_SECONDS, float(tuning.CommitTimeout))
        self.max_batch = tuning.BatchSplitSize or MAX_BATCH
        self.max_transaction = tuning.MemoryLimitTotal * CHANGES_PER_MB
        self.keep_truncates = settings.ddl_handling.HandleSourceTableTruncated
        self.rules = settings.errors.on_conflict()
        self.conflicts: dict[TableId, int] = defaultdict(int)  # per table, for ApplyErrorEscalationCount
        self.hook_done = bool(self.state.task(self.task).get("stop_hook_done"))
        p0 = self.state.p0(self.task)
        if p0 is None:
            raise ConfigError(f"task {self.task} has no CDC start position: start it with `dms task start`")
        self.p0 = p0
        self.cache = ChangeCache(self.state, self.task, p0.log)
        self.spill = ChangeCache(self.state, self.task, p0.log, key=StateStore.spill_key)
        self.spilled: dict[TableMap, int] = {}  # changes per table in the spill, until their transaction applies
        self.batch: dict[TableMap, list[Change]] = defaultdict(list)
        self.pending = 0
        self.committed = 0  # of the changes pending, those of whole source transactions
        self.read = 0  # changes read since the last flush (CDCThroughputRowsSource)
        self.last: Position | None = None
        self._table: TableId | None = None  # the table of the last change routed, and its route
        self._route_to: tuple[str, TableMap | None, TableId | None] = ("", None, None)
        self.applied_upto: Position | None = None  # everything read up to here is on the target
        self.inflight: _InFlight | None = None
        self.stream: _Stream | None = None  # a source transaction larger than a batch, going to the target
        self.no_stream_until = no_stream_until
        self.last_commit_read: float | None = None
        self.caught_up = False
        self.last_ack = 0.0
        self.putting_back = False

    def run(self) -> None:
        self.source = source = open_source(self.job.source_ep)
        try:
            self.target = open_target(self.job.target_ep)
        except BaseException:
            source.close()
            raise
        self.takes_text = self.target.text_engine == self.job.source_ep.engine
        reader = None
        self.applier = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cdc-apply")
        try:
            self.applied = self.target.applied(self.task)
            self.state.drop_spills(self.task)  # a spill of an earlier run is read again from the source
            self.states = self.state.table_states(self.task)
            self._drain_loaded()
            log.info("cdc_connecting", start=self.p0.token, tables=len(self.tables))
            last_flush = time.monotonic()
            opened = False
            reader = _Reader(source.stream(self.task, self.p0, list(self.tables.values())))
            for item in reader:
                if not opened:
                    opened = True
                    self.job.recovered()  # source and target answer again: a retried failure is over
                    log.info("cdc_stream_open", first=item.token if isinstance(item, Position) else item.position.token)
                if isinstance(item, Position):
                    # A transaction boundary: batches are cut only here, so the target never shows
                    # part of a source transaction (one too large to hold is spilled, below).
                    if self.last is None or item > self.last:
                        self.last = item
                    self.caught_up = item.minor == 0  # an idle heartbeat, not the end of a transaction
                    if self.inflight is not None and self.inflight.future.done():
                        self._settle()  # statistics as soon as the target has it
                    waited = time.monotonic() - last_flush
                    # Flush when nothing more is read yet (low latency), else in big batches (speed).
                    if self.pending >= self.max_batch or waited >= self.flush_seconds or (
                            waited >= self.min_flush and reader.idle()):
                        self._flush(source)
                        last_flush = time.monotonic()
                        self.job.check()
                    self.committed = self.pending
                else:
                    self._route(item)
                    # Whole transactions held wait for their end, where the batch is cut; only one
                    # larger than a batch by itself streams.
                    if self.pending >= self.max_batch and (
                            self.stream is not None or self.pending - self.committed >= self.max_batch) and \
                            self._may_stream():
                        self._stream_part()
                    elif self.pending >= self.max_transaction:
                        self._spill()
        except Stop:
            self._flush(None)  # keep what was read before stopping
            self._settle()
            # Sent as the stream closes: a resumed task is not sent again what the target has already,
            # and the source's log is not held for it while the task is stopped.
            self._ack(source)
            raise
        finally:
            if self.stream is not None:  # the open target transaction rolls back
                self.stream.parts.put(_ABORT)
            self.applier.shutdown(wait=True)  # the target's connection is the apply thread's until then
            if reader is not None:
                reader.close()
            source.close()
            self.target.close()

    def _route(self, ch: Change) -> None:
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
            if table_state != TableStage.FAILED:
                self._schema_changed(ch)
            return
        if ch.op is _TRUNCATE and not self.keep_truncates:
            return  # ChangeProcessingDdlHandlingPolicy.HandleSourceTableTruncated is off
        if table_state == TableStage.LIVE:
            done = self.applied.get(target)
            if done is None or ch.position.major > done.major or ch.position > done:
                self.batch[mapped].append(ch)
                self.pending += 1
        elif table_state in CACHING:
            self.cache.add(ch)
            self.pending += 1
        # failed tables (Table error) are suspended: their changes are not applied

    def _flush(self, source) -> None:
        self.cache.flush()
        in_memory = sum(len(items) for items in self.batch.values())
        caching_tables = [t for t, s in self.states.items() if s in CACHING]
        cached = self.state.cached_changes(self.task, caching_tables) if caching_tables else 0
        cached += sum(self.spilled.values())
        oldest = min((items[0].commit_time for items in self.batch.values() if items and items[0].commit_time),
                     default=None)
        self._apply_batch()
        self.pending = 0
        if self.read:
            self.state.count(self.task, CDCRowsSource=self.read)
            self.read = 0
        now = time.time()
        # The backlog as this flush found it: DMS's CDCIncomingChanges is what waits to be applied.
        # cdc_reported: readers add the time since it to the latencies once it is stale (worker/metrics.py).
        fields: dict[str, object] = {"CDCChangesMemoryTarget": in_memory, "CDCChangesDiskTarget": cached,
                                     "CDCIncomingChanges": in_memory + cached, "cdc_reported": now}
        if self.last is not None:
            fields["cdc_read"] = self.last
        if self.caught_up and not in_memory and not cached:
            # Nothing waiting on either side: DMS reports no latency rather than the age of the last change.
            fields["CDCLatencySource"] = fields["CDCLatencyTarget"] = 0.0
        else:
            if self.last_commit_read is not None:
                fields["CDCLatencySource"] = round(max(0.0, now - self.last_commit_read), 3)
            if oldest is not None:  # going to the target now; the apply thread's figure follows when it is in
                fields["CDCLatencyTarget"] = round(max(0.0, now - oldest), 3)
        self.state.set_task(self.task, **fields)
        self.states = self.state.table_states(self.task)
        self._stop_hooks()
        self._drain_loaded()
        self._stop_hooks()
        if source is not None and now - self.last_ack >= ACK_SECONDS:
            self._ack(source)

    def _ack(self, source) -> None:
        """Acknowledge the source up to what the target has, so that it can free its log."""
        # While any table still caches, the source keeps its log from P0: a lost cache can be re-read.
        # A task that failed on a batch (STOP_TASK) reads it again when resumed: the source keeps it.
        # No table states at all: the live state vanished (the job fails at its next check).
        upto = self.applied_upto
        if upto is None or self.job.failed or not self.states or any(s in CACHING for s in self.states.values()):
            return
        source.ack(upto)
        # Everything up to here is on the target: a new cdc task may start from it.
        self.state.set_task(self.task, cdc_acked=upto, RecoveryCheckpoint=upto.token)
        self.last_ack = time.time()

    def _spill(self) -> None:
        """MemoryLimitTotal reached inside a source transaction: the changes held go to Redis, as DMS
        spills to disk, and come back when the transaction ends, to apply in one target transaction."""
        held = 0
        for table_map, items in self.batch.items():
            for ch in items:
                self.spill.add(ch)
            self.spilled[table_map] = self.spilled.get(table_map, 0) + len(items)
            held += len(items)
        self.spill.flush()
        self.cache.flush()
        self.batch = defaultdict(list)
        self.pending = 0
        log.info("cdc_spilled", changes=held, spilled=sum(self.spilled.values()))

    def _apply_batch(self) -> None:
        """Apply what was read since the last flush (its spilled part first) in one target transaction."""
        if self.stream is not None:
            self._end_stream()
        elif self.spilled:
            self._apply_spilled()
        elif self.batch:
            self._submit(self.batch)
        else:
            self._settle()
            self.applied_upto = self.last
        self.batch = defaultdict(list)

    def _apply_spilled(self) -> None:
        self._settle()
        spilled, self.spilled = self.spilled, {}
        memory, self.batch = self.batch, defaultdict(list)
        tables = list(dict.fromkeys([*spilled, *memory]))

        def chunks(table_map: TableMap) -> Iterator[list[Change]]:
            """The table's changes in order: read back from the spill, then those still held."""
            done = self.applied.get(table_map.target.table)
            if table_map in spilled:
                yield from self.spill.read(table_map.source.table, chunk=min(self.max_batch, 5_000), after=done)
            if memory.get(table_map):
                yield memory[table_map]

        tally = _Tally(self.by_target)

        def parts() -> Iterator[dict[TableSchema, list[Change]]]:
            for table_map in tables:
                for todo in chunks(table_map):
                    part = self._mapped({table_map: todo})
                    tally.add(part)
                    yield part

        try:
            conflicts = self.target.apply(self.task, parts(), self._rules(False))
        except DataError as exc:
            # A table's changes fail: the transaction can no longer apply whole. Each table goes
            # through the usual handling, where its policy decides, part by part.
            log.warning("cdc_spilled_apply_failed", error=describe_error(exc))
            for table_map in tables:
                for todo in chunks(table_map):
                    self._apply({table_map: todo})
                    if self.states.get(self.names.get(table_map.source.table, "")) == TableStage.FAILED:
                        break  # suspended: the rest of its changes are not applied
        else:
            self._applied(tally, conflicts)
            self._conflicted(conflicts)
        self.applied_upto = self.last
        for table_map in spilled:
            self.spill.drop(table_map.source.table)

    def _mapped(self, changes: Mapping[TableMap, Sequence[Change]]) -> dict[TableSchema, list[Change]]:
        """Source changes -> the target's (renamed, filtered, computed), tables left with none dropped; a
        table whose rules fail is suspended."""
        out: dict[TableSchema, list[Change]] = {}
        for mapped, items in changes.items():
            if items and items[0].text:
                # One form per table and batch (net effects key rows by their values): text all the way
                # when the target speaks the source's text and no rule touches a value, else decoded.
                if self.takes_text and (mapped.identity or all(mapped.keeps(ch) for ch in items)):
                    out[mapped.target] = list(items)
                    continue
                items = [self.source.decode(mapped.source, ch) for ch in items]
            if mapped.identity:
                out[mapped.target] = list(items)
                continue
            try:
                out[mapped.target] = [c for ch in items for c in mapped.changes(ch)]
            except DataError as exc:
                self._data_error(mapped, exc)
                continue
            truncated = mapped.take_truncations()
            if truncated:
                log.warning("lob_truncated", table=str(mapped.source.table), values=truncated)
                self.state.add_stats(self.task, {str(mapped.source.table): {"LobTruncations": truncated}})
        return {schema: items for schema, items in out.items() if items}

    def _apply(self, changes: Mapping[TableMap, Sequence[Change]], cached: bool = False) -> None:
        self._settle()
        mapped = self._mapped(changes)
        if not mapped:
            return
        try:
            conflicts = self.target.apply(self.task, mapped, self._rules(cached))
        except DataError as exc:
            self._apply_failed(changes, mapped, exc, cached)
            return
        self._applied(mapped, conflicts)
        self._conflicted(conflicts)

    def _apply_failed(self, changes: Mapping[TableMap, Sequence[Change]],
                      mapped: Mapping[TableSchema, Sequence[Change]], exc: DataError, cached: bool) -> None:
        """Nothing of the batch was applied: find the table at fault, the others go on."""
        if len(changes) > 1:
            for table_map, items in changes.items():
                self._apply({table_map: items}, cached)
            return
        (table_map,) = changes
        if isinstance(exc, ApplyConflict):
            self._stop_on_conflict(table_map, exc)
        else:
            self._data_error(table_map, exc, mapped.get(table_map.target, []), cached)

    def _submit(self, changes: Mapping[TableMap, Sequence[Change]]) -> None:
        """Apply a batch on the apply thread: reading, routing and collapsing the next batch go on
        while the target works on this one. At most one batch is in flight; this one is planned while
        the last one is still in the target."""
        mapped = self._mapped(changes)
        upto = self.last
        rules = self._rules(False)
        planned = self.target.plan(mapped, rules) if mapped else None
        self._settle()
        if not mapped:
            self.applied_upto = upto
            return

        def apply() -> tuple[list[Conflict], float]:
            return self.target.apply(self.task, planned, rules), time.time()

        self.inflight = _InFlight(self.applier.submit(apply), changes, mapped, upto)

    def _settle(self) -> None:
        """Wait for the batch in flight, then account for it as _apply does."""
        if self.stream is not None:
            self._end_stream()
        flight, self.inflight = self.inflight, None
        if flight is None:
            return
        try:
            conflicts, finished = flight.future.result()
        except DataError as exc:
            if flight.mapped is None:  # streamed: its parts are gone from memory, the source has them
                raise _ReadAgain(flight.upto, describe_error(exc)) from None
            self._apply_failed(flight.changes, flight.mapped, exc, False)
        else:
            self._applied(flight.mapped if flight.mapped is not None else flight.tally, conflicts, finished)
            self._conflicted(conflicts)
        self.applied_upto = flight.upto

    def _may_stream(self) -> bool:
        """A transaction larger than a batch streams to the target unless MemoryLimitTotal is below a
        batch (then it spills), or it is being read again after a streamed apply failed."""
        return (not self.spilled and self.max_batch <= self.max_transaction and
                (self.no_stream_until is None or self.last is None or self.last > self.no_stream_until))

    def _stream_part(self) -> None:
        """The transaction being read is larger than a batch: what is held so far goes into a target
        transaction that stays open, and the rest follows part by part as it is read, so memory
        stays bounded and the target still shows the transaction whole, once it commits."""
        self.cache.flush()
        self.pending = 0
        if self.stream is not None:
            self.stream.send(self._plan_held(self.stream.rules, self.stream.tally))
            return
        rules, tally = self._rules(False), _Tally(self.by_target)
        first = self._plan_held(rules, tally)  # while the last batch is still in the target
        self._settle()
        parts: queue.Queue = queue.Queue(maxsize=2)

        def consume() -> Iterator[Mapping[TableSchema, Sequence[Change]]]:
            while (part := parts.get()) is not _END:
                if part is _ABORT:
                    raise Stop("the CDC job ended with a source transaction half read")
                yield part

        def apply() -> tuple[list[Conflict], float]:
            return self.target.apply(self.task, consume(), rules), time.time()

        self.stream = _Stream(parts, self.applier.submit(apply), tally, rules)
        log.info("cdc_streaming", position=self.last.token if self.last else None)
        self.stream.send(first)

    def _end_stream(self) -> None:
        """The transaction ended: its last part goes, and the target commits it on the apply thread."""
        stream, self.stream = self.stream, None
        stream.send(self._plan_held(stream.rules, stream.tally))
        stream.send(_END)
        self.inflight = _InFlight(stream.future, {}, None, self.last, stream.tally)

    def _plan_held(self, rules: Mapping[Op, OnConflict] | None, tally: _Tally) -> Mapping | None:
        """What is held so far, mapped, counted and planned for the target: a stream's next part."""
        mapped = self._mapped(self.batch)
        self.batch = defaultdict(list)
        if not mapped:
            return None
        tally.add(mapped)
        return self.target.plan(mapped, rules)

    def _rules(self, cached: bool) -> Mapping[Op, OnConflict] | None:
        """ErrorBehavior's ApplyError*Policy; over a fresh load, FullLoadIgnoreConflicts resolves instead."""
        return None if cached and self.settings.errors.FullLoadIgnoreConflicts else self.rules

    def _conflicted(self, conflicts: Sequence[Conflict]) -> None:
        """Changes left out under IGNORE_RECORD or LOG_ERROR: logged, kept in the exceptions table, and
        counted towards ApplyErrorEscalationCount."""
        errors = self.settings.errors
        for c in conflicts:
            table_map = self.by_target[c.table.table]
            table = table_map.source.table
            key, policy = errors.policy(c.change.op)
            if policy == "LOG_ERROR":
                log.warning("apply_conflict", table=str(table), op=c.change.op.value,
                            position=c.change.position.token, error=c.error, policy=f"{key} {policy}")
                self.target.record_exception(self.task, c.table, self._shown(table_map, c.change), c.error)
            if self.states.get(self.names.get(table, str(table))) == TableStage.FAILED:
                continue
            self.conflicts[table] += 1
            limit = errors.ApplyErrorEscalationCount
            if limit and self.conflicts[table] >= limit and errors.ApplyErrorEscalationPolicy != "LOG_ERROR":
                self._escalate(table, errors.ApplyErrorEscalationPolicy,
                               f"{self.conflicts[table]} apply conflicts on {table} reached "
                               f"ApplyErrorEscalationCount {limit} (last: {c.error})")
        if conflicts:
            log.info("apply_conflicts", changes=len(conflicts))

    def _stop_on_conflict(self, table_map: TableMap, exc: ApplyConflict) -> None:
        """A conflict under SUSPEND_TABLE or STOP_TASK: nothing of the batch was applied."""
        change = exc.conflicts[0].change
        key, policy = self.settings.errors.policy(change.op)
        self.target.record_exception(self.task, table_map.target, self._shown(table_map, change), exc.message)
        self._escalate(table_map.source.table, policy,
                       f"a change to {table_map.source.table} found the target other than it expected "
                       f"({exc.message}) and {key} is {policy}; fix the row on the target and resume the task, "
                       "or reload the table")

    def _escalate(self, table: TableId, policy: str, message: str) -> None:
        if policy == "STOP_TASK":  # the job stops at its next check
            self.job.fail_task(message)
            self.states[str(table)] = TableStage.FAILED
        else:
            self._suspend(table, DataError(message))

    def _shown(self, table_map: TableMap, change: Change) -> Change:
        """A change with its values as values, however they travelled (for the exceptions table)."""
        return self.source.decode(table_map.source, change) if change.text else change

    def _applied(self, mapped: Mapping[TableSchema, Sequence[Change]] | _Tally,
                 skipped: Sequence[Conflict] = (), finished: float | None = None) -> None:
        tally = mapped if isinstance(mapped, _Tally) else _Tally(self.by_target).add(mapped)
        tally.skip(skipped)
        if not tally.last:
            return
        self.applied.update(tally.last)
        self.state.add_stats(self.task, tally.counts, rates={"CDCRowsTarget": tally.applied})
        # DMS's CDCLatencyTarget: the oldest change that was waiting for the target, until it is applied.
        finished = finished or time.time()
        latency = round(max(0.0, finished - tally.oldest), 3) if tally.oldest is not None else None
        log.info("cdc_applied", changes=tally.applied, tables=len(tally.counts),
                 position=max(tally.last.values()).token, latency=latency)
        if latency is not None:
            self.state.set_task(self.task, CDCLatencyTarget=latency, cdc_applied_time=finished)

    def _schema_changed(self, ch: Change) -> None:
        """Columns added or dropped on the source: applying on would lose data, so the table stops here."""
        planned = self.tables[ch.table].column_names
        now = (ch.after or {}).get("columns", [])
        added = [c for c in now if c not in planned]
        dropped = [c for c in planned if c not in now]
        self._apply_batch()  # what came before the change still applies
        self.state.add_stats(self.task, {str(ch.table): {"Ddls": 1}})
        detail = "; ".join(part for part in (f"added {', '.join(added)}" if added else "",
                                             f"dropped {', '.join(dropped)}" if dropped else "") if part)
        self._suspend(ch.table, DataError(
            f"columns of {ch.table} changed on the source ({detail or 'reordered'}) after the task started; "
            "DDL is not replicated yet: make the same change on the target, then reload the table with "
            "`dms task start --type reload-target`"))

    def _data_error(self, mapped: TableMap, exc: DataError, changes: Sequence[Change] = (),
                    cached: bool = False) -> None:
        """A table's changes could not be applied: ErrorBehavior.DataErrorPolicy decides what follows,
        unless the table itself refuses them (ObjectError): then it fails at once, under TableErrorPolicy."""
        if isinstance(exc, ObjectError):
            self._suspend(mapped.source.table, exc)
            return
        policy = self.settings.errors.DataErrorPolicy
        if policy == "STOP_TASK":  # the job stops at its next check
            self.job.fail_task(f"changes to {mapped.source.table} could not be applied and DataErrorPolicy is "
                               f"STOP_TASK: {describe_error(exc)}")
            self.states[str(mapped.source.table)] = TableStage.FAILED
            return
        if policy == "SUSPEND_TABLE" or not changes:
            self._suspend(mapped.source.table, exc)
            return
        # IGNORE_RECORD, LOG_ERROR: apply one change at a time; the ones that fail are skipped (and logged)
        for ch in changes:
            try:
                conflicts = self.target.apply(self.task, {mapped.target: [ch]}, self._rules(cached))
            except ApplyConflict as conflict:
                self._stop_on_conflict(mapped, conflict)
                return
            except ObjectError as refused:
                self._suspend(mapped.source.table, refused)
                return
            except DataError as one:
                log.warning("change_skipped", table=str(mapped.source.table), op=ch.op.value,
                            position=ch.position.token, error=describe_error(one), policy=policy)
                if policy == "LOG_ERROR":
                    self.target.record_exception(self.task, mapped.target, self._shown(mapped, ch),
                                                 describe_error(one))
                continue
            self._applied({mapped.target: [ch]}, conflicts)
            self._conflicted(conflicts)
            if self.states.get(str(mapped.source.table)) == TableStage.FAILED:
                return

    def _suspend(self, table: TableId, exc: Exception) -> None:
        self.job.fail_table(table, describe_error(exc))
        self.states[str(table)] = TableStage.FAILED

    def _stop_hooks(self) -> None:
        """FullLoadSettings.StopTaskCachedChanges(Not)Applied: stop once every load is done (once per start)."""
        full = self.settings.full_load
        states = set(self.states.values())
        if self.hook_done or states & set(UNLOADED):
            return
        reason = None
        if full.StopTaskCachedChangesNotApplied and TableStage.LOADED in states:
            reason = StopReason.STOPPED_AFTER_FULL_LOAD
        elif full.StopTaskCachedChangesApplied and TableStage.LOADED not in states:
            reason = StopReason.STOPPED_AFTER_CACHED_EVENTS
        if reason:
            log.info("task_stopping", reason=reason)
            self.state.set_task(self.task, Status=Status.STOPPING, pending_stop_reason=reason, stop_hook_done=1)
            self.hook_done = True
            raise Stop(reason)

    def _drain_loaded(self) -> None:
        """Apply the cache of every table whose load has finished, then switch it to live."""
        for name, table_state in list(self.states.items()):
            if table_state != TableStage.LOADED:
                continue
            self._settle()
            table = TableId.parse(name)
            mapped = self.maps[table]
            logs.bind(table=name)
            started, count = time.monotonic(), 0
            done = self.applied.get(mapped.target.table)
            exact = self.state.snapshot_position(self.task, table)  # a keyless table's: changes before it are loaded
            if exact is not None and (done is None or done < Position(self.cache.log, exact, 0)):
                done = Position(self.cache.log, exact, 0)
            for chunk in self.cache.read(table, after=done):
                self._apply({mapped: chunk}, cached=True)
                count += len(chunk)
                if self.states.get(name) == TableStage.FAILED:
                    break
                self.job.check()
            if self.states.get(name) == TableStage.FAILED:
                pass
            elif self.state.set_table_state(self.task, table, TableStage.LIVE):
                self.states[name] = TableStage.LIVE
                self.cache.drop(table)
                send_validation(self.job, table)  # the table has caught up: EnableValidation compares it now
            else:  # failed meanwhile by another job: its cache is not applied again
                self.states[name] = TableStage.FAILED
            log.info("cached_changes_applied", changes=count, seconds=round(time.monotonic() - started, 3))
            logs.unbind("table")
        self._put_back()

    def _put_back(self) -> None:
        """Once every table is live, what the task's start set aside on the target (foreign keys, triggers)
        comes back (Target.after_load) as far as it may while changes apply: on a thread with a connection of
        its own, so that validating a key holds no change up. Once per run; nothing to do costs one query."""
        if self.putting_back or self.settings.prep_mode == "drop" or any(s in CACHING for s in self.states.values()):
            return
        self.putting_back = True
        put_back_aside(self.job)


@dataclass
class _InFlight:
    """A batch on the apply thread, and what accounting for it needs (a streamed one: its tally)."""

    future: concurrent.futures.Future
    changes: Mapping[TableMap, Sequence[Change]]
    mapped: dict[TableSchema, list[Change]] | None
    upto: Position | None
    tally: _Tally | None = None


_ABORT = object()  # sent down a stream: the open target transaction rolls back
_END = object()  # sent down a stream: the source transaction is whole, the target commits it


@dataclass
class _Stream:
    """A source transaction going to the target part by part, into one open target transaction."""

    parts: queue.Queue
    future: concurrent.futures.Future
    tally: _Tally
    rules: Mapping[Op, OnConflict] | None

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


class _Tally:
    """What an apply did, for the statistics: counted as its changes go by, so a spilled source
    transaction is never held whole."""

    def __init__(self, by_target: Mapping[TableId, TableMap]) -> None:
        self.by_target = by_target
        self.counts: dict[str, dict[str, int]] = {}
        self.last: dict[TableId, Position] = {}
        self.oldest: float | None = None
        self.applied = 0

    def add(self, mapped: Mapping[TableSchema, Sequence[Change]]) -> _Tally:
        for schema, items in mapped.items():
            if not items:
                continue
            self.last[schema.table] = items[-1].position
            c = self.counts.setdefault(str(self.by_target[schema.table].source.table), {})
            for ch in items:
                name = _COUNTERS[ch.op]
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
            counts[_COUNTERS[c.change.op]] -= 1
            self.applied -= 1


class _Reader:
    """The change stream, read on a thread of its own: decoding the next changes overlaps applying
    the last ones. Items travel in lists (a transaction's end closes one); the reader may run up to
    AHEAD items ahead of the applier, so it keeps reading while a batch is in the target."""

    LIST = 2_000
    AHEAD = 3 * MAX_BATCH

    def __init__(self, stream: Iterator[Change | Position]) -> None:
        self.stream = stream
        self.lists: collections.deque = collections.deque()
        self.held = 0  # items in self.lists
        self.ready = threading.Condition()
        self.stopping = threading.Event()
        self.left = 0  # items of the current list not handed on yet
        self.thread = threading.Thread(target=self._read, daemon=True, name="cdc-reader")
        self.thread.start()

    def _read(self) -> None:
        items: list = []
        try:
            for item in self.stream:
                items.append(item)
                if type(item) is Position or len(items) >= self.LIST:
                    self._put(items, len(items))
                    items = []
                    if self.stopping.is_set():
                        return
        except BaseException as exc:  # raised on the applier's thread, after what was read before it
            self._put(exc, 0)
        finally:
            self.stream.close()

    def _put(self, what: object, size: int) -> None:
        with self.ready:
            while self.held and self.held + size > self.AHEAD and not self.stopping.is_set():
                self.ready.wait(0.2)
            self.lists.append(what)
            self.held += size
            self.ready.notify_all()

    def __iter__(self) -> Iterator[Change | Position]:
        while True:
            with self.ready:
                while not self.lists:
                    self.ready.wait()
                what = self.lists.popleft()
                if isinstance(what, BaseException):
                    raise what
                self.held -= len(what)
                self.ready.notify_all()
            # self.left counts down as each item goes: the loop target itself, no statement per item
            for self.left, item in zip(range(len(what) - 1, -1, -1), what, strict=True):
                yield item

    def idle(self) -> bool:
        """Everything read so far has been handed on."""
        return self.left == 0 and not self.lists

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
