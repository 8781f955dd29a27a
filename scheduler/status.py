"""Live state -> DMS-shaped documents: DescribeReplicationTasks and DescribeTableStatistics."""

from __future__ import annotations

import json
import time
from typing import Any

from worker.state import TABLE_STATES, StateStore

from .catalog import TaskDef
from .plan import phase

_FLOAT = ("FreshStartDate", "StartDate", "StopDate", "FullLoadStartDate", "FullLoadFinishDate")
_INT_STATS = ("Inserts", "Deletes", "Updates", "Ddls", "FullLoadRows", "FullLoadCondtnlChkFailedRows",
              "FullLoadErrorRows", "ValidationPendingRecords", "ValidationFailedRecords",
              "ValidationSuspendedRecords")


def _num(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def describe(task: TaskDef, state: StateStore) -> dict[str, Any]:
    info = state.task(task.id)
    states = state.table_states(task.id)
    status = info.get("Status", "ready")
    counts = {name: sum(1 for s in states.values() if s in group) for name, group in (
        ("TablesLoaded", ("loaded", "live", "completed")),
        ("TablesLoading", ("loading",)),
        ("TablesQueued", ("pending",)),
        ("TablesErrored", ("failed",)),
    )}
    total = len(states)
    loaded = counts["TablesLoaded"] + counts["TablesErrored"]
    start = _num(info.get("StartDate"))
    end = _num(info.get("StopDate")) if status in ("stopped", "failed") else None
    stats: dict[str, Any] = {
        "FullLoadProgressPercent": int(100 * loaded / total) if total and task.full_load else 0,
        "ElapsedTimeMillis": int(((end or time.time()) - start) * 1000) if start else 0,
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
    for key in ("StopReason", "LastFailureMessage", "CdcStartPosition", "RecoveryCheckpoint"):
        if info.get(key):
            doc[key] = info[key]
    if task.cdc_start_position and "CdcStartPosition" not in doc:
        doc["CdcStartPosition"] = task.cdc_start_position
    for key in ("CDCLatencySource", "CDCLatencyTarget"):
        if info.get(key) and status == "running":
            doc.setdefault("Metrics", {})[key] = float(info[key])
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
        entry["TableState"] = raw.get("TableState", TABLE_STATES["pending"])
        entry["ValidationState"] = raw.get("ValidationState", "Not enabled")
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
