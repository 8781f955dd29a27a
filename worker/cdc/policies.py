"""ErrorBehavior for changes that do not apply: conflicts (ApplyError*Policy, ApplyErrorEscalation*),
and what suspends a table or fails the task.

A conflict left out under IGNORE_RECORD or LOG_ERROR is logged (LOG_ERROR: also kept in the target's
exceptions table) and counted per table towards ApplyErrorEscalationCount; under SUSPEND_TABLE or
STOP_TASK nothing of its batch applied, and the table or the task fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from connectors.base import Change, Conflict, OnConflict, Op, TableId
from connectors.errors import ApplyConflict, DataError
from connectors.model.settings import ErrorBehavior
from connectors.model.states import TableStage
from connectors.model.tablemap import TableMap

from .. import logs
from ..job import describe_error
from .router import Router

log = logs.get_logger(__name__)


class Failures(Protocol):
    """What fails a table or the task: the job (worker/job.py)."""

    def fail_table(self, table: TableId, message: str) -> None: ...

    def fail_task(self, message: str) -> None: ...


class ErrorPolicies:
    def __init__(self, task: str, errors: ErrorBehavior, router: Router, failures: Failures) -> None:
        self.task = task
        self.errors = errors
        self.router = router
        self.failures = failures
        self.on_conflict = errors.on_conflict()
        self.conflicts: dict[TableId, int] = defaultdict(int)  # per table, for ApplyErrorEscalationCount
        self.source: Any = None  # set when the job opens its endpoints (Source, Target)
        self.target: Any = None

    def rules(self, cached: bool) -> Mapping[Op, OnConflict] | None:
        """ErrorBehavior's ApplyError*Policy; over a fresh load, FullLoadIgnoreConflicts resolves instead."""
        return None if cached and self.errors.FullLoadIgnoreConflicts else self.on_conflict

    def conflicted(self, conflicts: Sequence[Conflict]) -> None:
        """Changes left out under IGNORE_RECORD or LOG_ERROR: logged, kept in the exceptions table, and
        counted towards ApplyErrorEscalationCount."""
        errors = self.errors
        for c in conflicts:
            table_map = self.router.by_target[c.table.table]
            table = table_map.source.table
            key, policy = errors.policy(c.change.op)
            if policy == "LOG_ERROR":
                log.warning("apply_conflict", table=str(table), op=c.change.op.value,
                            position=c.change.position.token, error=c.error, policy=f"{key} {policy}")
                self.target.record_exception(self.task, c.table, self.shown(table_map, c.change), c.error)
            if self.router.state_of(table) == TableStage.FAILED:
                continue
            self.conflicts[table] += 1
            limit = errors.ApplyErrorEscalationCount
            if limit and self.conflicts[table] >= limit and errors.ApplyErrorEscalationPolicy != "LOG_ERROR":
                self.escalate(table, errors.ApplyErrorEscalationPolicy,
                              f"{self.conflicts[table]} apply conflicts on {table} reached "
                              f"ApplyErrorEscalationCount {limit} (last: {c.error})")
        if conflicts:
            log.info("apply_conflicts", changes=len(conflicts))

    def stop_on_conflict(self, table_map: TableMap, exc: ApplyConflict) -> None:
        """A conflict under SUSPEND_TABLE or STOP_TASK: nothing of the batch was applied."""
        change = exc.conflicts[0].change
        key, policy = self.errors.policy(change.op)
        self.target.record_exception(self.task, table_map.target, self.shown(table_map, change), exc.message)
        self.escalate(table_map.source.table, policy,
                      f"a change to {table_map.source.table} found the target other than it expected "
                      f"({exc.message}) and {key} is {policy}; fix the row on the target and resume the task, "
                      "or reload the table")

    def escalate(self, table: TableId, policy: str, message: str) -> None:
        if policy == "STOP_TASK":  # the job stops at its next check
            self.fail_task(table, message)
        else:
            self.suspend(table, DataError(message))

    def fail_task(self, table: TableId, message: str) -> None:
        self.failures.fail_task(message)
        self.router.failed(table)

    def suspend(self, table: TableId, exc: Exception) -> None:
        self.failures.fail_table(table, describe_error(exc))
        self.router.failed(table)

    def skipped(self, table_map: TableMap, change: Change, error: str) -> None:
        """A change that failed to apply on its own, left out under DataErrorPolicy IGNORE_RECORD or LOG_ERROR."""
        policy = self.errors.DataErrorPolicy
        log.warning("change_skipped", table=str(table_map.source.table), op=change.op.value,
                    position=change.position.token, error=error, policy=policy)
        if policy == "LOG_ERROR":
            self.target.record_exception(self.task, table_map.target, self.shown(table_map, change), error)

    def shown(self, table_map: TableMap, change: Change) -> Change:
        """A change with its values as values, however they travelled (for the exceptions table)."""
        return self.source.decode(table_map.source, change) if change.text else change
