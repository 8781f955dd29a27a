"""The full-load job: a table's snapshot streamed from the source into the target, whole or in chunks.

A table's job prepares the target table and asks the source to split it into key ranges. A table
of one range is loaded by that job. A bigger one is recorded as chunks, each loaded by a job of
its own, so that several workers load it at once; the last chunk to finish marks the table
loaded, and only then are its cached changes applied (worker/cdc/).

A killed or stopped whole-table load leaves the table "loading"; the next run prepares it again
(DMS's rule: a partially loaded table reloads from scratch). A chunked table keeps its chunks: the
next run of its job sends the chunks not loaded yet again, and a chunk that runs again first
deletes what an earlier run of it committed. Changes made meanwhile are in the change cache from
P0 on, so the table converges however often it reloads.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from connectors.base import Batch, KeyRange, TableId, TableSchema
from connectors.errors import ConfigError, DataError, PositionLost, Stop
from connectors.model.states import BUSY, UNLOADED, JobState, TableStage
from connectors.model.tablemap import TableMap
from connectors.registry import open_source, open_target

from . import logs, reloads
from .app import CHUNK_ROWS
from .job import Job, describe_error, retrying
from .precreated import put_back
from .state import full_load_job
from .validation import send_validation

log = logs.get_logger(__name__)
PROGRESS_SECONDS = 0.25  # how often a load writes its progress and checks for a stop


def run_full_load(job: Job, table_name: str, chunk: int | None = None) -> None:
    table = TableId.parse(table_name)
    schema = job.state.tables(job.task).get(table)
    if schema is None:
        raise ConfigError(f"table {table_name} is not in the plan of task {job.task}")
    if job.state.table_states(job.task).get(table_name) not in (None, *UNLOADED):
        log.info("table_already_loaded", table=table_name)
        return
    logs.bind(table=table_name, phase="full_load")
    load = _TableLoad(job, schema)
    if chunk is None:
        load.load_table()
    else:
        logs.bind(chunk=chunk)
        load.load_chunk(chunk)


class _TableLoad:
    def __init__(self, job: Job, schema: TableSchema) -> None:
        self.job, self.schema, self.table = job, schema, schema.table
        self.task, self.state = job.task, job.state
        self.settings = job.definition.settings
        self.final = TableStage.LOADED if job.definition.cdc else TableStage.COMPLETED
        self.fresh = False

    def load_table(self) -> None:
        ranges = self.state.chunks(self.task, self.table)
        if ranges is None:
            # TRUNCATE_BEFORE_LOAD emptied every selected table at the task's start (Target.before_load): a
            # table's first load takes it as it is; a load begun before ("loading") empties it alone again.
            self.fresh = self.state.table_states(self.task).get(str(self.table)) == TableStage.PENDING
            if reloads.requested(self.state, self.task, self.table):
                self.fresh = False  # a reload empties the table as TargetTablePrepMode says, as DMS does
                if self.job.definition.cdc:
                    reloads.wait_until_cached(self.job, self.table)
            started = time.monotonic()
            ok, rows = self._guarded("full_load", self._start, stopped=TableStage.PENDING)
            if not ok:
                return
            if rows is not None:
                self.state.set_table_state(self.task, self.table, self.final, FullLoadRows=rows,
                                           FullLoadEndTime=time.time())
                reloads.done(self.state, self.task, self.table)
                self._validate()
                self._after_last()
                seconds = time.monotonic() - started
                log.info("table_loaded", rows=rows, seconds=round(seconds, 3),
                         rows_per_second=int(rows / max(seconds, 1e-9)))
                return
            ranges = self.state.chunks(self.task, self.table) or []
        self._send_chunks(ranges)

    def _start(self) -> int | None:
        """Prepare the table, then load it whole (its row count), or record its chunks (None)."""
        source = open_source(self.job.source_ep)
        target = open_target(self.job.target_ep)
        try:
            self.state.set_table_state(self.task, self.table, TableStage.LOADING, FullLoadStartTime=time.time(),
                                       FullLoadRows=0, LoadedBy=self.job.owner)
            mode = "keep" if self.settings.prep_mode == "truncate" and self.fresh else self.settings.prep_mode
            self.fresh = False  # a retry after a failed attempt empties the table again
            target.prepare(self.mapped.target, mode, with_key=not self.key_after_load)
            ranges = self._ranges(source, target)
            if len(ranges) == 1:
                rows = self._transfer(source, target, None)
                self._create_keys(target)
                return rows
            self.state.save_chunks(self.task, self.table, ranges)
            log.info("table_split", chunks=len(ranges), rows_per_chunk=CHUNK_ROWS)
            return None
        finally:
            source.close()
            target.close()

    def _ranges(self, source, target) -> list[KeyRange]:
        """The table's chunks: a parallel-load rule's, or the source's own split of a big table (unless the
        target loads a table as one stream)."""
        rule = self.job.definition.mappings.parallel_loads.get(self.table)
        if rule is None:
            return source.split(self.schema, CHUNK_ROWS) if getattr(target, "split_loads", True) else [KeyRange()]
        if rule.type == "ranges" and rule.columns == tuple(self.schema.key):
            return KeyRange.between(rule.boundaries)
        if rule.type == "partitions-auto":
            return source.segments(self.schema, rule.number_of_partitions)
        # Partitions are tables of their own here, each loaded by its own job already; ranges over other
        # columns than the key would need a delete by those columns on a reload: one job loads it whole.
        if rule.type == "ranges":
            log.warning("parallel_load_ranges_not_on_key", rule_id=rule.rule_id, columns=list(rule.columns),
                        key=list(self.schema.key))
        return [KeyRange()]

    def _send_chunks(self, ranges: list[KeyRange]) -> None:
        done = self.state.chunks_done(self.task, self.table)
        if len(done) == len(ranges):  # every chunk was in before an earlier run of this job ended
            self._finish()
            return
        jobs = self.state.jobs(self.task)
        names = [full_load_job(self.table, index) for index in range(len(ranges))]
        # A running or handed-off chunk is recovered by its lease, a queued or waiting one is on its way.
        todo = [name for index, name in enumerate(names)
                if index not in done and jobs.get(name) not in (*BUSY, JobState.WAITING)]
        self.state.hold(self.task, todo, first=True)  # sent under MaxFullLoadSubTasks as jobs end (worker/dispatch.py)
        log.info("chunks_sent", chunks=len(ranges), loaded=len(done), sent=len(todo))

    def load_chunk(self, index: int) -> None:
        ranges = self.state.chunks(self.task, self.table)
        if ranges is None or index >= len(ranges):
            log.info("chunk_not_planned")  # the table was reset since (reload-target)
            return
        if index in self.state.chunks_done(self.task, self.table):
            log.info("chunk_already_loaded")
            return
        started = time.monotonic()

        def attempt() -> int:
            # Only a chunk begun before can have rows in: the first load skips the delete of its range,
            # a scan of the whole table so far when the key is created after the load.
            again = self.state.chunk_try(self.task, self.table, index)
            source = open_source(self.job.source_ep)
            target = open_target(self.job.target_ep)
            try:
                return self._transfer(source, target, ranges[index], again=again)
            finally:
                source.close()
                target.close()

        ok, rows = self._guarded("full_load_chunk", attempt, stopped=None)
        if not ok:
            return
        loaded = self.state.chunk_done(self.task, self.table, index, rows)
        log.info("chunk_loaded", rows=rows, seconds=round(time.monotonic() - started, 3),
                 chunks_loaded=loaded, chunks=len(ranges))
        if loaded == len(ranges):
            self._finish()

    def _finish(self) -> None:
        if self.state.table_states(self.task).get(str(self.table)) not in UNLOADED:
            return

        def attempt() -> None:
            target = open_target(self.job.target_ep)
            try:
                self._create_keys(target)
            finally:
                target.close()

        if self.settings.prep_mode != "drop" or self._guarded("create_keys", attempt, stopped=None)[0]:
            self.state.set_table_state(self.task, self.table, self.final, FullLoadEndTime=time.time())
            reloads.done(self.state, self.task, self.table)
            log.info("table_loaded", chunks=True)
            self._validate()
            self._after_last()

    def _after_last(self) -> None:
        """Once no table is left to load, the target gets back what the task's start set aside (foreign
        keys, triggers: Target.after_load); any job may be the last, so each that ends a table asks. With
        CDC the CDC job does it once every table's cached changes are in (worker/cdc/)."""
        d = self.job.definition
        if d.cdc or d.validation_only or self.settings.prep_mode == "drop" or any(
                s in UNLOADED for s in self.state.table_states(self.task).values()):
            return
        put_back(self.job, replicating=False)

    def _validate(self) -> None:
        """A full-load task's table is complete now; with CDC, validation waits for its cached changes."""
        if self.final == TableStage.COMPLETED:
            send_validation(self.job, self.table)

    @property
    def key_after_load(self) -> bool:
        """CreatePkAfterFullLoad: only a table the load creates (DROP_AND_CREATE) is created without its key."""
        return self.settings.full_load.CreatePkAfterFullLoad and self.settings.prep_mode == "drop"

    def _create_keys(self, target) -> None:
        """The key (when left out) and the unique indexes, after the rows and before the table counts as
        loaded: the change apply, which needs the key, starts on this table only once it is loaded. Only
        for tables the load created: TRUNCATE_BEFORE_LOAD and DO_NOTHING leave the target's tables as they are."""
        if self.settings.prep_mode != "drop":
            return
        started = time.monotonic()
        problems = target.create_keys(self.mapped.target)
        for problem in problems:
            log.warning("index_not_created", reason=problem)
        log.info("keys_created", key_after_load=self.key_after_load, unique=len(self.mapped.target.unique),
                 seconds=round(time.monotonic() - started, 3))

    @property
    def mapped(self) -> TableMap:
        return self.job.maps[self.table]  # read inside a guarded attempt: a rule that cannot apply fails the table

    def _transfer(self, source, target, within: KeyRange | None, *, again: bool = False) -> int:
        mapped = self.mapped
        # Bytes straight through only when the rules change nothing (a LOB limit needs each value seen).
        raw = target.bulk_format(mapped.load) if mapped.identity else None
        # A keyless table's cached changes are not idempotent: they must start exactly where its snapshot is.
        exact = not mapped.read.key and mapped.read.full_row and self.final != TableStage.COMPLETED
        at = (lambda major, token: self.state.set_snapshot_position(self.task, self.table, major)) if exact else None
        batches = source.snapshot(mapped.read, batch_rows=self.settings.commit_rate, where=mapped.filters,
                                  within=within, raw=raw, at=at)
        # Rows of a chunk count when it commits; a whole table's as its batches go in.
        progress = _Progress(self.job, self.table, mapped, count=within is None)
        # DO_NOTHING keeps what the target had: a chunk that runs again then meets its own rows.
        replace = within if again and self.settings.prep_mode != "keep" else None
        rows = target.load(mapped.load, progress.batches(mapped.batches(batches)), within=replace)
        if rows and rows > progress.loaded:
            # Bytes of a binary bulk load carry no row count: its rows are known only once it commits, and
            # the full-load throughputs would otherwise read 0 for the whole load.
            extra = rows - progress.loaded
            self.state.count(self.task, FullLoadRowsSource=extra, FullLoadRowsTarget=extra)
        return rows

    def _guarded(self, what: str, fn: Callable[[], int | None], stopped: TableStage | None) -> tuple[bool, int | None]:
        """Run with retries: (True, result), or (False, None) after failing the table."""
        try:
            return True, retrying(self.job, what, fn)
        except Stop:
            if stopped:
                self.state.set_table_state(self.task, self.table, stopped)
            raise
        except (DataError, ConfigError, PositionLost) as exc:
            self.job.fail_table(self.table, describe_error(exc))
            self._after_last()
            return False, None


