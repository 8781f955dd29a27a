"""Sequences and schema objects at cutover: the source's last values carried to the target, so the application's next
insert there does not collide with a replicated row (DMS creates tables and keys only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg2

from connectors.base import SchemaObject, SequenceValue, TableId, TableSchema

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


# What else a same-engine cutover may carry over, read from the catalogs (each with its DDL).
_FOREIGN_KEYS_SQL = """
SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY 1, 2, 3
"""
_INDEXES_SQL = """
SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT x.indisunique AND NOT x.indisprimary
  AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY 1, 2, 3
"""
_DEFAULTS_SQL = """
SELECT n.nspname, c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attgenerated = '' AND pg_get_expr(d.adbin, d.adrelid) NOT LIKE 'nextval(%%'
  AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY 1, 2, 3
"""
_VIEWS_SQL = """
SELECT DISTINCT vn.nspname, v.relname, pg_get_viewdef(v.oid)
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE v.relkind = 'v' AND v.oid <> c.oid
  AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY 1, 2
"""


def source_objects(query: Callable[[str, Any], list[tuple]], tables: Sequence[TableSchema]) -> list[SchemaObject]:
    if not tables:
        return []
    args = ([t.table.schema for t in tables], [t.table.name for t in tables])
    out = []
    for schema, table, name, definition in query(_FOREIGN_KEYS_SQL, args):
        add = f"ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {quote_ident(name)} {definition}"
        out.append(SchemaObject("foreign key", TableId(schema, table), name, add))
    for schema, table, name, definition in query(_INDEXES_SQL, args):
        out.append(SchemaObject("index", TableId(schema, table), name,
                                definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)))
    for schema, table, column, expression in query(_DEFAULTS_SQL, args):
        out.append(SchemaObject("default", TableId(schema, table), column,
                                f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {quote_ident(column)} "
                                f"SET DEFAULT {expression}"))
    for schema, view, definition in query(_VIEWS_SQL, args):
        out.append(SchemaObject("view", TableId(schema, view), view,
                                f"CREATE OR REPLACE VIEW {qualified(schema, view)} AS {definition}"))
    return out


def create_objects(cur: Any, objects: Sequence[SchemaObject]) -> list[str]:
    """Each object in a savepoint of its own: one that cannot be made (a foreign key to a table not
    migrated, a view over one) is reported and the others go on."""
    done = []
    for obj in objects:
        cur.execute("SAVEPOINT dms_object")
        try:
            cur.execute(obj.definition)
        except psycopg2.Error as exc:
            cur.execute("ROLLBACK TO SAVEPOINT dms_object")
            done.append(f"{obj.kind} {obj.name} of {obj.table}: not created: {' '.join(str(exc).split())}")
            continue
        cur.execute("RELEASE SAVEPOINT dms_object")
        done.append(f"{obj.kind} {obj.name} of {obj.table}: created")
    return done
