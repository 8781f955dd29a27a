"""DMS's ``object-mapping`` table-mapping rules, as targets that take them read them: the task puts the rules
as given on the target's endpoint (``task.ObjectMappings``, TaskDef.target_options), and each target makes
of a table's first matching rule (by rule id) what DMS makes of it for that target: a stream's partition key
and topic, a key-value store's table, keys and attributes.

What every such target shares lives here: the rules in rule-id order with their locators, and DMS's value
templates (``"${FirstName}-${LastName}"``: a column's value where ``${column}`` stands).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import Endpoint, TableId, TableRule
from .errors import ConfigError

ACTIONS = ("map-record-to-record", "map-record-to-document")
_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ObjectRule:
    """One object-mapping rule: which tables (``object-locator``), its action and its mapping parameters."""

    rule_id: int
    locator: TableRule
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"object-mapping rule {self.rule_id}"

    def matches(self, table: TableId) -> bool:
        return self.locator.matches(table)

    def get(self, key: str, default: Any = None) -> Any:
        """A key of the rule itself, else of its ``mapping-parameters`` (DMS's examples place some, such as
        ``target-table-name``, either way)."""
        return self.raw.get(key, self.params.get(key, default))


def object_rules(ep: Endpoint) -> list[ObjectRule]:
    """The task's object-mapping rules on the endpoint, in rule-id order; a rule DMS would refuse: one line."""
    found = []
    for raw in json.loads(ep.extra.get("task.ObjectMappings") or "[]"):
        where = f"object-mapping rule {raw.get('rule-id')}"
        try:
            rule_id = int(raw.get("rule-id", 0))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: rule-id must be a number") from None
        action = raw.get("rule-action") or "map-record-to-record"
        if action not in ACTIONS:
            raise ConfigError(f"{where}: rule-action {action!r} is not one of {', '.join(ACTIONS)}")
        params = raw.get("mapping-parameters") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: mapping-parameters must be an object")
        locator = raw.get("object-locator") or {}
        found.append(ObjectRule(rule_id, TableRule(locator.get("schema-name") or "%",
                                                   locator.get("table-name") or "%"), action, params, raw))
    return sorted(found, key=lambda r: r.rule_id)


def rule_for(rules: Sequence[ObjectRule], table: TableId) -> ObjectRule | None:
    """The table's rule: the first (by rule id) whose locator matches it."""
    return next((r for r in rules if r.matches(table)), None)


def template_columns(template: str) -> list[str]:
    """The columns a value template names, in order (``"${a}-${b}"`` -> ``["a", "b"]``)."""
    return _TEMPLATE.findall(template)


def whole_column(template: str) -> str | None:
    """The column a template is exactly (``"${a}"``), else None."""
    names = template_columns(template)
    return names[0] if len(names) == 1 and template == f"${{{names[0]}}}" else None


def check_template(template: str, columns: Sequence[str], where: str) -> None:
    missing = [n for n in template_columns(template) if n not in columns]
    if missing:
        raise ConfigError(f"{where}: {template!r} names column(s) {', '.join(missing)} that the table does not "
                          f"have (columns: {', '.join(columns)})")


def fill(template: str, row: Mapping[str, Any], text: Callable[[Any], str] = str) -> str:
    """The template with each ``${column}`` replaced by the row's value as ``text`` spells it (NULL: empty)."""
    return _TEMPLATE.sub(lambda m: "" if row.get(m.group(1)) is None else text(row.get(m.group(1))), template)
