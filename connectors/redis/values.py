"""The text form of values in a row's hash, and the names of keys.

A hash holds one field per column whose value is not NULL (a NULL column has no field, so '' and NULL
stay apart). Values are UTF-8 text: booleans ``true``/``false``; integers in decimal; floats as the
shortest text that reads back the same (``Infinity``, ``-Infinity``, ``NaN``); numerics as plain decimals,
never in exponent form; bytes as ``0x`` and lower-case hex (DMS's spelling of binary values); every other
type (text, dates, times, timestamps, JSON, UUIDs, arrays) as the text it travels as.

A row's key is ``schema.table.`` and its primary key's value in that form; a key of several columns
joins them with ``.``, each with ``\\`` and ``.`` escaped by a ``\\`` so that two rows never share a key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.base import Column, Row, TableSchema

_INTS = frozenset({"int2", "int4", "int8"})
_FLOATS = frozenset({"float4", "float8"})


def text(value: Any) -> str:
    """A non-NULL value in its text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return "NaN" if math.isnan(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    return str(value)


def value(column: Column, stored: bytes | str) -> Any:
    """A hash field's text back as the column's Python value."""
    raw = stored.decode() if isinstance(stored, bytes) else stored
    kind = column.type
    if kind == "bool":
        return raw == "true"
    if kind in _INTS:
        return int(raw)
    if kind in _FLOATS:
        return float(raw)
    if kind == "numeric":
        return Decimal(raw)
    if kind == "bytes":
        return bytes.fromhex(raw.removeprefix("0x"))
    return raw


def fields(schema: TableSchema, row: Row, *, full: bool) -> dict[str, str | None]:
    """The row as hash fields: text, or None for a NULL (no field). With ``full`` every column is there
    (absent: NULL); otherwise only the columns the row has (an update's unchanged columns stay)."""
    out: dict[str, str | None] = {}
    for column in schema.columns:
        if column.name in row:
            v = row[column.name]
            out[column.name] = None if v is None else text(v)
        elif full:
            out[column.name] = None
    return out


def prefix(schema: TableSchema) -> str:
    return f"{schema.table.schema}.{schema.table.name}."


def key(schema: TableSchema, row: Row) -> str:
    """The row's key, ``schema.table.pk`` (the row has at least its key columns)."""
    parts = [text(row[c]) for c in schema.key]
    if len(parts) == 1:
        return prefix(schema) + parts[0]
    return prefix(schema) + ".".join(p.replace("\\", "\\\\").replace(".", "\\.") for p in parts)


def pattern(schema: TableSchema) -> str:
    """A SCAN pattern matching the table's keys."""
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix(schema))
    return escaped + "*"


def row(schema: TableSchema, stored: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A hash back as the table's row (absent fields are NULL)."""
    by_name = {k.decode(): v for k, v in stored.items()}
    return {c.name: None if c.name not in by_name else value(c, by_name[c.name]) for c in schema.columns}
