"""User documents: table mappings, task settings and identifiers."""

from __future__ import annotations

import json

import pytest

from connectors.base import TableId, TableRule
from connectors.errors import ConfigError
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.spec import check_identifier


def selection(rule_id: object = 1, action: str = "include", schema: str = "public", table: str = "%") -> dict:
    return {
        "rule-type": "selection", "rule-id": rule_id, "rule-name": f"r{rule_id}",
        "object-locator": {"schema-name": schema, "table-name": table}, "rule-action": action,
    }


def doc(*rules: dict) -> str:
    return json.dumps({"rules": list(rules)})


# --- table mappings -------------------------------------------------------------------------


def test_valid_document() -> None:
    m = parse_table_mappings(doc(selection(2, "exclude", "public", "tmp%"), selection(1, "include", "public", "%")))
    assert m.selections == (TableRule("public", "%", "include", 1), TableRule("public", "tmp%", "exclude", 2))
    assert m.selects(TableId("public", "orders"))
    assert not m.selects(TableId("public", "tmp1"))
    assert not m.selects(TableId("other", "orders"))


def test_rule_id_as_number_and_as_string_with_leading_zeros() -> None:
    m = parse_table_mappings(doc(selection("007"), selection(3, table="x"), selection(" 12 ", table="y")))
    assert [r.rule_id for r in m.selections] == [3, 7, 12]


@pytest.mark.parametrize("bad", [None, "abc", "1.5", [], {}])
def test_bad_rule_id(bad: object) -> None:
    rule = selection()
    rule["rule-id"] = bad
    with pytest.raises(ConfigError, match=r"rules\[0\]\.rule-id"):
        parse_table_mappings(doc(rule))


def test_missing_rule_id() -> None:
    rule = selection()
    del rule["rule-id"]
    with pytest.raises(ConfigError, match="rule-id"):
        parse_table_mappings(doc(rule))


def test_keys_in_any_order() -> None:
    text = (
        '{"rules": [{"rule-action": "include", "object-locator": {"table-name": "t%", "schema-name": "s"},'
        ' "rule-name": "1", "rule-id": "1", "rule-type": "selection"}]}'
    )
    assert parse_table_mappings(text).selections == (TableRule("s", "t%", "include", 1),)


def test_value_null_and_console_artefacts_are_accepted() -> None:
    transformation = {
        "rule-type": "transformation", "rule-id": "2", "rule-name": "2", "rule-target": "schema",
        "object-locator": {"schema-name": "public"}, "rule-action": "convert-uppercase", "value": None,
        "old-value": None, "parallel-load": None,
    }
    settings = {
        "rule-type": "table-settings", "rule-id": "3", "rule-name": "3",
        "object-locator": {"schema-name": "public", "table-name": "big"},
        "parallel-load": {"type": "partitions-auto"},
    }
    rule = selection()
    rule["value"] = None
    rule["parallel-load"] = None
    rule["filters"] = []
    m = parse_table_mappings(doc(rule, transformation, settings))
    assert m.selections == (TableRule("public", "%", "include", 1),)
    assert [t.action for t in m.transformations] == ["convert-uppercase"]
    assert m.parallel_loads[TableId("public", "big")].type == "partitions-auto"
    assert m.warnings == ()


def test_malformed_json_names_line_and_column() -> None:
    text = '{"rules": [\n  {"rule-type": "selection",,}\n]}'
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(text)
    message = str(info.value)
    assert "table mappings is not valid JSON" in message
    assert "line 2" in message and "column 29" in message


@pytest.mark.parametrize("text", ["[]", '"rules"', "{}", '{"rules": {}}', '{"rules": null}', "3"])
def test_not_an_object_with_rules(text: str) -> None:
    with pytest.raises(ConfigError, match='"rules" list'):
        parse_table_mappings(text)


def test_rule_not_an_object() -> None:
    with pytest.raises(ConfigError, match=r"rules\[1\] must be an object"):
        parse_table_mappings(json.dumps({"rules": [selection(), "selection"]}))


@pytest.mark.parametrize(
    "rules",
    [[], [selection(1, "exclude")], [{"rule-type": "transformation", "rule-id": 1, "rule-action": "convert-lowercase",
                                      "rule-target": "schema", "object-locator": {"schema-name": "%"}}]],
)
def test_no_include_rule(rules: list[dict]) -> None:
    with pytest.raises(ConfigError, match="select nothing"):
        parse_table_mappings(doc(*rules))


def test_bad_rule_action_names_index_and_id() -> None:
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(doc(selection(1), selection("42", "includ")))
    message = str(info.value)
    assert "rules[1]" in message and "rule 42" in message and "'includ'" in message
    assert "include, exclude or explicit" in message


@pytest.mark.parametrize(
    "locator",
    [None, "public.t", {}, {"schema-name": "public"}, {"table-name": "t"}, {"schema-name": "", "table-name": "t"}],
)
def test_missing_object_locator(locator: object) -> None:
    rule = selection(5)
    if locator is None:
        del rule["object-locator"]
    else:
        rule["object-locator"] = locator
    with pytest.raises(ConfigError, match=r"rules\[0\] \(rule 5\).*object-locator"):
        parse_table_mappings(doc(rule))


@pytest.mark.parametrize("kind", ["Selection", "select", None, 3])
def test_bad_rule_type(kind: object) -> None:
    rule = selection()
    rule["rule-type"] = kind
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(doc(rule))
    assert "rules[0].rule-type" in str(info.value)
    assert "selection, table-settings, transformation" in str(info.value)


