"""Changes of a keyless table whose source logs whole old rows, applied as a replica applies them: in order,
one statement per update or delete, acting on ONE row equal to the change's old row in every column
(``LIMIT 1``; rows equal in every column are interchangeable, so the table ends as the same multiset of rows
as the source's). Values compare NULL-safely (``<=>``); a FLOAT column against the value as a FLOAT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import Change, Conflict, OnConflict, Op, TableSchema
from connectors.net_effect import missed

from .connect import quote_ident
from .encode import bind_value


def apply_keyless(cur: Any, schema: TableSchema, name: str, changes: Sequence[Change],
                  checked: Mapping[Op, OnConflict] | None) -> list[Conflict]:
    conflicts: list[Conflict] = []
    by_name = {c.name: c for c in schema.columns}
    for ch in changes:
        if ch.op is Op.TRUNCATE:
            cur.execute(f"DELETE FROM {name}")  # in the batch's transaction (TRUNCATE would commit)
        elif ch.op is Op.INSERT:
            after = ch.after or {}
            cols = [n for n in schema.column_names if n in after]
            cur.execute(f"INSERT INTO {name} ({', '.join(map(quote_ident, cols))}) VALUES "
                        f"({', '.join(['%s'] * len(cols))})", [bind_value(by_name[n], after[n]) for n in cols])
        elif ch.op in (Op.UPDATE, Op.DELETE):
            conflicts += missed(schema, ch, _one_row(cur, schema, name, ch), checked)
    return conflicts


def _one_row(cur: Any, schema: TableSchema, name: str, ch: Change) -> int:
    """Update or delete one row equal to the old row; the rows found (0 or 1)."""
    before = ch.before or {}
    cols = [c for c in schema.columns if c.name in before]
    if not cols:  # nothing to match on: touching an arbitrary row would corrupt the table
        return 0
    match = " AND ".join(f"{quote_ident(c.name)} <=> " + ("CAST(%s AS FLOAT)" if c.type == "float4" else "%s")
                         for c in cols)
    params = [bind_value(c, before[c.name]) for c in cols]
    if ch.op is Op.DELETE:
        return cur.execute(f"DELETE FROM {name} WHERE {match} LIMIT 1", params)
    after = ch.after or {}
    sets = [c for c in schema.columns if c.name in after]  # an absent (unchanged large) value is kept
    if not sets:
        return 1
    assign = ", ".join(f"{quote_ident(c.name)} = %s" for c in sets)
    return cur.execute(f"UPDATE {name} SET {assign} WHERE {match} LIMIT 1",
                       [bind_value(c, after[c.name]) for c in sets] + params)
