"""Live state -> DMS-shaped documents: DescribeReplicationTasks and DescribeTableStatistics.

Beside DMS's keys, a task's document carries ``Warnings``: one-line statements of what is wrong now
and how to cure it, collected by `task_warnings` from the providers in WARNING_PROVIDERS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connectors.model.catalog import TaskDef
from connectors.model.states import ACTIVE, Status, StopReason, TableStage, ValidationState
from worker import logs
from worker.metrics import cdc_latency, cdc_silence
from worker.state import StateStore

from .lobs import lob_warnings
from .plan import phase

log = logs.get_logger(__name__)
_FLOAT = ("FreshStartDate", "StartDate", "StopDate", "FullLoadStartDate", "FullLoadFinishDate")
_INT_STATS = ("Inserts", "Deletes", "Updates", "Ddls", "FullLoadRows", "FullLoadCondtnlChkFailedRows",
              "FullLoadErrorRows", "ValidationPendingRecords", "ValidationFailedRecords",
              "ValidationSuspendedRecords")


def _num(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Seen:
    """What a warning provider looks at: the task's definition and its live state, read once."""

    task: TaskDef
    state: StateStore
    info: dict[str, str]  # the task's live hash (worker/state.py)
    states: dict[str, str]  # table -> internal table state
    now: float

    @property
    def status(self) -> str:
        return self.info.get("Status", Status.READY)


# A provider yields zero or more one-line warnings, each saying what is wrong and how to cure it.
WarningProvider = Callable[[Seen], Iterable[str]]


def state_lost(task: TaskDef, info: dict[str, str]) -> bool:
    """The catalog says the task was started, but Redis has no live state of it (restarted empty, flushed)."""
    return task.started_at is not None and "FreshStartDate" not in info


def shown_status(task: TaskDef, info: dict[str, str]) -> str:
    """The Status the task shows: failed when its live state vanished, never ready."""
    return Status.FAILED if state_lost(task, info) else info.get("Status", Status.READY)


def _state_vanished(seen: Seen) -> Iterable[str]:
    """The catalog says the task was started, Redis has no live state of it: never show it as new."""
    if state_lost(seen.task, seen.info):
        yield seen.task.vanished_message()


def _no_worker(seen: Seen) -> Iterable[str]:
    """An active task whose instance has no live worker: nothing moves, whatever the status says."""
    if seen.status not in ACTIVE:
        return
    instance = seen.task.instance
    if seen.state.workers(instance):
        return
    cure = f"start one with `dms worker --instance {instance}`"
    last = seen.state.worker_seen(instance)
    if last is None:
        yield f"no live worker serves instance {instance}: {cure}"
    else:
        yield f"no live worker has served instance {instance} for {seen.now - last:.0f} s: {cure}"


def _cdc_silent(seen: Seen) -> Iterable[str]:
    """A CDC job that has not reported for a while reads and applies nothing."""
    silent = cdc_silence(seen.info, seen.now)
    if silent:
        failure = seen.info.get("LastFailureMessage")
        why = f" (last failure: {failure})" if failure else ""
        yield (f"changes have been neither read nor applied for {silent:.0f} s{why}; CDCLatencySource and "
               "CDCLatencyTarget grow until they are")


def _lob_limits(seen: Seen) -> Iterable[str]:
    """Limited LOB mode: which values are cut, at what size, by which setting, and how many so far."""
    return lob_warnings(seen.task, seen.state)


WARNING_PROVIDERS: list[WarningProvider] = [_state_vanished, _no_worker, _cdc_silent, _lob_limits]


def task_warnings(task: TaskDef, state: StateStore, info: dict[str, str] | None = None,
                  states: dict[str, str] | None = None, now: float | None = None) -> list[str]:
    """Every provider's warnings for the task, in WARNING_PROVIDERS order. A provider that fails says so
    in one line rather than hiding the others."""
    seen = Seen(task, state, state.task(task.id) if info is None else info,
                state.table_states(task.id) if states is None else states, time.time() if now is None else now)
    lines: list[str] = []
    for provider in WARNING_PROVIDERS:
        try:
            lines.extend(provider(seen))
        except Exception as exc:  # one check that cannot run must not hide the task's state
            log.warning("warning_check_failed", task=task.id, check=provider.__name__, error=str(exc))
            lines.append(f"could not check {provider.__name__.strip('_').replace('_', ' ')}: {exc}")
    return lines


