"""The CDC job's loop: read, route, flush at transaction ends, drain caches of loaded tables, acknowledge.

The parts it drives: reader.py (the source's stream on a thread), router.py (per-table routing and the
change cache), batching.py (when a batch is cut), applier.py (apply with checkpoint, in flight),
policies.py (error policies), large.py (streamed and spilled transactions), stats.py (figures).
"""

from __future__ import annotations

import gc
import time

from connectors.base import Change, Position, TableId
from connectors.errors import ConfigError, DataError, PositionLost, Stop
from connectors.model.states import CACHING, UNLOADED, Status, StopReason, TableStage
from connectors.registry import open_source, open_target

from .. import logs, reloads
from ..cache import ChangeCache
from ..job import Job, describe_error, retrying
from ..precreated import put_back_aside
from ..validation import send_validation
from .applier import Applier, ReadAgain
from .batching import Batching
from .ddl import SchemaChanges
from .large import Spill, Stream, plan_part
from .policies import ErrorPolicies
from .reader import Reader
from .router import Router
from .stats import Statistics, Tally

log = logs.get_logger(__name__)

ACK_SECONDS = 1.0
GC_THRESHOLD = 100_000  # allocations between young collections (CPython's default: 700)
SPILL_CHUNK = 5_000  # changes read back from a spill at a time (at most a batch)


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
                return Replicator(job, streamed_ok_after[0]).run()
            except ReadAgain as again:
                # A streamed transaction failed to apply: read it again from the source, held and
                # spilled this time, so each table's changes can go through its error policy.
                log.warning("cdc_read_again", upto=again.upto.token, error=again.error)
                streamed_ok_after[0] = again.upto

    try:
        retrying(job, "cdc", replicate)
    except (PositionLost, ConfigError, DataError) as exc:
        job.fail_task(describe_error(exc))
        raise


