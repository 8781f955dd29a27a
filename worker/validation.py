"""The validation job (DMS's ValidationSettings): a table compared row by row once its rows are in.

With EnableValidation a table's validation job is sent when its full load ends (full-load tasks) or
once its cached changes are applied (full-load-and-cdc); with ValidationOnly it is the only job a
table gets, and nothing moves. The job runs on the full-load queue; at most ThreadCount validation
jobs of a task compare at once, the others wait for a thread.

While changes are being applied, a row can differ for a moment between reading the source and
reading the target. So when changes flow, the mismatching keys are compared once more after a
short wait (twice the task's apply latency, at least RECHECK_SECONDS, at most
RecordFailureDelayInMinutes) and only the records that still differ fail. A table with more failed
records than TableFailureMaxCount, or a task with more than FailureMaxCount, stops validating:
"Suspended records".
"""

from __future__ import annotations

import json
import time
from typing import Any

from connectors.base import Capability, TableId
from connectors.errors import ConfigError, DataError, PositionLost, Stop
from connectors.model.states import JobState, TableStage, ValidationState
from connectors.model.tablemap import TableMap
from connectors.registry import open_source, open_target
from worker.compare import TableResult, compare_table

from . import logs
from .dispatch import enqueue
from .job import Job, describe_error, retrying
from .state import StateStore, validate_job

log = logs.get_logger(__name__)

RECHECK_SECONDS = 2.0  # shortest wait before mismatching records are compared again
FAILED_OVERALL = "validation_failed"  # task field: records failed so far, against FailureMaxCount
SHOWN_KEYS = 5  # keys named in ValidationStateDetails


def send_validation(job: Job, table: TableId) -> None:
    """Queue the table's validation now that its rows are in, if EnableValidation asks for it."""
    if not job.definition.settings.validation.EnableValidation:
        return
    queue_validation(job.state, job.task, job.definition.instance, table)
    log.info("validation_sent", table=str(table))


def queue_validation(state: StateStore, task: str, instance: str, table: TableId, *, again: bool = False) -> None:
    """Queue a validation of the table; ``again`` (ReloadTables' validate-only) compares it anew: its earlier
    failed records no longer count against FailureMaxCount, as they are all compared again."""
    if again:
        forget_failures(state, task, table)
    name = validate_job(table)
    state.set_job(task, name, JobState.QUEUED)
    state.set_table_stats(task, table, ValidationState=ValidationState.PENDING_REVALIDATION if again
                          else ValidationState.PENDING_VALIDATION)
    enqueue(instance, task, name)


def forget_failures(state: StateStore, task: str, table: TableId) -> None:
    """The table is compared anew (revalidated or reloaded): its earlier failed records stop counting
    against the task's FailureMaxCount."""
    earlier = int(state.table_stats(task, table).get("ValidationFailedRecords") or 0)
    if earlier:
        state.add_task_count(task, FAILED_OVERALL, -earlier)
        state.set_table_stats(task, table, ValidationFailedRecords=0)


def run_validation(job: Job, table_name: str) -> None:
    table = TableId.parse(table_name)
    logs.bind(table=table_name, phase="validation")
    if table not in job.state.tables(job.task):
        raise ConfigError(f"table {table_name} is not in the plan of task {job.task}")
    settings = job.definition.settings.validation
    try:
        verdict = _precheck(job, table)
        if verdict is None:
            _take_thread(job, settings.ThreadCount)
            try:
                verdict = _validate(job, job.maps[table])
                verdict["ValidationEndTime"] = time.time()  # while the thread is held: ThreadCount spans never overlap
            finally:
                job.state.release_validation_thread(job.task, job.name)
    except Stop:
        job.state.set_table_stats(job.task, table, ValidationState=ValidationState.PENDING_VALIDATION)
        raise
    except (DataError, ConfigError, PositionLost) as exc:
        verdict = {"ValidationState": ValidationState.ERROR, "ValidationStateDetails": describe_error(exc)}
        log.error("validation_failed", error=describe_error(exc))
    job.state.set_table_stats(job.task, table, **{"ValidationPendingRecords": 0, "ValidationEndTime": time.time(),
                                                  **verdict})
    if settings.ValidationOnly:  # the table's only job is done
        job.state.set_table_state(job.task, table, TableStage.COMPLETED)


def _precheck(job: Job, table: TableId) -> dict[str, Any] | None:
    """The verdict for a table that is not to be compared, or None."""
    if job.state.table_states(job.task).get(str(table)) == TableStage.FAILED:
        return {"ValidationState": ValidationState.TABLE_ERROR,
                "ValidationStateDetails": "the table is in error: its data was not all migrated"}
    if not job.maps[table].copied.key and not job.maps[table].source.full_row:  # full rows: compared as multisets
        log.info("validation_no_primary_key")
        return {"ValidationState": ValidationState.NO_PRIMARY_KEY,
                "ValidationStateDetails": "validation compares rows by their primary key; this table has none"}
    return None


