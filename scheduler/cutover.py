"""`dms task cutover`: the moment the application moves to the target. The task is drained and stopped at
a known position, the sequences that fill key columns are carried over (DMS creates tables and keys only,
so a `bigserial` on the target would start at 1 and collide), and the report says what is left to do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from connectors.base import Capability, CutoverTarget, SequenceValue
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.states import ACTIVE, UNLOADED, Status, TableStage
from connectors.model.tablemap import TableMap
from connectors.registry import open_source, open_target
from worker.metrics import task_metrics
from worker.state import StateStore

from .submit import check_rules, stop_task, wait_until_stopped

LEFT_TO_DO = ("foreign keys, secondary (non-unique) indexes, views, triggers, grants and column defaults other than "
              "the sequences above are not migrated (DMS creates tables and primary keys only): create them on the "
              "target from the source's schema (for PostgreSQL: pg_dump --schema-only --section=post-data)")


def drain_and_stop(state: StateStore, task: TaskDef, timeout: float, say: Callable[[str], None]) -> str:
    """Wait until every table is live and nothing read waits to be applied, twice in a row; stop; return the
    position the target holds everything up to."""
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 2:
        if time.monotonic() > deadline:
            raise ConfigError(f"task {task.id} did not catch up within {timeout:.0f} s (changes keep coming, or a "
                              "table still loads): stop the application's writes to the source and run cutover again")
        states = set(state.table_states(task.id).values())
        figures = task_metrics(state, task.id)
        idle = figures["CDCIncomingChanges"] == 0 and figures["CDCLatencySource"] == 0
        calm = calm + 1 if idle and not states & {*UNLOADED, TableStage.LOADED} else 0
        time.sleep(0.5)
    say(f"task {task.id}: caught up; stopping it")
    stop_task(state, task.id)
    status = wait_until_stopped(state, task.id, timeout)
    if status != Status.STOPPED:
        raise ConfigError(f"task {task.id} is {status} after {timeout:.0f} s: are its workers alive?")
    return state.task(task.id).get("RecoveryCheckpoint", "")


def cutover(catalog: Catalog, state: StateStore, task_id: str, *, timeout: float, attach: bool, objects: bool,
            say: Callable[[str], None]) -> list[str]:
    """Drain and stop (a replicating task), carry the sequences over; returns the report."""
    task = catalog.task(task_id)
    status = state.status(task_id)
    report = []
    if status == Status.RUNNING and task.cdc:
        position = drain_and_stop(state, task, timeout, say)
        report.append(f"stopped at source position {position}: the target holds every change committed before it; "
                      "changes the application makes on the source from now on are not replicated")
    elif status in ACTIVE:
        raise ConfigError(f"task {task_id} is {status} and still loading: run cutover once its full load has ended")
    elif status == Status.FAILED:
        raise ConfigError(f"task {task_id} failed: its target may lack changes; fix and resume it, then cut over")
    src_ep, tgt_ep = catalog.endpoint(task.source), catalog.endpoint(task.target)
    source, target = open_source(src_ep), open_target(tgt_ep)
    try:
        schemas = source.tables(task.mappings.selections)
        maps = check_rules(task, source, schemas)
        values = [v for v in (_on_target(v, maps) for v in source.sequences(schemas)) if v is not None]
        if not values:
            report.append("no sequence fills a column of the selected tables")
        elif Capability.CUTOVER in target.capabilities:
            report += cast(CutoverTarget, target).set_sequences(values, attach=attach)
            if not attach:
                report.append("the sequences are set but no column's default draws from them on tables DMS created: "
                              "run again with --attach-sequences, or set the defaults yourself")
        else:
            report += [f"{v.table}.{v.column}: the source's sequence {v.name} is at {v.last_value}; the target "
                       f"({task.target}) keeps no sequences: start the application's own key values above it"
                       for v in values]
        if objects:
            report += _carry_schema((src_ep.engine, tgt_ep.engine), source, target, schemas, maps)
    finally:
        source.close()
        target.close()
    report.append(LEFT_TO_DO if not objects else "triggers and grants are not migrated: create them on the "
                  "target from the source's schema")
    return report


def _carry_schema(engines: tuple[str, str], source, target, schemas: list, maps: dict) -> list[str]:
    """Same engine: the source's foreign keys, indexes, defaults and views made on the target, for tables
    whose names the mappings keep (a renamed table's objects name the old one)."""
    src_engine, tgt_engine = engines
    if src_engine != tgt_engine or Capability.CUTOVER not in target.capabilities:
        return [f"--schema-objects: the source ({src_engine}) and the target ({tgt_engine}) are not one engine: "
                "their schema objects cannot be carried as they are"]
    kept = {s.table for s in schemas if maps[s.table].target.table == s.table}
    objects = [o for o in source.schema_objects([s for s in schemas if s.table in kept])]
    if not objects:
        return ["--schema-objects: the selected tables have no foreign keys, indexes, defaults or views to carry"]
    skipped = [f"{s.table} is renamed on the target: its objects are not carried"
               for s in schemas if s.table not in kept]
    return skipped + cast(CutoverTarget, target).create_objects(objects)


def _on_target(value: SequenceValue, maps: dict) -> SequenceValue | None:
    """The value with the target's table and column names, or None when the column is not migrated."""
    mapped: TableMap | None = maps.get(value.table)
    if mapped is None:
        return None
    column = next((o.name for o in mapped.outs if o.source == value.column), None)
    if column is None:
        return None
    return SequenceValue(mapped.target.table, column, value.name, value.last_value)
