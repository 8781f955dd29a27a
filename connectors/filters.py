"""DMS source filters as a SQL WHERE clause, for any SQL source (each supplies its quoting and placeholder), and
one condition's test on a value, for the code that filters rows itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from connectors.base import Filter

_CONDITION_SQL = {
    "eq": "{col} = {p}", "noteq": "{col} <> {p}", "lte": "{col} <= {p}", "gte": "{col} >= {p}",
    "between": "{col} BETWEEN {p} AND {p}", "notbetween": "{col} NOT BETWEEN {p} AND {p}",
    "null": "{col} IS NULL", "notnull": "{col} IS NOT NULL",
}


def where_clause(filters: Sequence[Filter], quote: Callable[[str], str], placeholder: str) -> tuple[str, list[str]]:
    """(" WHERE ...", values): the conditions of one filter OR, filters AND; "" when there are none.

    Values stay text: each engine reads a literal compared with a column as the column's type."""
    if not filters:
        return "", []
    parts, args = [], []
    for f in filters:
        col = quote(f.column)
        ors = []
        for c in f.conditions:
            template = _CONDITION_SQL[c.op]
            ors.append(template.format(col=col, p=placeholder))
            args.extend([v for v in (c.value, c.end) if v is not None][: template.count("{p}")])
        parts.append("(" + " OR ".join(ors) + ")")
    return " WHERE " + " AND ".join(parts), args


def holds(op: str, value: Any, low: Any, high: Any) -> bool:
    """Whether a condition holds for a value, its bounds (``high``: between's end) already of the value's type;
    as in SQL, no comparison with NULL is true: a NULL meets only ``null``."""
    if op == "null":
        return value is None
    if op == "notnull":
        return value is not None
    if value is None:
        return False
    if op == "eq":
        return value == low
    if op == "noteq":
        return value != low
    if op == "lte":
        return value <= low
    if op == "gte":
        return value >= low
    return (low <= value <= high) == (op == "between")


def converter(portable: str) -> Callable[[str], Any]:
    """A filter's text value -> the value of a column of this portable type, as a SQL engine reads a literal
    compared with a column (ValueError or InvalidOperation when it is none)."""
    if portable in ("int2", "int4", "int8"):
        return int
    if portable == "numeric":
        return Decimal
    if portable in ("float4", "float8"):
        return float
    if portable == "bool":
        return lambda text: text.strip().lower() in ("t", "true", "1", "y", "yes", "on")
    return str  # text, dates and times compare as their ISO text, as DMS compares them