def _take_thread(job: Job, threads: int) -> None:
    """Wait until fewer than ThreadCount validations of the task are comparing."""
    logged = False
    while not job.state.take_validation_thread(job.task, job.name, threads):
        if not logged:
            log.info("validation_waits_for_thread", thread_count=threads)
            logged = True
        job.check()
        time.sleep(0.5)


def _validate(job: Job, mapped: TableMap) -> dict[str, Any]:
    settings = job.definition.settings.validation
    state, task, table = job.state, job.task, mapped.source.table
    failed_before = int(state.task(task).get(FAILED_OVERALL) or 0)
    allowance = min(settings.TableFailureMaxCount, settings.FailureMaxCount - failed_before)
    limit_name = "TableFailureMaxCount" if allowance == settings.TableFailureMaxCount else "FailureMaxCount"
    if allowance < 0:
        return {"ValidationState": ValidationState.SUSPENDED_RECORDS,
                "ValidationStateDetails": f"not validated: the task has {failed_before} failed records, more than "
                                          f"FailureMaxCount ({settings.FailureMaxCount})"}
    loaded = int(state.table_stats(task, table).get("FullLoadRows") or 0)
    rows = loaded or mapped.source.rows_estimate  # a validation-only table was not loaded: the source's estimate
    state.set_table_stats(task, table, ValidationState=ValidationState.PENDING_RECORDS, ValidationPendingRecords=rows,
                          ValidationFailedRecords=0, ValidationSuspendedRecords=0, ValidationStateDetails="",
                          ValidationStartTime=time.time())
    # Only while changes are applied can a record differ for a moment; otherwise a difference is final.
    recheck = job.definition.cdc
    log.info("validation_started", rows=rows, recheck=recheck, allowance=allowance)
    result = _pass(job, mapped, limit=None if recheck else allowance, keep=allowance + 1 if recheck else 0)
    first, failed, last = result, result.mismatches, result
    if recheck and failed:
        unchecked = failed - len(result.keys)  # beyond the keys kept: failed without a second look
        if unchecked <= allowance:
            state.set_table_stats(task, table, ValidationPendingRecords=len(result.keys))
            delay = _recheck_delay(job)
            log.info("validation_recheck", records=len(result.keys), delay=round(delay, 1))
            _wait(job, delay)
            last = _pass(job, mapped, only=result.keys, limit=allowance - unchecked)
            failed = unchecked + last.mismatches
    total = state.add_task_count(task, FAILED_OVERALL, failed) if failed else failed_before
    log.info("validation_done", rows=first.source_rows, failed=failed, task_failed=total,
             seconds=round(first.seconds + (last.seconds if last is not first else 0), 3))
    if failed > allowance:
        limit = getattr(settings, limit_name)
        return {"ValidationState": ValidationState.SUSPENDED_RECORDS, "ValidationFailedRecords": failed,
                # the rows left unread, when the load counted them; the details say so either way
                "ValidationSuspendedRecords": max(0, loaded - last.source_rows),
                "ValidationStateDetails": f"validation suspended after more than {limit} failed records "
                                          f"({limit_name}), the rest of the table not compared; "
                                          f"{_details(failed, last)}"}
    if failed:
        return {"ValidationState": ValidationState.MISMATCHED_RECORDS, "ValidationFailedRecords": failed,
                "ValidationStateDetails": _details(failed, last)}
    return {"ValidationState": ValidationState.VALIDATED, "ValidationFailedRecords": 0}


def _pass(job: Job, mapped: TableMap, **options: Any) -> TableResult:
    """One comparison of the table, retried like any job step when the source or target is away."""

    def attempt() -> TableResult:
        source = open_source(job.source_ep)
        try:
            target = open_target(job.target_ep)
            try:
                if Capability.READ_BACK not in target.capabilities:
                    raise ConfigError(f"target {job.definition.target} cannot be read back, so it cannot be "
                                      "validated: set ValidationSettings.EnableValidation to false")
                return compare_table(source, target, mapped, check=job.check, **options)
            finally:
                target.close()
        finally:
            source.close()

    return retrying(job, "validation", attempt)


def _recheck_delay(job: Job) -> float:
    settings = job.definition.settings.validation
    latency = float(job.state.task(job.task).get("CDCLatencyTarget") or 0)
    return min(60.0 * settings.RecordFailureDelayInMinutes, max(RECHECK_SECONDS, 2 * latency))


def _wait(job: Job, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        job.check()
        time.sleep(min(left, 0.5))


def _details(failed: int, result: TableResult) -> str:
    listed = "; ".join(f"{label}: {', '.join(json.dumps(k, default=str) for k in keys[:SHOWN_KEYS])}"
                       for label, keys in result.details())
    return f"{failed} records failed ({listed})" if listed else f"{failed} records failed"
