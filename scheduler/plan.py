"""Pure planning: which jobs a start runs, given the task and its tables' states."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import TableId
from connectors.model.catalog import TaskDef
from connectors.model.states import (
    START_TYPES,  # noqa: F401  (the CLI, the API and the console read it here)
    UNLOADED,
    JobState,
    Phase,
    Status,
    TableStage,
)
from worker.state import CDC_JOB, FULL_LOAD_PREFIX, VALIDATE_PREFIX, validate_job


def initial_table_state(task: TaskDef) -> TableStage:
    """A cdc-only task applies changes to every table from the start."""
    return TableStage.PENDING if task.full_load or task.validation_only else TableStage.LIVE


def jobs_to_run(task: TaskDef, table_states: Mapping[str, str], jobs: Mapping[str, str] | None = None) -> list[str]:
    """Full-load jobs for tables not loaded yet (a partial load reloads from scratch), validation jobs
    that did not finish in an earlier run (`jobs`: job -> state), then CDC.

    Higher load-order first (DMS's selection-rule ``load-order``), then by name. A ValidationOnly task
    runs only a validation job per table."""
    order = task.mappings.load_order
    todo = sorted((t for t, s in table_states.items() if s in UNLOADED),
                  key=lambda t: (-order(TableId.parse(t)), t))
    if task.validation_only:
        return [validate_job(t) for t in todo]
    loads = [FULL_LOAD_PREFIX + t for t in todo]
    unfinished = sorted(j for j, s in (jobs or {}).items() if j.startswith(VALIDATE_PREFIX) and s != JobState.DONE)
    return (loads if task.full_load else []) + unfinished + ([CDC_JOB] if task.cdc else [])


def phase(task: TaskDef, status: str, table_states: Mapping[str, str]) -> Phase | Status:
    """What a running task does now; a task not running shows its Status."""
    if status != Status.RUNNING:
        return Status(status)
    states = set(table_states.values())
    if states & set(UNLOADED):
        return Phase.VALIDATION if task.validation_only else Phase.FULL_LOAD
    if TableStage.LOADED in states:
        return Phase.APPLYING_CACHED_CHANGES
    return Phase.ONGOING_REPLICATION if task.cdc else Phase.FULL_LOAD
