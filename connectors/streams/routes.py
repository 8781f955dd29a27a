"""What of the task a stream target takes from its endpoint (TaskDef.target_options): BeforeImageSettings
(``records_for``) and the object-mapping rules (connectors/object_mapping.py): per table, where its records go
(a destination of the target's own, named by a rule key the target gives: a topic) and how they are keyed
(``mapping-parameters.partition-key-type``, and ``partition-key-name`` for ``attribute-name``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import Endpoint, TableId, TableRule
from connectors.errors import ConfigError
from connectors.object_mapping import object_rules

from .records import ROUTE_TYPES, Records, RecordSettings, Route


@dataclass(frozen=True)
class TableRoute:
    """One object-mapping rule of the task: its tables' destination ('' for the endpoint's) and partitioning
    (None: DMS's default keys)."""

    rule: TableRule
    destination: str
    route: Route | None


def table_routes(ep: Endpoint, destination_key: str = "") -> list[TableRoute]:
    """The task's object-mapping rules (TaskDef.target_options puts them on the endpoint), by rule id; a rule's
    ``destination_key`` (on the rule or in its mapping-parameters) names the destination of its tables."""
    found = []
    for rule in object_rules(ep):
        key_type = rule.params.get("partition-key-type")
        if key_type is not None and key_type not in ROUTE_TYPES:
            raise ConfigError(f"{rule.where}: partition-key-type {key_type!r} is not one OpenDMS sends by: use one "
                              f"of {', '.join(ROUTE_TYPES)}")
        if key_type == "attribute-name" and not rule.params.get("partition-key-name"):
            raise ConfigError(f"{rule.where}: partition-key-type attribute-name needs partition-key-name (a column)")
        destination = (rule.get(destination_key) or "") if destination_key else ""
        route = Route(key_type, rule.params.get("partition-key-name") or "") if key_type else None
        found.append(TableRoute(rule.locator, destination, route))
    return found


def route_of(routes: list[TableRoute], table: TableId) -> TableRoute | None:
    """The table's route: the first rule (by rule id) whose object-locator matches it."""
    return next((r for r in routes if r.rule.matches(table)), None)


def records_for(values: Mapping[str, Any], ep: Endpoint) -> Records:
    """The records of a target whose settings object has ``values`` (DMS's message keys), with the task's
    BeforeImageSettings applied."""
    before = ep.extra.get("task.BeforeImageSettings")
    return Records(RecordSettings.from_values(values).with_before_image(json.loads(before) if before else None))
