"""What the console shows and does, as JSON documents: each built by the code the CLI's commands run
(scheduler/status.py, submit.py, reload.py, connection.py, worker/metrics.py), so the two never disagree."""

from __future__ import annotations

import time
from typing import Any

from connectors.errors import ConfigError
from connectors.model.catalog import Catalog
from connectors.model.states import Status
from worker import series
from worker.metrics import task_metrics
from worker.state import StateStore

from ..homes import check_not_running_elsewhere, elsewhere, state_for, state_or_fail, unreachable
from ..plan import START_TYPES
from ..status import describe, table_statistics

EVENTS_SHOWN = 20


def instances(catalog: Catalog, state: StateStore, now: float) -> list[dict[str, Any]]:
    """Replication instances and their workers: a worker is live while it renews its key in Redis (as
    `dms instance list` and the task warnings judge it); with none live, when one was last seen."""
    docs = []
    for item in catalog.instances():
        instance = str(item["id"])
        workers = state.workers(instance)
        seen = state.worker_seen(instance)
        docs.append({"ReplicationInstanceIdentifier": instance, "Workers": workers,
                     "ReplicationInstanceStatus": "available" if workers else "no live worker",
                     "LastWorkerSeenSecondsAgo": None if workers or seen is None else round(now - seen)})
    return docs


def endpoints(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"EndpointIdentifier": e.id, "EndpointType": e.kind, "EngineName": e.engine, "Address": e.address}
            for e in catalog.endpoints(decrypt=False)]


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    keep = ("ReplicationTaskIdentifier", "MigrationType", "Status", "Phase", "SourceEndpointIdentifier",
            "TargetEndpointIdentifier", "ReplicationInstanceIdentifier", "LastFailureMessage", "Warnings")
    return {**{k: doc[k] for k in keep if k in doc}, "ReplicationTaskStats": doc["ReplicationTaskStats"]}


def tasks(catalog: Catalog, state: StateStore) -> list[dict[str, Any]]:
    """Each task with its status, phase and progress, read where it ran (as `dms task list` does)."""
    docs = []
    for task in catalog.tasks():
        store = state_for(task, state)
        if store is None:
            # No Status: its live state is in a Redis this process cannot reach (the page says "elsewhere").
            docs.append({"ReplicationTaskIdentifier": task.id, "MigrationType": task.migration_type,
                         "ReplicationTaskStats": {}, "Warnings": [str(unreachable(task, elsewhere(task) or ""))]})
        else:
            docs.append(_summary(describe(task, store)))
    return docs


def overview(catalog: Catalog, state: StateStore) -> dict[str, Any]:
    now = time.time()
    return {"Timestamp": now, "ReplicationInstances": instances(catalog, state, now),
            "Endpoints": endpoints(catalog), "ReplicationTasks": tasks(catalog, state)}


def task_page(catalog: Catalog, state: StateStore, task_id: str) -> dict[str, Any]:
    """One task: DMS's description and table statistics, its figures now, its last hour and its events."""
    task = catalog.task(task_id)
    store = state_or_fail(task, state)
    now = time.time()
    return {"Timestamp": now, "ReplicationTask": describe(task, store),
            "TableStatistics": table_statistics(task, store)["TableStatistics"],
            "Metrics": task_metrics(store, task.id, now), "SeriesStepSeconds": series.BUCKET,
            "Series": series.read(store.r, task.id, now), "Events": store.events(task.id)[-EVENTS_SHOWN:],
            "StartTypes": list(START_TYPES)}


def start(catalog: Catalog, state: StateStore, task_id: str, start_type: str | None) -> str:
    """`dms task start` for a fleet: the jobs go to the instance's queues (the console never runs a task in
    its own process, as the CLI's embedded mode does)."""
    from ..submit import start_task

    if start_type not in (None, *START_TYPES):
        raise ConfigError(f"unknown start type {start_type!r}: one of {', '.join(START_TYPES)}")
    task = catalog.task(task_id)
    check_not_running_elsewhere(task)
    used = start_task(catalog, state, task.id, start_type)
    message = f"task {task.id} started ({used})"
    if not state.workers(task.instance):
        message += (f"; no worker serves instance {task.instance} yet: the jobs wait until one starts "
                    f"(dms worker --instance {task.instance})")
    return message


def stop(catalog: Catalog, state: StateStore, task_id: str) -> str:
    """`dms task stop --no-wait`: the page shows stopping, then stopped."""
    from ..submit import request_stop

    task = catalog.task(task_id)
    store = state_or_fail(task, state)
    request_stop(task, store)
    return f"task {task.id} {store.status(task.id) or Status.STOPPING}"


def reload(catalog: Catalog, state: StateStore, task_id: str, tables: list[str], validate_only: bool) -> str:
    """`dms task reload-tables` (DMS's ReloadTables), or with ``validate_only`` the tables validated again."""
    from ..reload import reload_tables

    task = catalog.task(task_id)
    return "; ".join(reload_tables(catalog, state_or_fail(task, state), task.id, tables, validate_only))


def test_endpoint(catalog: Catalog, endpoint_id: str) -> dict[str, Any]:
    """`dms endpoint test` (DMS's TestConnection): its OK line and warnings, or ConfigError naming what failed."""
    from ..endpoints import test_report

    message, warnings = test_report(catalog, catalog.endpoint(endpoint_id.lower()))
    return {"Message": message, "Warnings": warnings}
