"""User input, parsed once: identifiers, DMS table-mapping JSON and task-settings JSON.

The only module that reads user documents. Everything it returns is validated; everything it
rejects raises ConfigError with the path of the offending key and how to fix it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from connectors.base import TableId, TableRule, selects, wildcard_regex
from connectors.errors import ConfigError

MigrationType = Literal["full-load", "full-load-and-cdc", "cdc"]
MIGRATION_TYPES: tuple[str, ...] = ("full-load", "full-load-and-cdc", "cdc")
PREP_MODES = {"DROP_AND_CREATE": "drop", "TRUNCATE_BEFORE_LOAD": "truncate", "DO_NOTHING": "keep"}

_IDENTIFIER = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*$")


def check_identifier(kind: str, value: str, max_len: int = 255) -> str:
    """DMS identifiers: a letter first, then letters, digits and single inner hyphens."""
    if not isinstance(value, str) or not value or len(value) > max_len or not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{kind} identifier {value!r} is invalid: use a letter first, then letters, digits and "
            f"single hyphens (no trailing hyphen), at most {max_len} characters"
        )
    return value


def load_json_document(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# --- table mappings -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableMappings:
    selections: tuple[TableRule, ...]

    def selects(self, table: TableId) -> bool:
        return selects(self.selections, table)


_RULE_TYPES = {"selection", "transformation", "table-settings"}


def _rule_id(rule: dict[str, Any], where: str) -> int:
    value = rule.get("rule-id")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.rule-id is {value!r}: give a number such as \"1\"") from None


def parse_table_mappings(text: str) -> TableMappings:
    doc = load_json_document(text, "table mappings")
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ConfigError('table mappings must be an object with a "rules" list: {"rules": [...]}')
    selections = []
    for n, rule in enumerate(doc["rules"]):
        where = f"rules[{n}]"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where} must be an object")
        kind = rule.get("rule-type")
        if not isinstance(kind, str) or kind not in _RULE_TYPES:
            raise ConfigError(f"{where}.rule-type is {kind!r}: use one of {', '.join(sorted(_RULE_TYPES))}")
        rule_id = _rule_id(rule, where)
        if kind != "selection":
            continue  # transformation and table-settings rules arrive with the table-mappings work
        action = rule.get("rule-action")
        if not isinstance(action, str) or action not in ("include", "exclude", "explicit"):
            raise ConfigError(f"{where} (rule {rule_id}).rule-action is {action!r}: use include, exclude or explicit")
        locator = rule.get("object-locator")
        if not isinstance(locator, dict) or not locator.get("schema-name") or not locator.get("table-name"):
            raise ConfigError(f"{where} (rule {rule_id}) needs object-locator with schema-name and table-name")
        schema, table = str(locator["schema-name"]), str(locator["table-name"])
        if action != "explicit":
            for pattern in (schema, table):
                try:
                    wildcard_regex(pattern)
                except ValueError as exc:
                    raise ConfigError(f"{where} (rule {rule_id}): {exc}; close the bracket or remove it") from None
        selections.append(TableRule(schema, table, action, rule_id))
    if not any(r.action != "exclude" for r in selections):
        raise ConfigError("table mappings select nothing: add a selection rule with rule-action include")
    selections.sort(key=lambda r: r.rule_id)
    return TableMappings(tuple(selections))


# --- task settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSettings:
    target_table_prep_mode: str = "DROP_AND_CREATE"
    max_full_load_subtasks: int = 8
    commit_rate: int = 10_000

    @property
    def prep_mode(self) -> Literal["drop", "truncate", "keep"]:
        return PREP_MODES[self.target_table_prep_mode]  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        return {
            "FullLoadSettings": {
                "TargetTablePrepMode": self.target_table_prep_mode,
                "MaxFullLoadSubTasks": self.max_full_load_subtasks,
                "CommitRate": self.commit_rate,
            }
        }


def _int_setting(section: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = section.get(key, default)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"FullLoadSettings.{key} is {value!r}: give a whole number") from None
    if not lo <= number <= hi:
        raise ConfigError(f"FullLoadSettings.{key} is {number}: give a number from {lo} to {hi}")
    return number


def parse_task_settings(text: str | None) -> TaskSettings:
    if not text:
        return TaskSettings()
    doc = load_json_document(text, "task settings")
    if not isinstance(doc, dict):
        raise ConfigError("task settings must be a JSON object such as {\"FullLoadSettings\": {...}}")
    full = doc.get("FullLoadSettings") or {}
    if not isinstance(full, dict):
        raise ConfigError("FullLoadSettings must be an object")
    mode = full.get("TargetTablePrepMode", "DROP_AND_CREATE")
    if not isinstance(mode, str) or mode not in PREP_MODES:
        raise ConfigError(
            f"FullLoadSettings.TargetTablePrepMode is {mode!r}: use one of {', '.join(PREP_MODES)}"
        )
    return TaskSettings(
        target_table_prep_mode=mode,
        max_full_load_subtasks=_int_setting(full, "MaxFullLoadSubTasks", 8, 1, 49),
        commit_rate=_int_setting(full, "CommitRate", 10_000, 1, 50_000),
    )
