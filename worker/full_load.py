"""The full-load job: one table's snapshot streamed from the source into the target.

A killed or stopped load leaves the table "loading"; the next run of the job prepares the table
again (DMS's rule: a partially loaded table reloads from scratch) and loads it anew. Changes made
meanwhile are in the change cache from P0 on, so the table converges however often it reloads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from connectors.base import Batch, TableId
from connectors.errors import ConfigError, DataError, PositionLost, Stop
from connectors.registry import open_source, open_target
from scheduler.tablemap import TableMap

from . import logs
from .job import Job, describe_error, retrying

log = logs.get_logger(__name__)


def run_full_load(job: Job, table_name: str) -> None:
    task, state = job.task, job.state
    table = TableId.parse(table_name)
    if table not in state.tables(task):
        raise ConfigError(f"table {table_name} is not in the plan of task {task}")
    if state.table_states(task).get(table_name) not in (None, "pending", "loading"):
        log.info("table_already_loaded", table=table_name)
        return
    logs.bind(table=table_name, phase="full_load")
    settings = job.definition.settings
    final = "loaded" if job.definition.cdc else "completed"


    def attempt() -> int:
        job.check()
        mapped = job.maps[table]  # inside the try below: a rule that cannot apply fails this table
        source = open_source(job.source_ep)
        target = open_target(job.target_ep)
        try:
            state.set_table_state(task, table, "loading", FullLoadStartTime=time.time(), FullLoadRows=0,
                                  LoadedBy=job.owner)
            target.prepare(mapped.target, settings.prep_mode)
            batches = source.snapshot(mapped.read, batch_rows=settings.commit_rate, where=mapped.filters)
            return target.load(mapped.load, _progress(job, table, mapped, mapped.batches(batches)))
        finally:
            source.close()
            target.close()

    started = time.monotonic()
    try:
        rows = retrying(job, "full_load", attempt)
    except Stop:
        state.set_table_state(task, table, "pending")
        raise
    except (DataError, ConfigError, PositionLost) as exc:
        job.fail_table(table, describe_error(exc))
        return
    seconds = time.monotonic() - started
    state.set_table_state(task, table, final, FullLoadRows=rows, FullLoadEndTime=time.time())
    log.info("table_loaded", rows=rows, seconds=round(seconds, 3), rows_per_second=int(rows / max(seconds, 1e-9)))


def _progress(job: Job, table: TableId, mapped: TableMap, batches: Iterable[Batch]) -> Iterator[Batch]:
    """Count rows (and truncated LOBs) as the target takes each batch, and stop between batches when asked."""
    stats_key = str(table)
    for batch in batches:
        job.check()
        job.state.count(job.task, FullLoadRowsSource=batch.count)
        yield batch
        truncated = mapped.take_truncations()
        if truncated:
            log.warning("lob_truncated", values=truncated, limit_bytes=mapped.lob_limit)
        job.state.add_stats(job.task, {stats_key: {"FullLoadRows": batch.count, "LobTruncations": truncated}},
                            rates={"FullLoadRowsTarget": batch.count})