class Replicator:
    def __init__(self, job: Job, no_stream_until: Position | None = None) -> None:
        self.job = job
        self.task = job.task
        self.state = job.state
        tables, maps = self.state.tables(self.task), job.maps
        self.settings = settings = job.definition.settings
        self.batching = Batching.of(settings)
        self.hook_done = bool(self.state.task(self.task).get("stop_hook_done"))
        p0 = self.state.p0(self.task)
        if p0 is None:
            raise ConfigError(f"task {self.task} has no CDC start position: start it with `dms task start`")
        self.p0 = p0
        self.start = self.state.resume_at(self.task) or p0
        self.cache = ChangeCache(self.state, self.task, p0.log)
        self.router = Router(tables, maps, self.cache,
                             keep_truncates=settings.ddl_handling.HandleSourceTableTruncated,
                             on_ddl=self._schema_changed)
        self.policies = ErrorPolicies(self.task, settings.errors, self.router, job)
        self.schema_changes = SchemaChanges(self)
        self.stats = Statistics(self.state, self.task)
        self.stream: Stream | None = None  # a source transaction larger than a batch, going to the target
        self.no_stream_until = no_stream_until
        self.last_ack = 0.0
        self.putting_back = False

    def run(self) -> None:
        self.source = source = open_source(self.job.source_ep)
        try:
            self.target = open_target(self.job.target_ep)
        except BaseException:
            source.close()
            raise
        router, batching = self.router, self.batching
        self.policies.source, self.policies.target = source, self.target
        self.applier = Applier(self.task, source, self.target, router, self.policies, self.stats,
                               takes_text=self.target.text_engine == self.job.source_ep.engine)
        self.spill = Spill(self.state, self.task, self.p0.log, self.applier, min(batching.max_batch, SPILL_CHUNK))
        reader = None
        try:
            router.applied = self.target.applied(self.task)
            self._after_snapshots()
            self.state.drop_spills(self.task)  # a spill of an earlier run is read again from the source
            router.states = self.state.table_states(self.task)
            self._cache_reloads({})
            self._drain_loaded()
            log.info("cdc_connecting", start=self.start.token, tables=len(router.tables))
            last_flush = time.monotonic()
            opened = False
            route, boundary = router.route, router.boundary
            max_batch, max_transaction = batching.max_batch, batching.max_transaction
            reader = Reader(source.stream(self.task, self.start, list(router.tables.values())))
            for item in reader:
                if not opened:
                    opened = True
                    self.job.recovered()  # source and target answer again: a retried failure is over
                    log.info("cdc_stream_open", first=item.token if isinstance(item, Position) else item.position.token)
                if isinstance(item, Position):
                    # A transaction boundary: batches are cut only here, so the target never shows
                    # part of a source transaction (one too large to hold is spilled, below).
                    boundary(item)
                    inflight = self.applier.inflight
                    if inflight is not None and inflight.future.done():
                        self._settle()  # statistics as soon as the target has it
                    if batching.due(router.pending, time.monotonic() - last_flush, reader.idle()):
                        self._flush(source)
                        last_flush = time.monotonic()
                        self.job.check()
                    router.committed = router.pending
                else:
                    route(item)
                    # Whole transactions held wait for their end, where the batch is cut; only one
                    # larger than a batch by itself streams.
                    pending = router.pending
                    if pending >= max_batch and (
                            self.stream is not None or pending - router.committed >= max_batch) and \
                            self._may_stream():
                        self._stream_part()
                    elif pending >= max_transaction:
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
                self.stream.abort()
            self.applier.close()
            if reader is not None:
                reader.close()
            source.close()
            self.target.close()

    def _settle(self) -> None:
        if self.stream is not None:
            self._end_stream()
        self.applier.settle()

    def _flush(self, source) -> None:
        router = self.router
        self.cache.flush()
        in_memory = router.in_memory()
        caching_tables = router.caching()
        cached = self.state.cached_changes(self.task, caching_tables) if caching_tables else 0
        cached += len(self.spill)
        oldest = router.oldest()
        self._apply_batch()
        router.pending = 0
        self.stats.read(router.read)
        router.read = 0
        now = time.time()
        self.stats.report(in_memory=in_memory, cached=cached, last=router.last, caught_up=router.caught_up,
                          last_commit_read=router.last_commit_read, oldest=oldest, now=now)
        before, router.states = router.states, self.state.table_states(self.task)
        self._cache_reloads(before)
        self._stop_hooks()
        self._drain_loaded()
        self._stop_hooks()
        if source is not None and now - self.last_ack >= ACK_SECONDS:
            self._ack(source)

    def _cache_reloads(self, before: dict[str, str]) -> None:
        """Tables put back to pending since the last flush (ReloadTables): what was batched for them is on
        the target first, then their reloads may empty them (worker/reloads.py)."""
        newly = [name for name, s in self.router.states.items() if s in CACHING and before.get(name) not in CACHING]
        asked = reloads.waiting(self.state, self.task, newly) if newly else []
        if asked:
            self._settle()
            reloads.acknowledge(self.state, self.task, asked)
            log.info("reload_cached", tables=asked)

    def _ack(self, source) -> None:
        """Acknowledge the source up to what the target has, so that it can free its log."""
        # While any table still caches, the source keeps its log from P0: a lost cache can be re-read.
        # A task that failed on a batch (STOP_TASK) reads it again when resumed: the source keeps it.
        # No table states at all: the live state vanished (the job fails at its next check).
        upto = self.applier.applied_upto
        states = self.router.states
        if upto is None or self.job.failed or not states or any(s in CACHING for s in states.values()):
            return
        source.ack(upto)
        # Everything up to here is on the target: a new cdc task may start from it.
        self.state.set_task(self.task, cdc_acked=upto, RecoveryCheckpoint=upto.token)
        self.last_ack = time.time()

    def _spill(self) -> None:
        """MemoryLimitTotal reached inside a source transaction: the changes held go to Redis (large.py)."""
        held = self.spill.hold(self.router.take())
        self.cache.flush()
        self.router.pending = 0
        log.info("cdc_spilled", changes=held, spilled=len(self.spill))

    def _apply_batch(self) -> None:
        """Apply what was read since the last flush (its spilled part first) in one target transaction."""
        router = self.router
        if self.stream is not None:
            self._end_stream()
        elif self.spill:
            self.spill.apply(router.take(), router.last)
        elif router.batch:
            self.applier.submit(router.take(), router.last)
        else:
            self._settle()
            self.applier.applied_upto = router.last
        router.take()

    def _may_stream(self) -> bool:
        """A transaction larger than a batch streams to the target unless MemoryLimitTotal is below a
        batch (then it spills), or it is being read again after a streamed apply failed."""
        last = self.router.last
        return (not self.spill and self.batching.streams() and
                (self.no_stream_until is None or last is None or last > self.no_stream_until))

    def _stream_part(self) -> None:
        """The transaction being read is larger than a batch: it goes to the target part by part (large.py)."""
        self.cache.flush()
        self.router.pending = 0
        if self.stream is not None:
            self.stream.part(self.router.take())
            return
        rules, tally = self.policies.rules(False), Tally(self.router.by_target)
        first = plan_part(self.applier, self.router.take(), rules, tally)  # while the last batch is in the target
        self._settle()
        self.stream = Stream(self.applier, rules, tally)
        log.info("cdc_streaming", position=self.router.last.token if self.router.last else None)
        self.stream.send(first)

    def _end_stream(self) -> None:
        stream, self.stream = self.stream, None
        stream.end(self.router.take(), self.router.last)

    def _schema_changed(self, ch: Change) -> None:
        """A table created, altered, dropped or renamed on the source (ddl.py)."""
        self.schema_changes(ch)

    def _stop_hooks(self) -> None:
        """FullLoadSettings.StopTaskCachedChanges(Not)Applied: stop once every load is done (once per start)."""
        full = self.settings.full_load
        states = set(self.router.states.values())
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

    def _after_snapshots(self) -> None:
        """A keyless table's changes before its load's snapshot are in what was loaded: neither its cache nor
        the stream applies them again, also once it is live (the stream may not have read up to the snapshot
        when its cache is drained) and after a restart (its checkpoint on the target may be older)."""
        for name, major in self.state.snapshot_positions(self.task).items():
            mapped = self.router.maps.get(TableId.parse(name))
            if mapped is not None:
                self.router.floor(mapped.target.table, Position(self.cache.log, major, 0))

    def _drain_loaded(self) -> None:
        """Apply the cache of every table whose load has finished, then switch it to live."""
        router = self.router
        loaded = [name for name, table_state in router.states.items() if table_state == TableStage.LOADED]
        if loaded:
            self._after_snapshots()  # one read of the snapshot positions for the tables about to go live
        for name in loaded:
            self._settle()
            table = TableId.parse(name)
            mapped = router.maps[table]
            logs.bind(table=name)
            started, count = time.monotonic(), 0
            for chunk in self.cache.read(table, after=router.applied.get(mapped.target.table)):
                self.applier.apply({mapped: chunk}, cached=True)
                count += len(chunk)
                if router.states.get(name) == TableStage.FAILED:
                    break
                self.job.check()
            if router.states.get(name) == TableStage.FAILED:
                pass
            elif self.state.set_table_state(self.task, table, TableStage.LIVE):
                router.states[name] = TableStage.LIVE
                self.cache.drop(table)
                send_validation(self.job, table)  # the table has caught up: EnableValidation compares it now
            else:  # failed meanwhile by another job: its cache is not applied again
                router.states[name] = TableStage.FAILED
            log.info("cached_changes_applied", changes=count, seconds=round(time.monotonic() - started, 3))
            logs.unbind("table")
        self._put_back()

    def _put_back(self) -> None:
        """Once every table is live, what the task's start set aside on the target (foreign keys, triggers)
        comes back (Target.after_load) as far as it may while changes apply: on a thread with a connection of
        its own, so that validating a key holds no change up. Once per run; nothing to do costs one query."""
        states = self.router.states.values()
        if self.putting_back or self.settings.prep_mode == "drop" or any(s in CACHING for s in states):
            return
        self.putting_back = True
        put_back_aside(self.job)
