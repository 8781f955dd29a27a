"""Row values as DynamoDB attributes and back, by the column's value class (DMS: numbers as N, strings
and CLOBs as S, bytes as B, NULL as NULL). What N cannot hold (NaN, infinities, more than 38 significant
digits, magnitudes beyond 1E-130..9.99E+125) is kept as S and read back by the column's class; temporal
values, JSON and UUIDs are their text (S)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

NUMBERS = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})


def _number(text: str) -> dict[str, Any]:
    """N when DynamoDB's numbers hold the value exactly, else S."""
    d = Decimal(text)
    if not d.is_finite():
        return {"S": text}
    if d and (len(d.normalize().as_tuple().digits) > 38 or not -130 <= d.adjusted() <= 125):
        return {"S": text}
    return {"N": text}


def attribute(value: Any, kind: str) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": bytes(value)}
    if isinstance(value, float):
        return {"S": repr(value)} if math.isnan(value) or math.isinf(value) else _number(repr(value))
    if isinstance(value, Decimal):
        return _number(format(value, "f")) if value.is_finite() else {"S": str(value)}
    if isinstance(value, int):
        return _number(str(value))
    return {"S": str(value)}


def value(attr: dict[str, Any], kind: str) -> Any:
    if "NULL" in attr:
        return None
    if "BOOL" in attr:
        return attr["BOOL"]
    if "B" in attr:
        return bytes(attr["B"])
    text = attr.get("N", attr.get("S"))
    if kind in ("int2", "int4", "int8") and "N" in attr:
        return int(text)
    if kind in ("float4", "float8"):
        return float(text)
    if kind == "numeric":
        return Decimal(text)
    return text


def key_type(kind: str) -> str:
    return "N" if kind in NUMBERS else "B" if kind == "bytes" else "S"
