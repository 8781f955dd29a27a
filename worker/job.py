"""What every job shares: its definitions, its lease and heartbeat, and settling the task after it.

A job runs only while it holds its lease. The heartbeat renews it; if renewal fails (the worker
stalled longer than the lease, and another took over), the job stops at its next check.
"""

from __future__ import annotations

import functools
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from connectors.base import Endpoint, TableId
from connectors.errors import DataError, DmsError, Stop, TransientError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.states import (
    BUSY,
    DONE_STAGES,
    HALTING,
    JobState,
    Status,
    StopReason,
    TableStage,
    ValidationState,
)
from connectors.model.tablemap import TableMap, build_maps

from . import logs
from .app import LEASE_SECONDS, redis_client
from .dispatch import dispatch
from .state import StateStore

log = logs.get_logger(__name__)



@functools.cache
def _catalog() -> Catalog:
    """One catalog per worker process: DMS_CATALOG_URL is fixed for its life, and opening checks the schema."""
    return Catalog()


def task_definition(task_id: str) -> TaskDef:
    return _catalog().task(task_id)


class LeaseHeld(Exception):
    """Another live worker already runs this job."""


class Handoff(Stop):
    """This worker is shutting down: the job goes back to the queue for another worker."""


# Set when the worker process begins a warm shutdown (SIGTERM): running jobs hand off at their
# next check instead of holding the shutdown up or waiting for their leases to expire.
SHUTDOWN = threading.Event()


class Job:
    """Context for one job run: ``with Job(task, name) as job: ...``."""

    def __init__(self, task: str, name: str, catalog: Catalog | None = None) -> None:
        self.task = task
        self.name = name
        self.state = StateStore(redis_client())
        self.catalog = catalog or _catalog()
        self.definition: TaskDef = self.catalog.task(task)
        self.source_ep: Endpoint = self.catalog.endpoint(self.definition.source)
        self.target_ep: Endpoint = self.catalog.target_endpoint(self.definition)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.failed = False  # this job failed the task: what it read but did not apply must be read again
        self.ttl_ms = int(LEASE_SECONDS * 1000)
        self.lost = threading.Event()
        self._done = threading.Event()
        self._beat: threading.Thread | None = None
        self.outcome = JobState.DONE
        self.failing: str | None = None  # the transient failure being retried, until the job recovers
        self.failing_since = 0.0

    def __enter__(self) -> Job:
        if not self.state.take_lease(self.task, self.name, self.owner, self.ttl_ms):
            raise LeaseHeld(f"job {self.name} of task {self.task} is already running elsewhere")
        self.state.set_job(self.task, self.name, JobState.RUNNING)
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name=f"lease-{self.name}")
        self._beat.start()
        logs.bind(task=self.task, job=self.name)
        log.info("job_started", owner=self.owner)
        return self

    def _heartbeat(self) -> None:
        while not self._done.wait(LEASE_SECONDS / 3):
            try:
                if not self.state.renew_lease(self.task, self.name, self.owner, self.ttl_ms):
                    log.warning("lease_lost")
                    self.lost.set()
                    return
            except Exception as exc:  # Redis briefly away: the next beat tries again
                log.warning("lease_renew_failed", error=str(exc))

    def check(self) -> None:
        """Raise Stop when a stop was requested, the lease was lost or the task's live state vanished."""
        status = self.state.task_status(self.task)
        if status is None:
            self._vanished()
            raise Stop("live state vanished")
        if self.lost.is_set():
            raise Stop("lease lost")
        if SHUTDOWN.is_set():
            raise Handoff("worker shutting down")
        if status in HALTING:
            raise Stop("stop requested")

    def _vanished(self) -> None:
        """Redis came back empty (or was flushed) under the running task: the task fails, saying so and how
        to go on, rather than look new. Nothing is acknowledged to the source from here on."""
        self.failed = True
        message = self.catalog.task(self.task).vanished_message()
        self.state.set_task(self.task, Status=Status.FAILED, StopReason=StopReason.FATAL_ERROR,
                            LastFailureMessage=message, StopDate=time.time())
        self.state.add_event(self.task, "failure", message)
        log.error("state_vanished", error=message)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._done.set()
        if self.lost.is_set():
            return  # the job belongs to its new owner now
        if exc_type is Handoff:
            self.outcome = JobState.HANDOFF  # another worker's reclaimer sends it again (worker/recovery.py)
        elif exc_type is Stop:
            self.outcome = JobState.STOPPED
        elif exc is not None:
            self.outcome = JobState.FAILED
        self.state.set_job(self.task, self.name, self.outcome)
        self.state.release_lease(self.task, self.name, self.owner)
        log.info("job_ended", outcome=self.outcome)
        started = dispatch(self.state, self.task, self.definition.instance)  # its place under MaxFullLoadSubTasks
        if started:
            log.info("jobs_dispatched", jobs=started)
        if settle(self.state, self.task):
            try:
                self.catalog.record_loaded(self.task)
            except Exception as exc:  # the catalog away: only a resume after losing Redis needs it
                log.warning("catalog_not_updated", error=str(exc))
        logs.clear()

    @functools.cached_property
    def maps(self) -> dict[TableId, TableMap]:
        """Each planned source table's map onto the target (the task's rules and settings applied)."""
        d = self.definition
        return build_maps(d.mappings, d.settings, self.state.tables(self.task).values())

    def fail_table(self, table: TableId, message: str) -> None:
        """Table error; with TableErrorPolicy STOP_TASK the whole task fails with it."""
        validating = self.definition.settings.validation.EnableValidation
        validation = {"ValidationState": ValidationState.TABLE_ERROR} if validating else {}
        self.state.set_table_state(self.task, table, TableStage.FAILED, TableError=message, **validation)
        log.error("table_failed", table=str(table), error=message)
        if self.definition.settings.errors.TableErrorPolicy == "STOP_TASK":
            self.fail_task(f"table {table} failed and TableErrorPolicy is STOP_TASK: {message}")

    def fail_task(self, message: str) -> None:
        self.failed = True
        self.state.set_task(self.task, Status=Status.FAILED, StopReason=StopReason.FATAL_ERROR,
                            LastFailureMessage=message, StopDate=time.time())
        self.state.add_event(self.task, "failure", f"task failed: {message}")
        log.error("task_failed", error=message)

    def retrying_after(self, message: str) -> None:
        """A transient failure: shown as LastFailureMessage while it lasts, kept in the task's events."""
        if message != self.failing:  # each new failure once, not every retry
            if self.failing is None:
                self.failing_since = time.time()
            self.state.add_event(self.task, "failure", f"{self.name}: {message} (retrying)")
        self.failing = message
        self.state.set_task(self.task, LastFailureMessage=message)

    def recovered(self) -> None:
        """The step that failed works again: the failure message goes (it stays in the task's events)."""
        if self.failing is None:
            return
        message = self.failing
        try:
            if self.state.task(self.task).get("LastFailureMessage") == message:  # not a later one of another job
                self.state.clear_task_fields(self.task, "LastFailureMessage")
            self.state.add_event(self.task, "state change", f"{self.name}: recovered after "
                                 f"{time.time() - self.failing_since:.0f} s from: {message}")
        except _TRANSIENT[1:] as exc:  # Redis away now: the next success says it
            log.warning("recovery_not_recorded", error=str(exc))
            return
        self.failing = None
        log.info("recovered", error=message)


