"""`dms endpoint discover`: what a database holds, before a task is planned (a small Fleet Advisor)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from connectors.base import Endpoint, TableRule
from connectors.errors import ConfigError
from connectors.registry import open_source, source_class


def discover(ep: Endpoint, schema: str = "%", table: str = "%") -> dict[str, Any]:
    """Schemas, tables, row estimates, sizes, keys and the engine's version, in DMS-like key names."""
    try:
        source_class(ep)
    except ConfigError:
        raise ConfigError(f"endpoint {ep.id} ({ep.engine}) cannot be read by OpenDMS, so it cannot be discovered: "
                          "discovery reads engines that can be sources") from None
    source = open_source(replace(ep, kind="source"))  # a target endpoint is read as a source would read it
    try:
        server = source.server()
        schemas = source.tables([TableRule(schema, table)])
        sizes = source.table_bytes([s.table for s in schemas])
    finally:
        source.close()
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for s in schemas:
        entry: dict[str, Any] = {"TableName": s.table.name, "Columns": len(s.columns), "RowsEstimate": s.rows_estimate,
                                 "PrimaryKey": list(s.key), "UniqueKeys": [list(u) for u in s.unique]}
        if s.table in sizes:
            entry["SizeBytes"] = sizes[s.table]
        if s.documents:
            entry["Documents"] = True
        by_schema.setdefault(s.table.schema, []).append(entry)
    return {"EndpointIdentifier": ep.id, "EngineName": ep.engine, **server,
            "Schemas": [{"SchemaName": name, "Tables": tables} for name, tables in by_schema.items()]}


def lines(doc: dict[str, Any]) -> list[str]:
    """The report for a terminal: one line per table, its key or the lack of one."""
    out = [f"{doc['EngineName']} {doc.get('EngineVersion', '(version unknown)')}, endpoint {doc['EndpointIdentifier']}"]
    total = sum(len(s["Tables"]) for s in doc["Schemas"])
    out.append(f"{total} table(s) in {len(doc['Schemas'])} schema(s)")
    for schema in doc["Schemas"]:
        out.append(f"{schema['SchemaName']}:")
        for t in schema["Tables"]:
            size = _bytes(t["SizeBytes"]) if "SizeBytes" in t else "?"
            key = ", ".join(t["PrimaryKey"]) if t["PrimaryKey"] else "NO KEY"
            out.append(f"  {t['TableName']:30} {t['RowsEstimate']:>12,} rows~ {size:>9}  {t['Columns']:>3} cols  "
                       f"key: {key}")
    return out


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
