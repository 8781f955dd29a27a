"""`dms task assess`: DMS's premigration assessment, run against the real endpoints before a start.

Each check passes, warns (the task runs, but something will not arrive as it is) or fails (the task
would fail or lose data): connections and rights, CDC readiness, tables without keys, types the
target cannot hold exactly, and LOB values larger than the task's LOB limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import Catalog, TaskDef
from connectors.registry import open_source, open_target
from connectors.types import DmsType

from .dryrun import column_types
from .submit import check_rules

PASSED, WARNING, FAILED = "passed", "warning", "failed"


@dataclass
class Check:
    name: str
    status: str = PASSED
    details: list[str] = field(default_factory=list)

    def add(self, status: str, detail: str) -> None:
        self.details.append(detail)
        if (status, self.status) in ((FAILED, PASSED), (FAILED, WARNING), (WARNING, PASSED)):
            self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "Status": self.status, "Details": self.details}


def assess(catalog: Catalog, task: TaskDef) -> list[Check]:
    src_ep, tgt_ep = catalog.endpoint(task.source), catalog.endpoint(task.target)
    reach = Check("endpoints: connections and rights")
    cdc = Check("source: ready for change data capture")
    try:
        source = open_source(src_ep)
    except DmsError as exc:
        reach.add(FAILED, f"source {src_ep.id}: {exc}")
        return [reach]
    try:
        checks = [reach, cdc] if task.cdc else [reach]
        for problem in source.check(cdc=False):
            reach.add(FAILED, f"source {src_ep.id}: {problem}")
        try:
            target = open_target(tgt_ep)
            try:
                for problem in target.check():
                    reach.add(FAILED, f"target {tgt_ep.id}: {problem}")
            finally:
                target.close()
        except DmsError as exc:
            reach.add(FAILED, f"target {tgt_ep.id}: {exc}")
        if reach.status == FAILED:
            return checks
        if task.cdc:
            for problem in source.check(cdc=True):
                cdc.add(FAILED, problem)
        checks += _tables(task, source, tgt_ep.engine)
        return checks
    finally:
        source.close()


def _tables(task: TaskDef, source, target_engine: str) -> list[Check]:
    selected = Check("table mappings: tables selected")
    keys = Check("tables without a primary key")
    types = Check("types the target cannot hold exactly")
    lobs = Check("LOB columns against the LOB settings")
    schemas = source.tables(task.mappings.selections)
    if not schemas:
        selected.add(FAILED, "the selection rules select no table on the source: check their schema-name and "
                             "table-name patterns")
        return [selected]
    try:
        maps = check_rules(task, source, schemas)
    except ConfigError as exc:
        selected.add(FAILED, str(exc))
        return [selected]
    selected.add(PASSED, f"{len(schemas)} table(s)")
    for schema in schemas:
        if not schema.key:
            if task.cdc and not schema.full_row:
                keys.add(FAILED, f"{schema.table}: no primary key or replica identity, so its changes cannot be "
                                 f"replicated: {source.whole_rows_cure(schema.table)}")
            else:
                keys.add(WARNING, f"{schema.table}: no primary key: validation compares it as a multiset of rows, "
                                  "and a reloaded chunk cannot be replaced by key")
        mapped = maps[schema.table]
        for column in mapped.target.columns:
            out = next(o for o in mapped.outs if o.name == column.name)
            origin = next((c for c in schema.columns if c.name in (out.source, out.before)), None)
            try:
                described, lossy = column_types(mapped.target, origin, column, target_engine)
            except (ConfigError, ValueError) as exc:
                types.add(FAILED, f"{mapped.target.table}.{column.name}: {exc}")
                continue
            if lossy:
                types.add(WARNING, f"{mapped.target.table}.{column.name}: {described}: {lossy}")
        _lob_check(lobs, source, schema, mapped)
    return [selected, keys, types, lobs]


def _lob_check(check: Check, source, schema, mapped) -> None:
    lob_columns = [c.name for c in schema.columns if c.dms and _is_lob(c.dms)]
    if not lob_columns:
        return
    largest = source.largest_values(schema, lob_columns)
    limit = mapped.lob_setting
    for name in lob_columns:
        size = largest.get(name)
        shown = "size unknown" if size is None else f"largest value {size:,} bytes"
        if limit is not None and size is not None and size > limit.bytes:
            check.add(FAILED, f"{schema.table}.{name}: {shown}, over {limit.kb} KB ({limit.setting}, "
                              f"{limit.size_key}): such values would be cut; raise {limit.size_key} or use full "
                              "LOB mode")
        else:
            where = f"within {limit.kb} KB ({limit.setting})" if limit else "migrated whole (no LOB limit)"
            check.add(PASSED, f"{schema.table}.{name}: {shown}, {where}")


def _is_lob(dms: str) -> bool:
    try:
        return DmsType.parse(dms).lob
    except ValueError:
        return False


def overall(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return FAILED if FAILED in statuses else WARNING if WARNING in statuses else PASSED
