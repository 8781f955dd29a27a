"""Sequences at cutover: the source's last values carried to the target, so the application's next
insert there does not collide with a replicated row (DMS creates tables and keys only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectors.base import SequenceValue, TableId, TableSchema

from .connect import qualified, quote_ident

# Sequences owned by a column: serial (OWNED BY, deptype 'a') and identity columns ('i').
_OWNED_SQL = """
SELECT n.nspname, c.relname, a.attname, s.relname, pg_sequence_last_value(s.oid)
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_class c ON c.oid = d.refobjid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY 1, 2, 3
"""


def source_sequences(query: Callable[[str, Any], list[tuple]], tables: Sequence[TableSchema]) -> list[SequenceValue]:
    if not tables:
        return []
    rows = query(_OWNED_SQL, ([t.table.schema for t in tables], [t.table.name for t in tables]))
    return [SequenceValue(TableId(schema, table), column, name, last) for schema, table, column, name, last in rows]


def set_sequences(cur: Any, values: Sequence[SequenceValue], attach: bool) -> list[str]:
    done = []
    for v in values:
        table = qualified(v.table.schema, v.table.name)
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (table, v.column))
        (sequence,), = cur.fetchall()
        shown = sequence
        if sequence is None:  # a table DMS created: its column has no sequence yet
            sequence, shown = qualified(v.table.schema, v.name), f"{v.table.schema}.{v.name}"
            cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
            if attach:
                cur.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{quote_ident(v.column)}")
                cur.execute(f"ALTER TABLE {table} ALTER COLUMN {quote_ident(v.column)} SET DEFAULT "
                            f"nextval(%s::regclass)", (sequence,))
        # past the source's last value and past every value the target holds (rows written there too)
        cur.execute(f"SELECT coalesce(max({quote_ident(v.column)})::bigint, 0) FROM {table}")
        (largest,), = cur.fetchall()
        value = max(v.last_value or 0, largest)
        if value > 0:
            cur.execute("SELECT setval(%s::regclass, %s)", (sequence, value))
        else:  # nothing given yet: the next value is the sequence's first
            cur.execute("SELECT setval(%s::regclass, 1, false)", (sequence,))
        attached = " (the column's default now)" if attach else ""
        done.append(f"{v.table}.{v.column}: sequence {shown} set to {value}{attached}")
    return done
