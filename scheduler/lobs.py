"""Which LOB values a task cuts, and saying so.

With no LOB key in its settings a task migrates LOBs whole (scheduler/settings.py says why); limited
LOB mode, asked for by the task's settings or by a table-settings ``lob-settings`` rule, cuts text and
binary values to a size as DMS does. Wherever people look (describe, stats, watch, a foreground start,
validate) the cut is named with the setting that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.state import StateStore

from .catalog import TaskDef
from .mappings import LobSettings
from .settings import TaskSettings


@dataclass(frozen=True)
class LobLimit:
    """A size LOB values are cut to, and the setting that asks for it."""

    kb: int
    setting: str  # "LimitedSizeLobMode", or a table-settings rule
    size_key: str  # the key that gives the size

    @property
    def bytes(self) -> int:
        return self.kb * 1024

    @property
    def cause(self) -> str:
        """"LimitedSizeLobMode cut values over LobMaxSize=32 KB"."""
        return f"{self.setting} cut values over {self.size_key}={self.kb} KB"


def lob_limit(settings: TaskSettings, rule: LobSettings | None = None) -> LobLimit | None:
    """The limit for a table: its lob-settings rule's (limited, unlimited) or else the task settings'."""
    tm = settings.target_metadata
    if rule is not None and rule.mode == "limited":
        kb = rule.max_kb or tm.LobMaxSize
        key = "bulk-max-size" if rule.max_kb else "LobMaxSize"
        return LobLimit(kb, f"table-settings rule {rule.rule_id} (lob-settings limited)", key) if kb else None
    if rule is not None and rule.mode == "unlimited":
        return None
    kb = tm.lob_max_kb
    return LobLimit(kb, "LimitedSizeLobMode", "LobMaxSize") if kb else None


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


__all__ = ["LobLimit", "create_notice", "lob_limit", "lob_warnings"]