_TRANSIENT = (TransientError, RedisConnectionError, RedisTimeoutError)


def retrying(job: Job, what: str, fn: Callable[[], Any]) -> Any:
    """Run fn, retrying transient failures (source, target or Redis away) with jittered backoff.

    ErrorBehavior.RecoverableError*: the first retry after RecoverableErrorInterval seconds, doubling up
    to RecoverableErrorThrottlingMax when throttled; after RecoverableErrorCount retries (-1: never) the
    failure becomes a DataError. A stop request or a lost lease ends the retries too.
    """
    policy = job.definition.settings.errors
    interval = max(0.1, float(policy.RecoverableErrorInterval))
    delay, tries = interval, 0
    while True:
        try:
            job.check()
            result = fn()
        except _TRANSIENT as exc:
            tries += 1
            if 0 <= policy.RecoverableErrorCount < tries:
                raise DataError(f"{exc} (gave up after {policy.RecoverableErrorCount} retries: "
                                "ErrorBehavior.RecoverableErrorCount)") from None
            log.warning("transient_error", step=what, error=str(exc), retry_in=round(delay, 1))
            try:
                job.retrying_after(str(exc))
            except _TRANSIENT[1:]:
                pass  # Redis itself is away; the message is in the log
            _pause(job, delay)
            if policy.RecoverableErrorThrottling:
                delay = min(delay * 2, float(policy.RecoverableErrorThrottlingMax)) * random.uniform(0.8, 1.2)
        else:
            job.recovered()
            return result


def _pause(job: Job, seconds: float) -> None:
    """Sleep, but wake early for a stop request or a worker shutdown."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if SHUTDOWN.wait(min(left, 0.5)):
            return
        try:
            if job.state.stop_requested(job.task):
                return
        except _TRANSIENT[1:]:
            pass


def settle(state: StateStore, task: str) -> bool:
    """After a job ends: finish the task when nothing is left to run. True when every table has just
    been loaded with none failed (the caller records it in the catalog: the run can resume without Redis)."""
    info = state.task(task)
    status = info.get("Status")
    jobs = state.jobs(task).values()
    # A waiting job is sent only while the task runs: a stopping task does not wait for it.
    busy = any(s in BUSY for s in jobs)
    now = time.time()
    if status == Status.STOPPING and not busy:
        reason = info.get("pending_stop_reason", StopReason.NORMAL)
        if state.set_task(task, Status=Status.STOPPED, StopReason=reason, StopDate=now):  # not if failed meanwhile
            state.add_event(task, "state change", f"stopped ({reason})")
        state.set_active(task, False)
        return False
    if status != Status.RUNNING:
        return False
    states = state.table_states(task)
    loaded = False
    loads_done = all(s in DONE_STAGES or s == TableStage.LOADED for s in states.values())
    if states and loads_done and "FullLoadFinishDate" not in info:
        state.set_task(task, FullLoadFinishDate=now)
        loaded = TableStage.FAILED not in states.values()
    ends = info.get("MigrationType") == "full-load" or info.get("ValidationOnly") == "true"
    if ends and not busy and JobState.WAITING not in jobs and all(s in DONE_STAGES for s in states.values()):
        if states and all(s == TableStage.FAILED for s in states.values()):
            message = "every table failed: see `dms task stats`"
            state.set_task(task, Status=Status.FAILED, StopReason=StopReason.FATAL_ERROR, StopDate=now,
                           LastFailureMessage=message)
            state.add_event(task, "failure", f"task failed: {message}")
        elif state.set_task(task, Status=Status.STOPPED, StopReason=StopReason.FULL_LOAD_ONLY_FINISHED, StopDate=now):
            state.add_event(task, "state change", f"stopped ({StopReason.FULL_LOAD_ONLY_FINISHED})")
        state.set_active(task, False)
    return loaded


def describe_error(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DmsError) else f"{type(exc).__name__}: {exc}"
