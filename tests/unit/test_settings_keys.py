"""Every task-settings key DMS accepts is accepted here; only keys DMS would not know are refused."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import ConfigError
from connectors.model.settings import parse_task_settings

KEYS_FILE = Path(__file__).with_name("dms_settings_keys.txt")
REFERENCE = Path(os.environ.get("DMS_SETTINGS_REFERENCE", "/work/shared/reference/dms-settings-keys.md"))
KEYS = [line for line in KEYS_FILE.read_text().splitlines() if line and not line.startswith("#")]


def reference_keys(text: str) -> set[str]:
    """The keys of the reference's task-settings tables (section A) and legacy table (section C)."""
    documented = text.split("\n## A.")[1].split("\n## B.")[0]
    legacy = text.split("\n## C.")[1].split("\n## D.")[0]
    keys: set[str] = set()
    section = ""
    for line in documented.splitlines():
        if line.startswith("### "):
            section = "" if "Top-level" in line else re.match(r"### (?:A\d+\. )?(\w+)", line).group(1)
        elif line.startswith("| `"):
            keys.update(f"{section}.{k}" if section else k for k in re.findall(r"`([^`]+)`", line.split("|")[1]))
    by_last = {k.rsplit(".", 1)[-1]: k for k in keys}
    for line in legacy.splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            where = cells[2].strip()
            for k in re.findall(r"`([^`]+)`", cells[1]):
                keys.add(k if where.startswith("top level") else by_last[k] if where == "various" else f"{where}.{k}")
    return keys


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"{REFERENCE} is not here")
def test_the_list_is_the_references() -> None:
    assert sorted(KEYS) == sorted(reference_keys(REFERENCE.read_text()))


def _document(path: str, value: Any) -> dict:
    """{"A": {"B": [{"C": value}]}} for "A.B[].C"."""
    parts = path.split(".")
    doc: Any = value
    for part in reversed(parts):
        doc = {part[:-2]: [doc]} if part.endswith("[]") else {part: doc}
    return doc


@pytest.mark.parametrize("path", KEYS)
def test_every_dms_key_is_accepted(path: str) -> None:
    settings = parse_task_settings(json.dumps(_document(path, None)))  # null: not set, DMS's default
    assert settings.full_load == parse_task_settings(None).full_load
    assert settings.warnings() == []


@pytest.mark.parametrize("path", [k for k in KEYS if "." in k])
def test_a_misspelt_key_is_refused_naming_the_closest(path: str) -> None:
    wrong = path[:-1] + ("X" if path[-1] != "X" else "Y")
    with pytest.raises(ConfigError, match="is not a DMS key, did you mean") as info:
        parse_task_settings(json.dumps(_document(wrong, True)))
    assert repr(path.rsplit(".", 1)[-1]) in str(info.value)


