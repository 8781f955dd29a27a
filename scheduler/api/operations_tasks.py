"""Replication tasks: DMS's CreateReplicationTask ... ReloadTables, through the very functions `dms task` uses
(scheduler/taskdefs.py, submit.py, status.py, reload.py) over the catalog and the live state in Redis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import TaskDef
from connectors.model.mappings import check_mappings_size
from connectors.model.spec import MIGRATION_TYPES, check_identifier
from connectors.model.states import ACTIVE, Status
from scheduler.cli_common import live_state
from scheduler.plan import START_TYPES

from . import errors, tags
from .arns import Context, ident
from .operations_endpoints import get_endpoint, get_instance
from .shapes import add_once, choice, filtered, listing, of, page, required, string, task_doc

log = structlog.get_logger("dms.api")

# DescribeTableStatistics' TableStatistics members: our own keys (TableError, LoadedBy, ...) stay out.
_TABLE_KEYS = ("SchemaName", "TableName", "Inserts", "Deletes", "Updates", "Ddls", "FullLoadRows",
               "FullLoadCondtnlChkFailedRows", "FullLoadErrorRows", "FullLoadStartTime", "FullLoadEndTime",
               "FullLoadReloaded", "LastUpdateTime", "TableState", "ValidationPendingRecords",
               "ValidationFailedRecords", "ValidationSuspendedRecords", "ValidationState", "ValidationStateDetails")


def _warn(task_id: str) -> Any:
    return lambda line: log.warning("api task warning", task=task_id, warning=line)


def get_task(ctx: Context, req: Mapping[str, Any], param: str = "ReplicationTaskArn") -> TaskDef:
    value = required(req, param)
    task_id = ident(value, "task", param)
    try:
        return ctx.catalog.task(task_id)
    except ConfigError:
        raise errors.not_found(f"Replication Task {value} not found") from None


def _store(task: TaskDef) -> Any:
    """The live state the task is in (the Redis it ran on), or None when that Redis does not answer from here."""
    from scheduler.homes import state_for

    return state_for(task, live_state())


def _described(ctx: Context, task: TaskDef, with_settings: bool = True) -> dict[str, Any]:
    from scheduler.homes import elsewhere, unreachable
    from scheduler.status import describe

    store = _store(task)
    if store is None:  # shown, not hidden: DMS would show such a task failed
        doc = {"ReplicationTaskIdentifier": task.id, "SourceEndpointIdentifier": task.source,
               "TargetEndpointIdentifier": task.target, "ReplicationInstanceIdentifier": task.instance,
               "MigrationType": task.migration_type, "TableMappings": task.table_mappings_json,
               "ReplicationTaskSettings": task.settings_json, "Status": Status.FAILED,
               "LastFailureMessage": str(unreachable(task, elsewhere(task) or "")),
               "ReplicationTaskCreationDate": task.created_at.timestamp()}
    else:
        doc = describe(task, store)
    return task_doc(ctx, doc, with_settings)


def _status(task: TaskDef) -> str:
    store = _store(task)
    return store.status(task.id) if store is not None else "unknown"


def _check_cdc_time(req: Mapping[str, Any]) -> None:
    if req.get("CdcStartTime") is not None or req.get("CdcStopPosition") is not None:
        raise errors.invalid_combination("CdcStartTime and CdcStopPosition are not supported: give CdcStartPosition "
                                         "(a position of the source, or a task's RecoveryCheckpoint)")


def _mappings(req: Mapping[str, Any], need: bool) -> str | None:
    text = string(req, "TableMappings", need=need)
    if text is not None:
        check_mappings_size(len(text.encode()), "TableMappings")
    return text


def create_replication_task(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.taskdefs import check_definition, check_rules

    task_id = string(req, "ReplicationTaskIdentifier", need=True)
    source = get_endpoint(ctx, required(req, "SourceEndpointArn"), "SourceEndpointArn", decrypt=True)
    target = get_endpoint(ctx, required(req, "TargetEndpointArn"), "TargetEndpointArn")
    instance = get_instance(ctx, required(req, "ReplicationInstanceArn"), "ReplicationInstanceArn")
    migration_type = choice(req, "MigrationType", MIGRATION_TYPES, need=True)
    mappings = _mappings(req, need=True)
    _check_cdc_time(req)
    check_identifier("task", task_id)
    task_id = task_id.lower()
    if any(t.id == task_id for t in ctx.catalog.tasks()):
        raise errors.already_exists(f"Replication Task {task_id} already exists")
    definition = TaskDef(task_id, source.id, target.id, instance["id"], migration_type, mappings,
                         string(req, "ReplicationTaskSettings", ""), string(req, "CdcStartPosition", ""))
    warn = _warn(task_id)
    definition = check_definition(ctx.catalog, definition, "TableMappings", "ReplicationTaskSettings", warn)
    check_rules(definition, source, False, warn)
    tags.check(req.get("Tags") or [])  # before the resource is made
    add_once(lambda: ctx.catalog.add_task(definition), f"Replication Task {task_id}")
    if req.get("Tags"):
        tags.put(ctx, "task", task_id, req["Tags"])
    return {"ReplicationTask": _described(ctx, ctx.catalog.task(task_id))}


TASK_FILTERS = {
    "replication-task-arn": of("ReplicationTaskArn", "ReplicationTaskIdentifier"),
    "replication-task-id": of("ReplicationTaskIdentifier"),
    "migration-type": of("MigrationType"),
    "endpoint-arn": of("SourceEndpointArn", "TargetEndpointArn"),
    "replication-instance-arn": of("ReplicationInstanceArn"),
}


def describe_replication_tasks(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    without = req.get("WithoutSettings") is True
    docs = [_described(ctx, t, not without) for t in ctx.catalog.tasks()]
    return listing(req, docs, TASK_FILTERS, "ReplicationTasks", "Tasks")


def modify_replication_task(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.homes import check_not_running_elsewhere
    from scheduler.taskdefs import modify_task

    task = get_task(ctx, req)
    new_id = string(req, "ReplicationTaskIdentifier")
    if new_id is not None and new_id.lower() != task.id:
        raise errors.invalid_value(f"ReplicationTaskIdentifier of task {task.id} cannot change: create another task")
    _check_cdc_time(req)
    status = _status(task)
    if status in ACTIVE:
        raise errors.invalid_state(f"Replication Task {task.id} is {status}: stop it first (DMS modifies stopped "
                                   "tasks only)")
    try:
        check_not_running_elsewhere(task)
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    changed = modify_task(ctx.catalog, task.id, status, _warn(task.id),
                          migration_type=choice(req, "MigrationType", MIGRATION_TYPES),
                          mappings_json=_mappings(req, need=False), mappings_where="TableMappings",
                          settings_json=string(req, "ReplicationTaskSettings"),
                          settings_where="ReplicationTaskSettings",
                          cdc_start_position=string(req, "CdcStartPosition"))
    if changed:
        log.info("api task modified", task=task.id, needs="reload-target", changed=", ".join(changed))
    return {"ReplicationTask": _described(ctx, ctx.catalog.task(task.id))}


def start_replication_task(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from dataclasses import replace

    from scheduler.homes import check_not_running_elsewhere
    from scheduler.submit import start_task

    task = get_task(ctx, req)
    start_type = choice(req, "StartReplicationTaskType", START_TYPES, need=True)
    _check_cdc_time(req)
    status = _status(task)
    if status in ACTIVE:
        raise errors.invalid_state(f"Replication Task {task.id} is {status}: stop it before starting it again")
    try:
        check_not_running_elsewhere(task)
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    position = string(req, "CdcStartPosition")
    if position is not None and position != task.cdc_start_position:
        from scheduler.taskdefs import check_definition, check_rules

        changed = replace(task, cdc_start_position=position)
        check_definition(ctx.catalog, changed, None, None, _warn(task.id))
        check_rules(changed, ctx.catalog.endpoint(task.source), True, _warn(task.id))
        ctx.catalog.update_task(changed)
    state = live_state(long_running=False)
    info = state.task(task.id)
    if start_type == "start-replication" and ("FreshStartDate" in info or task.started_at is not None):
        raise errors.invalid_state(f"Replication Task {task.id} has run before: start it with StartReplicationTaskType "
                                   "resume-processing to continue, or reload-target to load everything again")
    used = start_task(ctx.catalog, state, task.id, start_type)
    if not state.workers(task.instance):
        log.warning("api task started without workers", task=task.id, instance=task.instance,
                    cure=f"dms worker --instance {task.instance}")
    log.info("api task started", task=task.id, start_type=used)
    return {"ReplicationTask": _described(ctx, ctx.catalog.task(task.id))}


def stop_replication_task(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.submit import request_stop

    task = get_task(ctx, req)
    store = _store(task)
    if store is None:
        raise errors.invalid_state(_described(ctx, task, False)["LastFailureMessage"])
    try:
        request_stop(task, store)  # what `dms task stop` and the console's Stop do
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    return {"ReplicationTask": _described(ctx, task)}


def delete_replication_task(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.submit import delete_task

    task = get_task(ctx, req)
    store = _store(task)
    if store is None:
        raise errors.invalid_state(_described(ctx, task, False)["LastFailureMessage"])
    status = store.status(task.id)
    if status in ACTIVE:
        raise errors.invalid_state(f"Replication Task {task.id} is {status}: stop it before deleting it")
    doc = _described(ctx, task)
    try:
        left = delete_task(ctx.catalog, store, task.id)
    except DmsError as exc:
        raise errors.invalid_state(str(exc)) from None
    tags.forget(ctx, "task", task.id)
    for what in left:
        log.warning("api task deleted leaving", task=task.id, left=what)
    return {"ReplicationTask": {**doc, "Status": Status.DELETING}}


TABLE_FILTERS = {
    "schema-name": of("SchemaName"),
    "table-name": of("TableName"),
    "table-state": of("TableState"),
}


def describe_table_statistics(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.status import table_statistics

    task = get_task(ctx, req)
    store = _store(task)
    if store is None:
        raise errors.invalid_state(_described(ctx, task, False)["LastFailureMessage"])
    rows = [{k: t[k] for k in _TABLE_KEYS if k in t} for t in table_statistics(task, store)["TableStatistics"]]
    out = page(req, filtered(req, rows, TABLE_FILTERS), "TableStatistics", largest=500)
    return {"ReplicationTaskArn": ctx.arn("task", task.id), **out}


def reload_tables(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.reload import reload_tables as reload

    task = get_task(ctx, req)
    tables = required(req, "TablesToReload")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise errors.invalid_value("TablesToReload must be a list of {SchemaName, TableName}")
    names = [f"{required(t, 'SchemaName')}.{required(t, 'TableName')}" for t in tables]
    option = choice(req, "ReloadOption", ("data-reload", "validate-only")) or "data-reload"
    store = _store(task)
    status = store.status(task.id) if store is not None else "unknown"
    if status != Status.RUNNING:
        raise errors.invalid_state(f"Replication Task {task.id} is {status}: tables are reloaded in a running task")
    for line in reload(ctx.catalog, store, task.id, names, option == "validate-only"):
        log.info("api reload", task=task.id, table=line)
    return {"ReplicationTaskArn": ctx.arn("task", task.id)}


OPERATIONS = {
    "CreateReplicationTask": create_replication_task,
    "DescribeReplicationTasks": describe_replication_tasks,
    "ModifyReplicationTask": modify_replication_task,
    "StartReplicationTask": start_replication_task,
    "StopReplicationTask": stop_replication_task,
    "DeleteReplicationTask": delete_replication_task,
    "DescribeTableStatistics": describe_table_statistics,
    "ReloadTables": reload_tables,
}
