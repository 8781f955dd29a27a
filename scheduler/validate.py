"""`dms task validate`: every table of a task compared row by row (worker/compare.py), on demand."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Capability
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog
from connectors.model.tablemap import build_maps
from connectors.registry import open_source, open_target
from worker.compare import TableResult, compare_table
from worker.state import StateStore


def validate_task(
    catalog: Catalog, state: StateStore, task_id: str, progress: Callable[[TableResult], None] | None = None
) -> list[TableResult]:
    task = catalog.task(task_id)
    tables = state.tables(task_id)
    source = open_source(catalog.endpoint(task.source))
    target = open_target(catalog.target_endpoint(task))
    try:
        if Capability.READ_BACK not in target.capabilities:
            raise ConfigError(f"target {task.target} cannot be read back, so it cannot be validated")
        if not tables:
            tables = {s.table: s for s in source.tables(task.mappings.selections)}
        maps = build_maps(task.mappings, task.settings, tables.values())
        results = []
        for schema in tables.values():
            result = compare_table(source, target, maps[schema.table])
            details = "" if result.equal else "; ".join(
                filter(None, (f"{result.mismatches} mismatched records", result.cut_note)))
            state.set_table_stats(task_id, schema.table, ValidationState=result.to_json()["ValidationState"],
                                  ValidationFailedRecords=result.mismatches, ValidationStateDetails=details)
            results.append(result)
            if progress:
                progress(result)
        return results
    finally:
        source.close()
        target.close()
