"""ValidationSettings: DMS's defaults, what takes effect, and how a validation-only task is planned."""

from __future__ import annotations

import json

import pytest

from connectors.errors import ConfigError
from connectors.model.catalog import TaskDef
from connectors.model.settings import parse_task_settings
from scheduler.plan import initial_table_state, jobs_to_run, phase
from worker.state import CDC_JOB, validate_job

MAPPINGS = json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
                                  "object-locator": {"schema-name": "public", "table-name": "%"}}]})
ONLY = {"ValidationSettings": {"ValidationOnly": True}, "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"}}
FRESH = {"public.b": "pending", "public.a": "pending"}


def task(migration_type: str, settings: dict | None = None) -> TaskDef:
    return TaskDef("t1", "src", "tgt", "inst", migration_type, MAPPINGS, json.dumps(settings or {}))


def test_defaults_are_dms_defaults() -> None:
    v = parse_task_settings("").validation
    assert (v.EnableValidation, v.ValidationOnly, v.ValidationMode) == (False, False, "ROW_LEVEL")
    assert (v.ThreadCount, v.FailureMaxCount, v.TableFailureMaxCount, v.RecordFailureDelayInMinutes) == \
        (5, 10_000, 1000, 5)
    effective = parse_task_settings("").to_json()["ValidationSettings"]
    assert effective["EnableValidation"] is False and effective["ThreadCount"] == 5


def test_implemented_keys_take_effect_without_warnings_and_accept_dms_spellings() -> None:
    s = parse_task_settings(json.dumps({"ValidationSettings": {
        "EnableValidation": True, "ThreadCount": "2", "FailureMaxCount": "10", "TableFailureMaxCount": 3,
        "RecordFailureDelayInMinutes": 0, "PartitionSize": None}}))
    v = s.validation
    assert (v.EnableValidation, v.ThreadCount, v.FailureMaxCount, v.TableFailureMaxCount) == (True, 2, 10, 3)
    assert v.RecordFailureDelayInMinutes == 0
    assert s.warnings() == []


def test_keys_without_effect_still_say_so() -> None:
    s = parse_task_settings(json.dumps({"ValidationSettings": {"PartitionSize": 500, "SkipLobColumns": True,
                                                               "RecordSuspendDelayInMinutes": 10}}))
    warned = {line.split(" = ")[0] for line in s.warnings()}
    assert warned == {"ValidationSettings.PartitionSize", "ValidationSettings.SkipLobColumns",
                      "ValidationSettings.RecordSuspendDelayInMinutes"}


@pytest.mark.parametrize(("doc", "message"), [
    ({"ThreadCount": 0}, "ValidationSettings.ThreadCount is 0: give a number from 1 to 1000"),
    ({"TableFailureMaxCount": -1}, "ValidationSettings.TableFailureMaxCount is -1"),
    ({"ValidationMode": "GROUP_LEVEL"}, "ValidationSettings.ValidationMode"),
    ({"EnableValidaton": True}, "did you mean 'EnableValidation'?"),
])
def test_bad_values_are_refused(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_task_settings(json.dumps({"ValidationSettings": doc}))
    assert message in str(info.value)


@pytest.mark.parametrize("migration_type", ["full-load", "full-load-and-cdc", "cdc"])
def test_validation_only_task_runs_one_validation_job_per_table_and_captures_nothing(migration_type: str) -> None:
    t = task(migration_type, ONLY)
    assert t.validation_only and not t.cdc
    assert initial_table_state(t) == "pending"
    assert jobs_to_run(t, FRESH) == [validate_job("public.a"), validate_job("public.b")]
    assert jobs_to_run(t, {"public.a": "completed", "public.b": "pending"}) == [validate_job("public.b")]
    assert phase(t, "running", FRESH) == "validation"


def test_a_resume_runs_the_validations_that_did_not_finish() -> None:
    t = task("full-load-and-cdc", {"ValidationSettings": {"EnableValidation": True}})
    jobs = {validate_job("public.a"): "done", validate_job("public.b"): "stopped", CDC_JOB: "stopped"}
    states = {"public.a": "live", "public.b": "live", "public.c": "pending"}
    assert jobs_to_run(t, states, jobs) == ["full_load:public.c", validate_job("public.b"), CDC_JOB]
