"""Which LOB values a task cuts.

With no LOB key in its settings a task migrates LOBs whole (connectors/model/settings.py says why); limited
LOB mode, asked for by the task's settings or by a table-settings ``lob-settings`` rule, cuts text and
binary values to a size as DMS does. Wherever people look (describe, stats, watch, a foreground start,
validate) the cut is named with the setting that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

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
