"""Table plans as the live state keeps them: TableSchema <-> JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from connectors.base import Column, TableId, TableSchema


def schema_to_json(schema: TableSchema) -> str:
    return json.dumps(asdict(schema))


def schema_from_json(text: str) -> TableSchema:
    d = json.loads(text)
    return TableSchema(
        table=TableId(**d["table"]),
        columns=tuple(Column(**c) for c in d["columns"]),
        key=tuple(d["key"]),
        engine=d.get("engine", ""),
        rows_estimate=d.get("rows_estimate", 0),
        unique=tuple(tuple(u) for u in d.get("unique", ())),
        full_row=d.get("full_row", False),
    )
