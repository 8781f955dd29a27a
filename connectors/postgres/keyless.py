"""Changes of a keyless table (the source's REPLICA IDENTITY FULL) applied as PostgreSQL's own
subscribers apply them: in order, one statement per change, an update or a delete acting on ONE row
equal to the change's old row in every column.

Duplicate rows are the hard case, and they come out right: rows equal in every column are
interchangeable, so deleting or updating any one of them leaves the table holding the same multiset
of rows as the source. Matching needs a scan of the table per update or delete (there is no key to
look up), as on a PostgreSQL subscriber without a replica identity index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg2.extras

from connectors.base import Change, Conflict, OnConflict, Op, TableSchema
from connectors.net_effect import missed

from .connect import quote_ident

# Types compared by their own equality; any other (json, xml, point, ...) is compared as its text,
# written by this same session on both sides.
_EQUAL = {"bool", "int2", "int4", "int8", "float4", "float8", "numeric", "string", "text", "bytes", "date", "time",
          "timestamp", "timestamptz", "uuid"}


def apply_keyless(cur: Any, schema: TableSchema, name: str, changes: Sequence[Change],
                  column_type: Callable[[TableSchema, str], str],
                  checked: Mapping[Op, OnConflict] | None) -> list[Conflict]:
    conflicts: list[Conflict] = []
    inserts: list[Change] = []
    for ch in changes:
        if ch.op is Op.INSERT:
            inserts.append(ch)
            continue
        _insert(cur, schema, name, inserts, column_type)
        inserts = []
        if ch.op is Op.TRUNCATE:
            cur.execute(f"TRUNCATE {name}")
        elif ch.op in (Op.UPDATE, Op.DELETE):
            conflicts += missed(schema, ch, _one_row(cur, schema, name, ch, column_type), checked)
    _insert(cur, schema, name, inserts, column_type)
    return conflicts


def _insert(cur: Any, schema: TableSchema, name: str, inserts: list[Change],
            column_type: Callable[[TableSchema, str], str]) -> None:
    """Consecutive inserts in one statement per set of columns given."""
    by_columns: dict[tuple[str, ...], list[tuple]] = {}
    for ch in inserts:
        after = ch.after or {}
        cols = tuple(n for n in schema.column_names if n in after)
        by_columns.setdefault(cols, []).append(tuple(after[n] for n in cols))
    for cols, rows in by_columns.items():
        template = "(" + ", ".join(f"%s::{column_type(schema, n)}" for n in cols) + ")"
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {name} ({', '.join(map(quote_ident, cols))}) VALUES %s", rows, template=template,
            page_size=10_000)


def _one_row(cur: Any, schema: TableSchema, name: str, ch: Change,
             column_type: Callable[[TableSchema, str], str]) -> int:
    """Update or delete one row equal to the old row; the number of rows touched (0 or 1)."""
    before = ch.before or {}
    cols = [c for c in schema.columns if c.name in before]
    if not cols:  # nothing to match on: touching an arbitrary row would corrupt the table
        return 0
    match = " AND ".join(_equal(schema, c.name, c.type, column_type) for c in cols)
    params: list[Any] = [before[c.name] for c in cols]
    one = f"ctid = (SELECT ctid FROM {name} WHERE {match} LIMIT 1)"
    if ch.op is Op.DELETE:
        cur.execute(f"DELETE FROM {name} WHERE {one}", params)
        return cur.rowcount
    after = ch.after or {}
    sets = [n for n in schema.column_names if n in after]  # an unchanged TOASTed value is absent: kept
    if not sets:
        return 1
    assign = ", ".join(f"{quote_ident(n)} = %s::{column_type(schema, n)}" for n in sets)
    cur.execute(f"UPDATE {name} SET {assign} WHERE {one}", [after[n] for n in sets] + params)
    return cur.rowcount


def _equal(schema: TableSchema, column: str, portable: str, column_type: Callable[[TableSchema, str], str]) -> str:
    native = column_type(schema, column)
    if portable in _EQUAL or native == "jsonb":
        return f"{quote_ident(column)} IS NOT DISTINCT FROM %s::{native}"
    return f"{quote_ident(column)}::text IS NOT DISTINCT FROM %s::{native}::text"
