"""Pure planning: which jobs a start runs, given the task and its tables' states."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import TableId
from worker.state import CDC_JOB, FULL_LOAD_PREFIX

from .catalog import TaskDef

START_TYPES = ("start-replication", "resume-processing", "reload-target")


def initial_table_state(task: TaskDef) -> str:
    """A cdc-only task applies changes to every table from the start."""
    return "pending" if task.full_load else "live"


def jobs_to_run(task: TaskDef, table_states: Mapping[str, str]) -> list[str]:
    """Full-load jobs for tables not loaded yet (a partial load reloads from scratch), then CDC.

    Higher load-order first (DMS's selection-rule ``load-order``), then by name."""
    order = task.mappings.load_order
    todo = sorted((t for t, s in table_states.items() if s in ("pending", "loading")),
                  key=lambda t: (-order(TableId.parse(t)), t))
    loads = [FULL_LOAD_PREFIX + t for t in todo]
    return (loads if task.full_load else []) + ([CDC_JOB] if task.cdc else [])


def phase(task: TaskDef, status: str, table_states: Mapping[str, str]) -> str:
    if status != "running":
        return status
    states = set(table_states.values())
    if states & {"pending", "loading"}:
        return "full-load"
    if "loaded" in states:
        return "applying-cached-changes"
    return "ongoing-replication" if task.cdc else "full-load"