def describe(task: TaskDef, state: StateStore) -> dict[str, Any]:
    info = state.task(task.id)
    states = state.table_states(task.id)
    now = time.time()
    if state_lost(task, info):  # what a worker that saw it go writes, or the same words when none did
        info = {**info, "Status": Status.FAILED, "StopReason": StopReason.FATAL_ERROR,
                "LastFailureMessage": info.get("LastFailureMessage") or task.vanished_message()}
    status = info.get("Status", Status.READY)
    counts = {name: sum(1 for s in states.values() if s in group) for name, group in (
        ("TablesLoaded", (TableStage.LOADED, TableStage.LIVE, TableStage.COMPLETED)),
        ("TablesLoading", (TableStage.LOADING,)),
        ("TablesQueued", (TableStage.PENDING,)),
        ("TablesErrored", (TableStage.FAILED,)),
    )}
    total = len(states)
    loaded = counts["TablesLoaded"] + counts["TablesErrored"]
    start = _num(info.get("StartDate"))
    end = _num(info.get("StopDate")) if status in (Status.STOPPED, Status.FAILED) else None
    stats: dict[str, Any] = {
        "FullLoadProgressPercent": int(100 * loaded / total) if total and task.full_load else 0,
        "ElapsedTimeMillis": int(((end or now) - start) * 1000) if start else 0,
        **counts,
    }
    for key in _FLOAT:
        if info.get(key):
            stats[key] = float(info[key])
    doc: dict[str, Any] = {
        "ReplicationTaskIdentifier": task.id,
        "SourceEndpointIdentifier": task.source,
        "TargetEndpointIdentifier": task.target,
        "ReplicationInstanceIdentifier": task.instance,
        "MigrationType": task.migration_type,
        "Status": status,
        "Phase": phase(task, status, states),
        "ReplicationTaskCreationDate": task.created_at.timestamp(),
        "TableMappings": task.table_mappings_json,
        "ReplicationTaskSettings": json.dumps(task.settings.to_json()),
        "ReplicationTaskStats": stats,
    }
    if start:
        doc["ReplicationTaskStartDate"] = start
    for key in ("StopReason", "LastFailureMessage", "CdcStartPosition", "RecoveryCheckpoint", "TargetPreparation"):
        if info.get(key):
            doc[key] = info[key]
    if task.cdc_start_position and "CdcStartPosition" not in doc:
        doc["CdcStartPosition"] = task.cdc_start_position
    if status == Status.RUNNING and task.cdc:
        doc["Metrics"] = cdc_latency(info, now)
    doc["Warnings"] = task_warnings(task, state, info, states, now)  # ours, beside DMS's keys
    return doc


def table_statistics(task: TaskDef, state: StateStore) -> dict[str, Any]:
    rows = []
    for table in state.tables(task.id):
        raw = state.table_stats(task.id, table)
        entry: dict[str, Any] = {"SchemaName": table.schema, "TableName": table.name}
        for key in _INT_STATS:
            entry[key] = int(raw.get(key) or 0)
        for key in ("FullLoadStartTime", "FullLoadEndTime", "LastUpdateTime"):
            if raw.get(key):
                entry[key] = float(raw[key])
        entry["FullLoadReloaded"] = raw.get("FullLoadReloaded") == "true"
        entry["TableState"] = raw.get("TableState", TableStage.PENDING.shown)
        entry["ValidationState"] = raw.get("ValidationState", ValidationState.NOT_ENABLED)
        if raw.get("ValidationStateDetails"):
            entry["ValidationStateDetails"] = raw["ValidationStateDetails"]
        if raw.get("LobTruncations"):
            entry["LobTruncations"] = int(raw["LobTruncations"])
        for key in ("TableError", "LoadedBy"):  # ours, beyond DMS's fields
            if raw.get(key):
                entry[key] = raw[key]
        for key in ("ValidationStartTime", "ValidationEndTime"):  # ours too
            if raw.get(key):
                entry[key] = float(raw[key])
        rows.append(entry)
    return {"ReplicationTaskIdentifier": task.id, "TableStatistics": rows}
