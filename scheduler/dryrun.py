"""`dms task create --dry-run`: the planned target tables, printed without defining anything."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Column, TableSchema
from connectors.model.settings import TaskSettings
from connectors.registry import type_table
from connectors.types import common_type


def column_types(table: TableSchema, column: Column | None, target: Column, target_engine: str) -> tuple[str, str]:
    """``source type -> DMS type -> target type`` of one column of the planned target ``table`` (from
    ``column`` of the source), and why some values change on the way ("" when none do)."""
    mapped = type_table(target_engine).column_type(table, target)
    origin = (column.native or column.type) if column is not None else "(computed)"
    if column is not None and (column.dms != target.dms or column.type != target.type):
        origin = f"{origin} (change-data-type)"
    null = "" if target.nullable else " NOT NULL"
    return f"{origin} -> {common_type(target)} -> {mapped.native}{null}", mapped.lossy


def print_plan(maps: dict, settings: TaskSettings, echo: Callable[[str], None], target_engine: str = "") -> None:
    """Each planned target table: its key, columns and where each comes from, with the source type, the
    DMS type and the target type of each column (and why, when some values change), filters, LOB limit."""
    if not maps:
        echo("the selection rules select no table on the source")
    created = settings.prep_mode == "drop"  # the other modes leave the target's tables as they are
    later = created and settings.full_load.CreatePkAfterFullLoad
    for mapped in maps.values():
        t = mapped.target
        when = "  (added after the full load: CreatePkAfterFullLoad)" if later and t.key else ""
        echo(f"{mapped.source.table} -> {t.table}  key ({', '.join(t.key) or 'none'}){when}")
        for unique in t.unique if created else ():
            echo(f"    unique ({', '.join(unique)})  (added after the full load)")
        for c in t.columns:
            out = next(o for o in mapped.outs if o.name == c.name)
            origin = (f"= {out.source}" if out.source and out.source != c.name else
                      f"= {out.expression}" if out.expression else f"= old {out.before}" if out.before else "")
            src = next((s for s in mapped.source.columns if s.name in (out.source, out.before)), None)
            types, lossy = column_types(t, src, c, target_engine or t.engine)
            echo(f"    {c.name:30} {types}  {origin}{f'  (lossy: {lossy})' if lossy else ''}".rstrip())
        for f in mapped.filters:
            conds = " OR ".join(f"{c.op} {c.value or ''}{' ' + c.end if c.end else ''}".strip() for c in f.conditions)
            echo(f"    filter: {f.column} {conds}")
        if mapped.lob_setting:
            lob = mapped.lob_setting
            echo(f"    LOB values over {lob.kb} KB are cut ({lob.setting}, {lob.size_key}={lob.kb})")
