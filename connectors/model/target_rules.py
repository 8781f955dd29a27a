"""Which task settings each kind of target can honour: one table, read when a task is created.

A row names a setting, when the task asks for it, and per target kind (connectors.base.TargetKind)
whether a task asking for it is refused (exit 2), warned about, or fine, with DMS's reason. A kind
missing from a row is fine. The rows follow what AWS DMS documents for its targets of that kind:
batch apply is not supported on Kafka, Kinesis or S3 (it can lose data); full LOB mode is not
supported on S3, Kinesis, Kafka or Redis; a stream or a folder of files has no table to truncate, no
key to create and no rows to read back for validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from connectors.base import TargetKind

from .settings import TaskSettings

Verdict = Literal["refuse", "warn"]
_KEYED, _APPEND = TargetKind.KEYED, TargetKind.APPEND


@dataclass(frozen=True, slots=True)
class Rule:
    setting: str  # as the user wrote it: Section.Key = value
    asked: Callable[[TaskSettings], bool]  # the task's settings ask for it
    verdicts: Mapping[TargetKind, tuple[Verdict, str]]  # kind -> (verdict, why and what to do instead)


RULES: tuple[Rule, ...] = (
    Rule("TargetMetadata.BatchApplyEnabled = true", lambda s: s.target_metadata.BatchApplyEnabled, {
        _KEYED: ("warn", "each change is written by its key as it comes, so there is no batch to apply set-wise; "
                         "the setting has no effect"),
        _APPEND: ("refuse", "DMS does not support batch apply on stream and file targets (it can lose data): "
                            "set it to false"),
    }),
    Rule("TargetMetadata.FullLobMode = true",
         lambda s: s.target_metadata.lobs_given and s.target_metadata.SupportLobs and s.target_metadata.FullLobMode, {
             _KEYED: ("refuse", "DMS has no full LOB mode on key-value targets: use LimitedSizeLobMode with a "
                                "LobMaxSize"),
             _APPEND: ("refuse", "DMS has no full LOB mode on stream and file targets: use LimitedSizeLobMode with a "
                                 "LobMaxSize"),
         }),
    Rule("FullLoadSettings.TargetTablePrepMode = TRUNCATE_BEFORE_LOAD",
         lambda s: s.full_load.TargetTablePrepMode == "TRUNCATE_BEFORE_LOAD", {
             _APPEND: ("refuse", "records already appended cannot be truncated: use DO_NOTHING"),
         }),
    Rule("FullLoadSettings.TargetTablePrepMode = DROP_AND_CREATE",
         lambda s: s.full_load.TargetTablePrepMode == "DROP_AND_CREATE"
         and "TargetTablePrepMode" in s.full_load.model_fields_set, {
             _APPEND: ("warn", "an append target has no table to drop: records already there stay and the load "
                               "appends after them (DO_NOTHING says so)"),
         }),
    Rule("FullLoadSettings.CreatePkAfterFullLoad = true", lambda s: s.full_load.CreatePkAfterFullLoad, {
        _KEYED: ("warn", "a key-value target has no primary key to create: every item is written by its key"),
        _APPEND: ("warn", "an append target has no primary key to create"),
    }),
    Rule("ValidationSettings.EnableValidation = true",
         lambda s: s.validation.EnableValidation or s.validation.ValidationOnly, {
             _APPEND: ("refuse", "records appended to a stream or to files are not read back: DMS validates no such "
                                 "target; set it to false"),
         }),
)


def check_target_settings(settings: TaskSettings, kind: TargetKind, target: str) -> tuple[list[str], list[str]]:
    """(refusals, warnings) for a task of ``settings`` writing to ``target`` (its description, e.g.
    "target t1 (kafka)") of ``kind``: one line each, naming the setting."""
    refusals: list[str] = []
    warnings: list[str] = []
    for rule in RULES:
        verdict = rule.verdicts.get(kind)
        if verdict is None or not rule.asked(settings):
            continue
        what, why = verdict
        line = f"{rule.setting}: {target} is {_ARTICLE[kind]} target; {why}"
        (refusals if what == "refuse" else warnings).append(line)
    return refusals, warnings


_ARTICLE = {TargetKind.TRANSACTIONAL: "a transactional", TargetKind.KEYED: "an idempotent keyed",
            TargetKind.APPEND: "an append"}

__all__ = ["RULES", "Rule", "check_target_settings"]
