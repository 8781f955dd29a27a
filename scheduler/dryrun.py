"""`dms task create --dry-run`: the planned target tables, printed without defining anything."""

from __future__ import annotations

from collections.abc import Callable

from connectors.model.settings import TaskSettings


def print_plan(maps: dict, settings: TaskSettings, echo: Callable[[str], None]) -> None:
    """Each planned target table: its key, columns and where each comes from, filters, LOB limit."""
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
            echo(f"    {c.name:30} {c.native or c.type}{'' if c.nullable else ' NOT NULL'}  {origin}".rstrip())
        for f in mapped.filters:
            conds = " OR ".join(f"{c.op} {c.value or ''}{' ' + c.end if c.end else ''}".strip() for c in f.conditions)
            echo(f"    filter: {f.column} {conds}")
        if mapped.lob_setting:
            lob = mapped.lob_setting
            echo(f"    LOB values over {lob.kb} KB are cut ({lob.setting}, {lob.size_key}={lob.kb})")
