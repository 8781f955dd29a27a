"""The states a task, a table, a job and a validation go through, and which moves between them are legal.

Every state is a `StrEnum` whose value is DMS's exact string (or OpenDMS's own, for states DMS does not
show), so JSON documents and Redis hashes hold the same bytes as plain strings would, and a value read
back from Redis compares equal to its member.

The allowed transitions are data (TASK_TRANSITIONS, TABLE_TRANSITIONS); `check` says whether a move is
allowed. Writers of state (worker/state.py) log an illegal move as a structured warning and refuse only
the moves in TASK_REFUSED / TABLE_REFUSED: those that would show a failed or stopped task as alive, or a
failed table as loaded, to a late writer (a heartbeat, a job ending after the task failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    """DescribeReplicationTasks' ``Status``."""

    CREATING = "creating"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    MODIFYING = "modifying"
    DELETING = "deleting"
    MOVING = "moving"
    FAILED_MOVE = "failed-move"
    TESTING = "testing"


# A task in one of these has (or is about to have) jobs running: it cannot be started, modified or deleted.
ACTIVE = (Status.STARTING, Status.RUNNING, Status.STOPPING)
# A job seeing one of these stops.
HALTING = (Status.STOPPING, Status.STOPPED, Status.FAILED)
START_TYPES = ("start-replication", "resume-processing", "reload-target")  # DMS's StartReplicationTaskType
# A task in one of these has ended its run.
ENDED = (Status.STOPPED, Status.FAILED, Status.READY)


class StopReason(StrEnum):
    """DescribeReplicationTasks' ``StopReason``: "Stop Reason " and the cause."""

    NORMAL = "Stop Reason NORMAL"
    RECOVERABLE_ERROR = "Stop Reason RECOVERABLE_ERROR"
    FATAL_ERROR = "Stop Reason FATAL_ERROR"
    FULL_LOAD_ONLY_FINISHED = "Stop Reason FULL_LOAD_ONLY_FINISHED"
    STOPPED_AFTER_FULL_LOAD = "Stop Reason STOPPED_AFTER_FULL_LOAD"  # cached changes not applied
    STOPPED_AFTER_CACHED_EVENTS = "Stop Reason STOPPED_AFTER_CACHED_EVENTS"  # cached changes applied
    EXPRESS_LICENSE_LIMITS_REACHED = "Stop Reason EXPRESS_LICENSE_LIMITS_REACHED"
    STOPPED_AFTER_DDL_APPLY = "Stop Reason STOPPED_AFTER_DDL_APPLY"
    STOPPED_DUE_TO_LOW_MEMORY = "Stop Reason STOPPED_DUE_TO_LOW_MEMORY"
    STOPPED_DUE_TO_LOW_DISK = "Stop Reason STOPPED_DUE_TO_LOW_DISK"
    STOPPED_AT_SERVER_TIME = "Stop Reason STOPPED_AT_SERVER_TIME"
    STOPPED_AT_COMMIT_TIME = "Stop Reason STOPPED_AT_COMMIT_TIME"
    RECONFIGURATION_RESTART = "Stop Reason RECONFIGURATION_RESTART"
    RECYCLE_TASK = "Stop Reason RECYCLE_TASK"


class Phase(StrEnum):
    """What a running task is doing (OpenDMS's ``Phase``; a task not running shows its Status instead)."""

    FULL_LOAD = "full-load"
    VALIDATION = "validation"
    APPLYING_CACHED_CHANGES = "applying-cached-changes"
    ONGOING_REPLICATION = "ongoing-replication"


class TableState(StrEnum):
    """DescribeTableStatistics' ``TableState``."""

    DOES_NOT_EXIST = "Table does not exist"
    BEFORE_LOAD = "Before load"
    FULL_LOAD = "Full load"
    COMPLETED = "Table completed"
    CANCELLED = "Table cancelled"
    ERROR = "Table error"
    RELOADING = "Table is being reloaded"


class TableStage(StrEnum):
    """A table's internal state, finer than the TableState it shows (``shown``)."""

    PENDING = "pending"
    LOADING = "loading"
    LOADED = "loaded"  # rows are in; cached changes not applied yet
    LIVE = "live"  # changes apply to it
    COMPLETED = "completed"  # loaded, and no changes will follow (full-load only, validation only)
    FAILED = "failed"

    @property
    def shown(self) -> TableState:
        return _SHOWN[self]