@pytest.mark.parametrize(("schema", "table"), [("pub[lic", "t"), ("public", "t[ab")])
def test_unclosed_bracket(schema: str, table: str) -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\] \(rule 1\).*unclosed '\['"):
        parse_table_mappings(doc(selection(1, schema=schema, table=table)))


def test_explicit_rule_may_contain_brackets() -> None:
    m = parse_table_mappings(doc(selection(1, "explicit", "public", "weird[name")))
    assert m.selects(TableId("public", "weird[name"))


@pytest.mark.parametrize("table", ["t[]", "t[z-a]"])
def test_invalid_bracket_set_is_a_config_error(table: str) -> None:
    with pytest.raises(ConfigError):
        parse_table_mappings(doc(selection(1, table=table)))


def test_unhashable_rule_type_is_a_config_error() -> None:
    rule = selection()
    rule["rule-type"] = ["selection"]
    with pytest.raises(ConfigError):
        parse_table_mappings(doc(rule))


# --- task settings --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, ""])
def test_empty_settings_are_defaults(text: str | None) -> None:
    s = parse_task_settings(text)
    assert s.full_load.TargetTablePrepMode == "DROP_AND_CREATE"
    assert s.prep_mode == "drop"
    assert (s.max_full_load_subtasks, s.commit_rate) == (8, 10_000)


def test_empty_object_and_null_section_are_defaults() -> None:
    assert parse_task_settings("{}") == parse_task_settings(None)
    assert parse_task_settings('{"FullLoadSettings": null}') == parse_task_settings(None)
    logging = parse_task_settings('{"Logging": {"EnableLogging": true}}')
    assert logging.full_load == parse_task_settings(None).full_load
    assert logging.warnings() == ["Logging.EnableLogging = true has no effect: OpenDMS writes structured logs to "
                                  "stderr (level from DMS_LOG_LEVEL); there is no CloudWatch"]


@pytest.mark.parametrize(
    ("mode", "prep"), [("DROP_AND_CREATE", "drop"), ("TRUNCATE_BEFORE_LOAD", "truncate"), ("DO_NOTHING", "keep")]
)
def test_prep_modes(mode: str, prep: str) -> None:
    s = parse_task_settings(json.dumps({"FullLoadSettings": {"TargetTablePrepMode": mode}}))
    assert s.prep_mode == prep
    assert s.to_json()["FullLoadSettings"]["TargetTablePrepMode"] == mode


def test_bad_prep_mode_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_task_settings('{"FullLoadSettings": {"TargetTablePrepMode": "truncate"}}')
    message = str(info.value)
    assert "TargetTablePrepMode" in message and "'truncate'" in message
    for mode in ("DROP_AND_CREATE", "TRUNCATE_BEFORE_LOAD", "DO_NOTHING"):
        assert mode in message


def test_unhashable_prep_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_task_settings('{"FullLoadSettings": {"TargetTablePrepMode": ["DO_NOTHING"]}}')


def test_numbers_as_strings_and_round_trip() -> None:
    s = parse_task_settings('{"FullLoadSettings": {"CommitRate": "5000", "MaxFullLoadSubTasks": 49}}')
    assert (s.commit_rate, s.max_full_load_subtasks) == (5000, 49)
    # The effective document names LOB keys (full LOB mode) where s named none: equal in effect, not in fields.
    again = parse_task_settings(json.dumps(s.to_json()))
    assert again.to_json() == s.to_json() and again.target_metadata.lob_max_kb is s.target_metadata.lob_max_kb


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("MaxFullLoadSubTasks", 0, "from 1 to 49"),
        ("MaxFullLoadSubTasks", 50, "from 1 to 49"),
        ("MaxFullLoadSubTasks", "-3", "from 1 to 49"),
        ("CommitRate", 50_001, "from 1 to 50000"),
        ("CommitRate", "lots", "whole number"),
        ("CommitRate", 2.5, "whole number"),
    ],
)
def test_out_of_range_numbers(key: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_task_settings(json.dumps({"FullLoadSettings": {key: value}}))
    assert f"FullLoadSettings.{key}" in str(info.value)


def test_settings_not_json_or_not_object() -> None:
    with pytest.raises(ConfigError, match="task settings is not valid JSON: .* line 1 column"):
        parse_task_settings("{FullLoadSettings: 1}")
    with pytest.raises(ConfigError, match="JSON object"):
        parse_task_settings("[1]")
    with pytest.raises(ConfigError, match="FullLoadSettings must be an object"):
        parse_task_settings('{"FullLoadSettings": [1]}')


# --- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "Task1", "my-task-2", "a-b-c", "x" * 255, "A1-B2"])
def test_valid_identifiers(value: str) -> None:
    assert check_identifier("task", value) == value


@pytest.mark.parametrize("value", ["", "1task", "task-", "my--task", "-task", "x" * 256, "my_task", "my task", "tâche"])
def test_invalid_identifiers(value: str) -> None:
    with pytest.raises(ConfigError, match="task identifier"):
        check_identifier("task", value)


def test_identifier_max_len() -> None:
    assert check_identifier("instance", "a" * 63, max_len=63)
    with pytest.raises(ConfigError, match="at most 63 characters"):
        check_identifier("instance", "a" * 64, max_len=63)


def test_identifier_with_trailing_newline_is_invalid() -> None:
    with pytest.raises(ConfigError):
        check_identifier("task", "mytask\n")