# Settings as DMS exported them before 2023 and as DMS Serverless returns them: legacy keys with the values DMS
# gave them (reference section C) next to current ones. All accepted, and none warns: they ask for nothing.
EXPORTED = {
    "TargetMetadata": {"TargetSchema": "", "SupportLobs": True, "FullLobMode": False, "LobChunkSize": 0,
                       "LimitedSizeLobMode": True, "LobMaxSize": 32, "InlineLobMaxSize": 0, "LoadMaxFileSize": 0,
                       "ParallelLoadThreads": 0, "ParallelLoadBufferSize": 0, "BatchApplyEnabled": False,
                       "TaskRecoveryTableEnabled": False, "ParallelLoadQueuesPerThread": 0,
                       "ParallelApplyThreads": 0, "ParallelApplyBufferSize": 0, "ParallelApplyQueuesPerThread": 0},
    "FullLoadSettings": {"FullLoadEnabled": True, "ApplyChangesEnabled": False,
                         "TargetTablePrepMode": "DROP_AND_CREATE", "CreatePkAfterFullLoad": False,
                         "StopTaskCachedChangesApplied": False, "StopTaskCachedChangesNotApplied": False,
                         "ResumeEnabled": False, "ResumeMinTableSize": 100000, "ResumeOnlyClusteredPKTables": True,
                         "MaxFullLoadSubTasks": 8, "TransactionConsistencyTimeout": 600, "CommitRate": 10000},
    "Logging": {"EnableLogging": False, "EnableLogContext": False,
                "LogComponents": [{"Id": "SOURCE_UNLOAD", "Severity": "LOGGER_SEVERITY_DEFAULT"},
                                  {"Id": "TARGET_APPLY", "Severity": "LOGGER_SEVERITY_DEFAULT"}],
                "CloudWatchLogGroup": None, "CloudWatchLogStream": None,
                "LogConfiguration": {"EnableTraceOnError": False, "TraceOnErrorMb": 10}},
    "ControlTablesSettings": {"historyTimeslotInMinutes": 5, "ControlSchema": "", "HistoryTimeslotInMinutes": 5,
                              "HistoryTableEnabled": False, "SuspendedTablesTableEnabled": False,
                              "StatusTableEnabled": False, "FullLoadExceptionTableEnabled": False,
                              "CommitPositionTableEnabled": False},
    "StreamBufferSettings": {"StreamBufferCount": 3, "StreamBufferSizeInMB": 8, "CtrlStreamBufferSizeInMB": 5},
    "ChangeProcessingDdlHandlingPolicy": {"HandleSourceTableDropped": True, "HandleSourceTableTruncated": True,
                                          "HandleSourceTableAltered": True},
    "ErrorBehavior": {"DataErrorPolicy": "LOG_ERROR", "DataTruncationErrorPolicy": "LOG_ERROR",
                      "DataMaskingErrorPolicy": "STOP_TASK", "DataErrorEscalationPolicy": "SUSPEND_TABLE",
                      "DataErrorEscalationCount": 0, "TableErrorPolicy": "SUSPEND_TABLE",
                      "TableErrorEscalationPolicy": "STOP_TASK", "TableErrorEscalationCount": 0,
                      "RecoverableErrorCount": -1, "RecoverableErrorInterval": 5, "RecoverableErrorThrottling": True,
                      "RecoverableErrorThrottlingMax": 1800, "RecoverableErrorStopRetryAfterThrottlingMax": True,
                      "ApplyErrorDeletePolicy": "IGNORE_RECORD", "ApplyErrorInsertPolicy": "LOG_ERROR",
                      "ApplyErrorUpdatePolicy": "LOG_ERROR", "ApplyErrorEscalationPolicy": "LOG_ERROR",
                      "ApplyErrorEscalationCount": 0, "ApplyErrorFailOnTruncationDdl": False,
                      "FullLoadIgnoreConflicts": True, "FailOnTransactionConsistencyBreached": False,
                      "FailOnNoTablesCaptured": True, "EventErrorPolicy": "IGNORE"},
    "ChangeProcessingTuning": {"BatchApplyPreserveTransaction": True, "BatchApplyTimeoutMin": 1,
                               "BatchApplyTimeoutMax": 30, "BatchApplyMemoryLimit": 500, "BatchSplitSize": 0,
                               "MinTransactionSize": 1000, "CommitTimeout": 1, "MemoryLimitTotal": 1024,
                               "MemoryKeepTime": 60, "StatementCacheSize": 50, "RecoveryTimeout": -1},
    "TTSettings": {"EnableTT": False, "FailTaskOnTTFailure": False, "TTS3Settings": None, "TTRecordSettings": None},
    "PostProcessingRules": None, "CharacterSetSettings": None, "LoopbackPreventionSettings": None,
    "BeforeImageSettings": None, "FailTaskWhenCleanTaskResourceFailed": False,
}


def test_exported_settings_with_legacy_keys_are_accepted_without_warnings() -> None:
    settings = parse_task_settings(json.dumps(EXPORTED))
    assert settings.warnings() == []
    assert settings.full_load.TargetTablePrepMode == "DROP_AND_CREATE"
    assert parse_task_settings(json.dumps(settings.to_json())) == settings


@pytest.mark.parametrize(("section", "key", "value", "why"), [
    ("FullLoadSettings", "ResumeEnabled", True, "legacy DMS key"),
    ("FullLoadSettings", "ApplyChangesEnabled", True, "--migration-type"),
    ("ControlTablesSettings", "CommitPositionTableEnabled", True, "live state"),
])
def test_a_legacy_key_asking_for_something_warns(section: str, key: str, value: object, why: str) -> None:
    (line,) = parse_task_settings(json.dumps({section: {key: value}})).warnings()
    assert line.startswith(f"{section}.{key} = {json.dumps(value)} has no effect: ") and why in line


def test_an_old_guide_spelling_is_read_as_the_key() -> None:
    settings = parse_task_settings('{"ErrorBehavior": {"FulloadIgnoreConflicts": false}}')
    assert settings.errors.FullLoadIgnoreConflicts is False
    assert settings.warnings() == ["ErrorBehavior.FulloadIgnoreConflicts is read as "
                                   "ErrorBehavior.FullLoadIgnoreConflicts, the key's spelling in DMS's JSON"]
    with pytest.raises(ConfigError, match="say different things: keep FullLoadIgnoreConflicts only"):
        parse_task_settings('{"ErrorBehavior": {"FulloadIgnoreConflicts": false, "FullLoadIgnoreConflicts": true}}')


def test_keys_inside_inert_sections_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"TTSettings\.TTS3Settings\.BucketNam is not a DMS key, did you mean "
                                          r"'BucketName'\?"):
        parse_task_settings('{"TTSettings": {"TTS3Settings": {"BucketNam": "b"}}}')
    (line,) = parse_task_settings('{"Logging": {"LogComponents": [{"Id": "IO", "Severity": '
                                  '"LOGGER_SEVERITY_DEBUG"}]}}').warnings()
    assert line.startswith('Logging.LogComponents[0].Severity = "LOGGER_SEVERITY_DEBUG" has no effect')
