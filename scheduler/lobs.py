"""Saying which LOB values a task cuts, wherever people look (describe, stats, watch, a foreground start,
create); the limits themselves are connectors/model/lobs.py."""

from __future__ import annotations

from connectors.model.catalog import TaskDef
from connectors.model.lobs import lob_limit
from connectors.model.settings import TaskSettings
from worker.state import StateStore


def lob_warnings(task: TaskDef, state: StateStore) -> list[str]:
    """One line per limit the task cuts LOBs at, with the values cut so far; none when LOBs migrate whole."""
    settings = task.settings
    policy = settings.errors.DataTruncationErrorPolicy
    outcome = f"fail their table (DataTruncationErrorPolicy {policy})" if policy in ("SUSPEND_TABLE", "STOP_TASK") \
        else "are cut"
    cut = {t: int(state.table_stats(task.id, t).get("LobTruncations") or 0) for t in state.tables(task.id)}
    rules = task.mappings.lob_settings
    lines = []
    default = lob_limit(settings)
    if default is not None:
        n = sum(v for t, v in cut.items() if t not in rules)
        lines.append(f"limited LOB mode: text and binary values over LobMaxSize={default.kb} KB {outcome} "
                     f"(TargetMetadata.LimitedSizeLobMode; {_values(n)} cut so far)")
    for table, rule in sorted(rules.items(), key=lambda kv: str(kv[0])):
        limit = lob_limit(settings, rule)
        if limit is not None and limit != default:
            lines.append(f"limited LOB mode for {table}: text and binary values over {limit.size_key}={limit.kb} KB "
                         f"{outcome} ({limit.setting}; {_values(cut.get(table, 0))} cut so far)")
    return lines


def create_notice(settings: TaskSettings) -> list[str]:
    """At `dms task create`: the cut that limited LOB mode will make, and how to migrate LOBs whole."""
    limit = lob_limit(settings)
    if limit is None:
        return []
    return [f"limited LOB mode: text and binary values over LobMaxSize={limit.kb} KB will be cut "
            "(TargetMetadata.LimitedSizeLobMode); leave the LOB keys out, or set FullLobMode, to migrate them whole"]


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


__all__ = ["create_notice", "lob_warnings"]
