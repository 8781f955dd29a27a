"""`dms task reload-tables`: DMS's ReloadTables. The tables load again while the task runs on; with CDC the
others keep replicating, and the reloaded ones catch up from their change cache (worker/reloads.py)."""

from __future__ import annotations

from connectors.base import TableId
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog
from connectors.model.states import Status
from worker import reloads
from worker.dispatch import dispatch
from worker.state import StateStore, full_load_job
from worker.validation import forget_failures, queue_validation

MAX_TABLES = 10  # DMS reloads at most 10 tables per request


def reload_tables(catalog: Catalog, state: StateStore, task_id: str, names: list[str],
                  validate_only: bool) -> list[str]:
    """Queue the reloads (or, ``validate_only``, the validations); returns one line per table."""
    task = catalog.task(task_id)
    status = state.status(task_id)
    if status != Status.RUNNING:
        raise ConfigError(f"task {task_id} is {status}: tables are reloaded in a running task (DMS's rule); start "
                          f"it, or use `dms task start {task_id} --type reload-target` to load every table again")
    if not task.full_load and not validate_only:
        raise ConfigError(f"task {task_id} is a cdc task: only full-load and full-load-and-cdc tasks reload tables")
    if not names or len(names) > MAX_TABLES:
        raise ConfigError(f"give 1 to {MAX_TABLES} tables (--table SCHEMA.NAME, repeated), as DMS's ReloadTables")
    tables = [TableId.parse(n) for n in names]
    if len(set(tables)) != len(tables):
        raise ConfigError("a table is named twice: DMS refuses duplicate tables in one reload")
    states = state.table_states(task_id)
    unknown = [str(t) for t in tables if str(t) not in states]
    if unknown:
        raise ConfigError(f"task {task_id} replicates no table {', '.join(unknown)}: see `dms task stats {task_id}` "
                          "(names are schema.table, as there)")
    validating = task.settings.validation.EnableValidation
    if validate_only:
        if not validating:
            raise ConfigError(f"task {task_id} does not validate (ValidationSettings.EnableValidation is off): "
                              "--validate-only has nothing to run")
        loading = [str(t) for t in tables if states[str(t)] not in reloads.RELOADABLE]
        if loading:
            raise ConfigError(f"table {', '.join(loading)} of task {task_id} is still loading: it is validated "
                              "once loaded, and may be validated again after that")
        for table in tables:
            queue_validation(state, task_id, task.instance, table, again=True)
            state.add_event(task_id, "state change", f"table {table} revalidation requested")
        return [f"{t}: validation queued" for t in tables]
    lines = []
    for table in tables:
        was = reloads.begin(state, task_id, table, validating=validating)
        if was is None:
            raise ConfigError(f"table {table} of task {task_id} is still loading: reload it once it is loaded")
        forget_failures(state, task_id, table)
        state.hold(task_id, [full_load_job(table)], first=True)
        lines.append(f"{table}: reload queued (was {was})")
        state.add_event(task_id, "state change", f"table {table} reload started (it was {was})")
    dispatch(state, task_id, task.instance)
    return lines