class _Progress:
    """Counts a load's rows (and truncated LOBs) as the target takes each batch; a thread of its own
    writes them to Redis as soon as a batch of rows is in (bytes of a binary bulk load, which count when
    the table commits, every PROGRESS_SECONDS) and checks for a stop each time.

    The rows' path never waits on Redis: with the AOF fsynced on every write, a progress write while
    the target's table goes to disk took tens of milliseconds, and the target waited that long for
    its next bytes several times a second. A stop is raised on the rows' path at the next batch."""

    def __init__(self, job: Job, table: TableId, mapped: TableMap, count: bool) -> None:
        self.job, self.key, self.mapped, self.count = job, str(table), mapped, count
        # Totals only ever grow, written by the rows' path alone; the reporter sends what is new.
        self.read = self.loaded = self.truncated = 0
        self.sent = (0, 0, 0)
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Event()

    def batches(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        self.job.check()
        reporter = threading.Thread(target=contextvars.copy_context().run, args=(self._report,), daemon=True,
                                    name="load-progress")  # the copied context keeps the log's task and table
        reporter.start()
        try:
            for batch in batches:
                if self.error is not None:
                    raise self.error
                self.read += batch.count
                yield batch
                self.loaded += batch.count
                self.truncated += self.mapped.take_truncations()
                if batch.count:  # counted rows show at once
                    self.wake.set()
        finally:
            self.done = True
            self.wake.set()
            reporter.join()
        if self.error is not None:
            raise self.error
        self._flush()  # in Redis before the load returns

    def _report(self) -> None:
        while True:
            self.wake.wait(PROGRESS_SECONDS)
            self.wake.clear()
            if self.done:
                return
            try:
                self._flush()
                self.job.check()
            except BaseException as exc:  # raised on the rows' path
                self.error = exc
                return

    def _flush(self) -> None:
        totals = (self.read, self.loaded, self.truncated)
        read, loaded, truncated = (now - before for now, before in zip(totals, self.sent, strict=True))
        if truncated:
            log.warning("lob_truncated", values=truncated, limit_bytes=self.mapped.lob_limit)
        counts = {"FullLoadRows": loaded if self.count else 0, "LobTruncations": truncated}
        self.job.state.add_stats(self.job.task, {self.key: counts},
                                 rates={"FullLoadRowsSource": read, "FullLoadRowsTarget": loaded})
        self.sent = totals
