"""The one table of task settings each target kind can honour (connectors/model/target_rules.py)."""

from __future__ import annotations

import json

import pytest

from connectors.base import TargetKind
from connectors.memory.target import MemoryTarget
from connectors.model.settings import parse_task_settings
from connectors.model.target_rules import RULES, check_target_settings
from connectors.postgres.target import PostgresTarget
from connectors.sqlite.target import SqliteTarget

T, K, A = TargetKind.TRANSACTIONAL, TargetKind.KEYED, TargetKind.APPEND

# settings -> the verdict per kind ("refuse", "warn" or None), and the setting the line must name
CASES = [
    ({"TargetMetadata": {"BatchApplyEnabled": True}}, {T: None, K: "warn", A: "refuse"},
     "TargetMetadata.BatchApplyEnabled"),
    ({"TargetMetadata": {"FullLobMode": True, "LimitedSizeLobMode": False}}, {T: None, K: "refuse", A: "refuse"},
     "TargetMetadata.FullLobMode"),
    ({"FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"}}, {T: None, K: None, A: "refuse"},
     "FullLoadSettings.TargetTablePrepMode"),
    ({"FullLoadSettings": {"TargetTablePrepMode": "DROP_AND_CREATE"}}, {T: None, K: None, A: "warn"},
     "FullLoadSettings.TargetTablePrepMode"),
    ({"FullLoadSettings": {"CreatePkAfterFullLoad": True}}, {T: None, K: "warn", A: "warn"},
     "FullLoadSettings.CreatePkAfterFullLoad"),
    ({"ValidationSettings": {"EnableValidation": True}}, {T: None, K: None, A: "refuse"},
     "ValidationSettings.EnableValidation"),
]


@pytest.mark.parametrize(("doc", "verdicts", "setting"), CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("kind", list(TargetKind))
def test_each_setting_is_refused_warned_or_fine_per_kind(doc: dict, verdicts: dict, setting: str,
                                                         kind: TargetKind) -> None:
    refusals, warnings = check_target_settings(parse_task_settings(json.dumps(doc)), kind, "target t1 (x)")
    expected = verdicts[kind]
    assert len(refusals) == (expected == "refuse")
    assert len(warnings) == (expected == "warn")
    for line in refusals + warnings:
        assert line.startswith(setting) and "target t1 (x)" in line


@pytest.mark.parametrize("kind", list(TargetKind))
def test_dms_defaults_are_fine_on_every_kind(kind: TargetKind) -> None:
    """A task created without --settings is never refused or warned about, whatever its target."""
    assert check_target_settings(parse_task_settings(None), kind, "target t1 (x)") == ([], [])


def test_full_lob_mode_is_refused_only_when_asked() -> None:
    """Without a LOB key LOBs travel whole with their rows; only naming FullLobMode asks for DMS's full LOB mode."""
    limited = parse_task_settings('{"TargetMetadata": {"LimitedSizeLobMode": true, "LobMaxSize": 64}}')
    assert check_target_settings(limited, A, "t") == ([], [])
    off = parse_task_settings('{"TargetMetadata": {"SupportLobs": false, "FullLobMode": true}}')
    assert check_target_settings(off, A, "t") == ([], [])


def test_transactional_targets_honour_every_setting() -> None:
    assert all(T not in rule.verdicts for rule in RULES)
    assert {PostgresTarget.kind, SqliteTarget.kind, MemoryTarget.kind} == {T}
