"""Row-by-row validation: source and target read in key order and compared in one streaming pass.

Both sides are read in the same key order, so a row missing on one side waits in a small dict
until its partner arrives or the table ends: memory grows with the differences, not the table.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Capability, Row, TableSchema
from connectors.errors import ConfigError
from connectors.registry import open_source, open_target
from worker.state import StateStore

from .catalog import Catalog
from .tablemap import build_maps

MAX_LISTED = 20


@dataclass
class TableResult:
    table: str
    source_rows: int = 0
    target_rows: int = 0
    missing_in_target: list[Any] = field(default_factory=list)
    missing_in_source: list[Any] = field(default_factory=list)
    different: list[Any] = field(default_factory=list)
    mismatches: int = 0
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        return self.mismatches == 0

    def note(self, bucket: list[Any], key: Any) -> None:
        self.mismatches += 1
        if len(bucket) < MAX_LISTED:
            bucket.append(list(key) if isinstance(key, tuple) else key)

    def to_json(self) -> dict[str, Any]:
        schema, _, name = self.table.partition(".")
        return {
            "SchemaName": schema, "TableName": name,
            "ValidationState": "Validated" if self.equal else "Mismatched records",
            "SourceRows": self.source_rows, "TargetRows": self.target_rows,
            "ValidationFailedRecords": self.mismatches,
            "MissingInTarget": self.missing_in_target, "MissingInSource": self.missing_in_source,
            "Different": self.different, "Seconds": round(self.seconds, 3),
        }


def _same(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)  # NaN (float or Decimal) equals NaN here, as in PostgreSQL


def compare(schema: TableSchema, source_rows: Iterator[list[Row]], target_rows: Iterator[list[Row]]) -> TableResult:
    result = TableResult(str(schema.table))
    names = schema.column_names
    key_names = schema.key or names  # a keyless table is compared as a multiset of whole rows

    def key_of(row: Row) -> tuple:
        return tuple(row.get(k) for k in key_names)

    waiting_src: dict[tuple, list[Row]] = {}
    waiting_tgt: dict[tuple, list[Row]] = {}

    def take(rows: list[Row], mine: dict, theirs: dict, counter: str) -> None:
        setattr(result, counter, getattr(result, counter) + len(rows))
        for row in rows:
            k = key_of(row)
            partners = theirs.get(k)
            if partners:
                other = partners.pop()
                if not partners:
                    del theirs[k]
                if any(not _same(row.get(n), other.get(n)) for n in names):
                    result.note(result.different, k)
            else:
                mine.setdefault(k, []).append(row)

    for src, tgt in itertools.zip_longest(source_rows, target_rows, fillvalue=[]):
        take(src, waiting_src, waiting_tgt, "source_rows")
        take(tgt, waiting_tgt, waiting_src, "target_rows")
    for k, rows in waiting_src.items():
        for _ in rows:
            result.note(result.missing_in_target, k)
    for k, rows in waiting_tgt.items():
        for _ in rows:
            result.note(result.missing_in_source, k)
    return result


def validate_task(
    catalog: Catalog, state: StateStore, task_id: str, progress: Callable[[TableResult], None] | None = None
) -> list[TableResult]:
    task = catalog.task(task_id)
    tables = state.tables(task_id)
    source = open_source(catalog.endpoint(task.source))
    target = open_target(catalog.endpoint(task.target))
    try:
        if Capability.READ_BACK not in target.capabilities:
            raise ConfigError(f"target {task.target} cannot be read back, so it cannot be validated")
        if not tables:
            tables = {s.table: s for s in source.tables(task.mappings.selections)}
        maps = build_maps(task.mappings, task.settings, tables.values())
        results = []
        for schema in tables.values():
            started = time.monotonic()
            mapped = maps[schema.table]
            batches = source.snapshot(mapped.read, ordered=True, where=mapped.filters)
            src = (mapped.target_rows(b.rows()) for b in batches)
            result = compare(mapped.copied, src, target.read(mapped.load))
            result.table = str(schema.table)
            result.seconds = time.monotonic() - started
            details = "" if result.equal else f"{result.mismatches} mismatched records"
            state.set_table_stats(task_id, schema.table, ValidationState=result.to_json()["ValidationState"],
                                  ValidationFailedRecords=result.mismatches, ValidationStateDetails=details)
            results.append(result)
            if progress:
                progress(result)
        return results
    finally:
        source.close()
        target.close()
