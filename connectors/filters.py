"""DMS source filters as a SQL WHERE clause, for any SQL source (each supplies its quoting and placeholder)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