_SHOWN = {
    TableStage.PENDING: TableState.BEFORE_LOAD,
    TableStage.LOADING: TableState.FULL_LOAD,
    TableStage.LOADED: TableState.FULL_LOAD,
    TableStage.LIVE: TableState.COMPLETED,
    TableStage.COMPLETED: TableState.COMPLETED,
    TableStage.FAILED: TableState.ERROR,
}
# A table in one of these has no load left to run.
DONE_STAGES = (TableStage.LIVE, TableStage.COMPLETED, TableStage.FAILED)
# A table in one of these is still to be loaded (a partial load reloads from scratch).
UNLOADED = (TableStage.PENDING, TableStage.LOADING)
# A table in one of these caches its changes instead of applying them.
CACHING = (TableStage.PENDING, TableStage.LOADING, TableStage.LOADED)


class JobState(StrEnum):
    """A job's state in the task's jobs hash (worker/state.py)."""

    WAITING = "waiting"  # held back by MaxFullLoadSubTasks
    QUEUED = "queued"
    RUNNING = "running"
    HANDOFF = "handoff"  # its worker shut down: another sends it again
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


# A job in one of these holds, or will soon hold, a worker.
BUSY = (JobState.QUEUED, JobState.RUNNING, JobState.HANDOFF)


class ValidationState(StrEnum):
    """DescribeTableStatistics' ``ValidationState``."""

    NOT_ENABLED = "Not enabled"
    PENDING_RECORDS = "Pending records"
    MISMATCHED_RECORDS = "Mismatched records"
    SUSPENDED_RECORDS = "Suspended records"
    NO_PRIMARY_KEY = "No primary key"
    TABLE_ERROR = "Table error"
    VALIDATED = "Validated"
    ERROR = "Error"
    PENDING_VALIDATION = "Pending validation"
    PREPARING_TABLE = "Preparing table"
    PENDING_REVALIDATION = "Pending revalidation"


# None stands for "no state yet": a task or table Redis knows nothing of.
TASK_TRANSITIONS: Mapping[Status | None, frozenset[Status]] = {
    None: frozenset({Status.STARTING, Status.FAILED}),  # failed: its live state vanished under a job
    Status.READY: frozenset({Status.STARTING}),
    Status.STOPPED: frozenset({Status.STARTING}),
    Status.FAILED: frozenset({Status.STARTING}),
    # A start that fails puts back the status it found; stop may come while starting.
    Status.STARTING: frozenset({Status.RUNNING, Status.STOPPING, Status.FAILED, Status.READY, Status.STOPPED}),
    Status.RUNNING: frozenset({Status.STOPPING, Status.STOPPED, Status.FAILED}),
    Status.STOPPING: frozenset({Status.STOPPED, Status.FAILED}),
}
# Refused outright: a late writer must not show a failed task alive or merely stopped (its failure
# message and reason would go), nor a stopped task alive with no job to run it.
TASK_REFUSED: Mapping[Status, frozenset[Status]] = {
    Status.FAILED: frozenset({Status.RUNNING, Status.STOPPING, Status.STOPPED}),
    Status.STOPPED: frozenset({Status.RUNNING, Status.STOPPING}),
}

TABLE_TRANSITIONS: Mapping[TableStage | None, frozenset[TableStage]] = {
    None: frozenset({TableStage.PENDING, TableStage.LIVE}),  # planned: to load, or cdc only
    # completed: a ValidationOnly task's table once validated
    TableStage.PENDING: frozenset({TableStage.LOADING, TableStage.COMPLETED, TableStage.FAILED}),
    # loading again: a chunked load's next attempt; pending: a stopped load starts over
    TableStage.LOADING: frozenset({TableStage.LOADING, TableStage.PENDING, TableStage.LOADED,
                                   TableStage.COMPLETED, TableStage.FAILED}),
    TableStage.LOADED: frozenset({TableStage.LIVE, TableStage.FAILED}),
    TableStage.LIVE: frozenset({TableStage.FAILED}),
    TableStage.COMPLETED: frozenset({TableStage.FAILED}),
    TableStage.FAILED: frozenset(),
}
# Refused outright: a failed table's rows are incomplete; a late load or cache drain must not show it
# loaded, nor have changes applied on top of it.
TABLE_REFUSED: Mapping[TableStage, frozenset[TableStage]] = {
    TableStage.FAILED: frozenset(set(TableStage) - {TableStage.FAILED}),
}


def check(transitions: Mapping, previous: str | None, new: str) -> bool:
    """True when moving from ``previous`` to ``new`` is allowed; staying in a state always is (a write
    that only updates the state's other fields)."""
    return previous == new or new in transitions.get(previous, ())


def refused(refusals: Mapping, new: str) -> list[str]:
    """The states from which writing ``new`` is refused."""
    return sorted(str(p) for p, news in refusals.items() if new in news)
