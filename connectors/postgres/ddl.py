"""DDL capture on a PostgreSQL source: an event trigger writes each table's DDL into an audit table that
is in the task's publication, so the DDL reaches the change stream in its transaction, in order with
the rows around it (as DMS's ``awsdms_intercept_ddl`` and ``awsdms_ddl_audit`` do, under our own names).

Per task, in the schema named by the endpoint's ``ddlArtifactsSchema`` (default ``public``):

- ``opendms_ddl_audit_<task>``: one row per table created, altered or dropped, with the table's columns
  as they are after the statement (attribute numbers included, so a rename is told from a drop and an
  add) and its key;
- ``opendms_intercept_ddl_<task>()``, run by the event trigger of the same name (``ddl_command_end`` and
  ``sql_drop``): writes those rows and adds a table created anywhere to the task's publication, so its
  rows are captured from its creation on. ``SECURITY DEFINER``: the users who run DDL need no rights on
  the audit table or the publication.

Creating an event trigger takes a superuser (``rds_superuser`` on RDS). Without one, or with the
endpoint's ``captureDdls=false``, nothing is installed and columns still follow the source by the
change stream's relation messages (a rename then arrives as a drop and an add); new, dropped and renamed
tables are not seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from connectors.base import Column, Endpoint, TableId, TableSchema
from connectors.ddl import SchemaChange, TableDdl

from .connect import quote_ident, task_object_name
from .types import TYPES

Query = Callable[..., list[tuple]]
AUDIT_PREFIX = "opendms_ddl_audit_"
FUNCTION_PREFIX = "opendms_intercept_ddl_"
_CREATES = "('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')"

_AUDIT_DDL = """CREATE TABLE IF NOT EXISTS {audit} (id bigserial PRIMARY KEY, relid oid NOT NULL, kind text NOT NULL,
schema_name text NOT NULL, table_name text NOT NULL, columns jsonb, key jsonb, statement text,
at timestamptz NOT NULL DEFAULT now())"""

# Columns: [attnum, name, declaration, not null, type name, type category, the value rows that predate it
# read (a column added with a constant DEFAULT: PostgreSQL keeps it once rather than in every row), whether
# it has a default].
_FUNCTION_DDL = """CREATE OR REPLACE FUNCTION {function}() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $body$
DECLARE r record; cols jsonb; keycols jsonb;
BEGIN
  IF TG_EVENT = 'sql_drop' THEN
    INSERT INTO {audit} (relid, kind, schema_name, table_name, statement)
    SELECT d.objid, 'drop', d.schema_name, d.object_name, current_query()
    FROM pg_event_trigger_dropped_objects() d
    WHERE d.object_type = 'table' AND d.original AND NOT d.is_temporary AND d.object_name NOT LIKE 'opendms\\_%';
    RETURN;
  END IF;
  FOR r IN SELECT DISTINCT ON (c.objid) c.objid, c.command_tag, k.relname, n.nspname
           FROM pg_event_trigger_ddl_commands() c JOIN pg_class k ON k.oid = c.objid
           JOIN pg_namespace n ON n.oid = k.relnamespace
           WHERE c.classid = 'pg_class'::regclass AND k.relkind = 'r' AND k.relpersistence = 'p'
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
             AND k.relname NOT LIKE 'opendms\\_%' AND k.relname NOT LIKE 'awsdms\\_%'
  LOOP
    SELECT jsonb_agg(jsonb_build_array(a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                       t.typname, t.typcategory,
                                       CASE WHEN a.atthasmissing THEN array_to_json(a.attmissingval)->0 END,
                                       a.atthasdef)
                     ORDER BY a.attnum) INTO cols
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = r.objid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    SELECT jsonb_agg(a.attname ORDER BY k.ord) INTO keycols
    FROM (SELECT i.indrelid, i.indkey, i.indnkeyatts FROM pg_index i
          WHERE i.indrelid = r.objid AND (i.indisprimary OR i.indisreplident)
          ORDER BY i.indisprimary DESC LIMIT 1) i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE k.ord <= i.indnkeyatts;
    INSERT INTO {audit} (relid, kind, schema_name, table_name, columns, key, statement)
    VALUES (r.objid, CASE WHEN r.command_tag IN {creates} THEN 'create' ELSE 'alter' END, r.nspname, r.relname,
            cols, keycols, current_query());
    IF r.command_tag IN {creates} AND EXISTS (
        SELECT 1 FROM pg_publication p WHERE p.pubname = {publication} AND NOT p.puballtables
        AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr WHERE pr.prpubid = p.oid AND pr.prrelid = r.objid)) THEN
      EXECUTE format('ALTER PUBLICATION %I ADD TABLE %s', {publication}, r.objid::regclass);
    END IF;
  END LOOP;
END $body$"""

_TRIGGER_DDL = ("CREATE EVENT TRIGGER {trigger} ON {event} EXECUTE FUNCTION {function}()")

# The columns of tables by name now, with their attribute numbers (a rename keeps its number).
_ATTNUMS_SQL = """
SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname
FROM unnest(%s::text[]) AS t(name) JOIN pg_class c ON c.oid = to_regclass(t.name)
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
"""


def artifacts_schema(ep: Endpoint) -> str:
    return ep.extra.get("ddlArtifactsSchema") or "public"


def enabled(ep: Endpoint) -> bool:
    return ep.extra.get("captureDdls", "true").lower() not in ("false", "n", "no", "0")


def names(ep: Endpoint, task: str) -> tuple[str, str]:
    """(audit table, function and event trigger), unqualified: within PostgreSQL's 63 bytes."""
    suffix = task_object_name(task).removeprefix("dms_")
    return (AUDIT_PREFIX + suffix)[:63], (FUNCTION_PREFIX + suffix)[:63]


def audit_table(ep: Endpoint, task: str) -> str:
    return f"{quote_ident(artifacts_schema(ep))}.{quote_ident(names(ep, task)[0])}"


def install(query: Query, ep: Endpoint, task: str, publication: str) -> bool:
    """The audit table, its function and the event trigger; False when the user may not create an event
    trigger (nothing is left behind then)."""
    if not enabled(ep):
        return False
    (may,), = query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not may:
        return False
    schema = quote_ident(artifacts_schema(ep))
    audit_name, function_name = names(ep, task)
    audit, function = f"{schema}.{quote_ident(audit_name)}", f"{schema}.{quote_ident(function_name)}"
    query(_AUDIT_DDL.format(audit=audit))
    query(_FUNCTION_DDL.format(function=function, audit=audit, creates=_CREATES,
                               publication=_literal(publication)))
    for trigger, event in ((function_name, "ddl_command_end"), (_drop_trigger(function_name), "sql_drop")):
        query(f"DROP EVENT TRIGGER IF EXISTS {quote_ident(trigger)}")
        query(_TRIGGER_DDL.format(trigger=quote_ident(trigger), event=event, function=function))
    return True


def publish(query: Query, publication: str, audit: str) -> None:
    """The audit table into a publication the user named (one of all tables has it already)."""
    if not query("SELECT 1 FROM pg_publication p WHERE p.pubname = %s AND (p.puballtables OR %s::regclass IN "
                 "(SELECT prrelid FROM pg_publication_rel WHERE prpubid = p.oid))", (publication, audit)):
        query(f"ALTER PUBLICATION {quote_ident(publication)} ADD TABLE {audit}")


def advice(query: Query, ep: Endpoint) -> list[str]:
    """The one line saying what a source whose user may not capture DDL loses, and the fix."""
    if not enabled(ep):
        return []
    (may,), = query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if may:
        return []
    return [f"user {ep.user!r} on source {ep.id} may not create event triggers (a superuser's right; rds_superuser "
            "on RDS), so DDL is captured only from the change stream: added and dropped columns follow the source, "
            "a renamed column arrives as a drop and an add, and new, dropped and renamed tables are not replicated; "
            "run the task as a superuser, or set the endpoint's captureDdls=false to say this is wanted"]


def remove(query: Query, ep: Endpoint, task: str) -> None:
    for _, statement in objects(ep, task):
        query(statement)


def objects(ep: Endpoint, task: str) -> list[tuple[str, str]]:
    """What ``install`` makes, with the statement that drops each (by hand, when the source is away)."""
    schema = quote_ident(artifacts_schema(ep))
    audit_name, function_name = names(ep, task)
    drop = _drop_trigger(function_name)
    return [(f"event trigger {function_name}", f"DROP EVENT TRIGGER IF EXISTS {quote_ident(function_name)};"),
            (f"event trigger {drop}", f"DROP EVENT TRIGGER IF EXISTS {quote_ident(drop)};"),
            (f"function {function_name}", f"DROP FUNCTION IF EXISTS {schema}.{quote_ident(function_name)}();"),
            (f"table {audit_name}", f"DROP TABLE IF EXISTS {schema}.{quote_ident(audit_name)};")]


def column(name: str, native: str, notnull: bool, typname: str, category: str) -> Column:
    """A discovered column, as tables() and the audit rows describe it."""
    portable = "array" if category == "A" else TYPES.portable(typname)
    dms = TYPES.dms_type(native, "NCLOB" if category == "A" else None)
    return Column(name, portable, not notnull, native, str(dms))


class Tracker:
    """The reader's knowledge of the tables' shapes, kept up to date by the audit rows it reads."""

    def __init__(self, query: Query, tables: dict[TableId, TableSchema], audit: tuple[str, str]) -> None:
        self.query = query
        self.tables = tables  # the reader's own: what a Relation message's columns are compared with
        self.audit = audit  # (schema, name) of the audit table
        self.relids: dict[int, TableId] = {}
        self.attnums: dict[int, dict[int, str]] = {}
        self.audit_relid: int | None = None
        if tables:
            for oid, schema, name, attnum, attname in query(_ATTNUMS_SQL, ([_qualified(t) for t in tables],)):
                self.relids[oid] = TableId(schema, name)
                self.attnums.setdefault(oid, {})[attnum] = attname

    def is_audit(self, schema: str, name: str) -> bool:
        return (schema, name) == self.audit

    def read(self, row: dict[str, Any]) -> tuple[TableId, SchemaChange] | None:
        """An audit row -> (the table as it was named, what changed), or None when nothing we follow changed."""
        relid, kind = int(row["relid"]), row["kind"]
        now = TableId(row["schema_name"], row["table_name"])
        statement = row.get("statement") or ""
        was = self.relids.get(relid)
        if kind == "drop":
            if was is None and now not in self.tables:
                return None
            table = was or now
            self.tables.pop(table, None)
            self.relids.pop(relid, None)
            self.attnums.pop(relid, None)
            return table, SchemaChange(TableDdl.DROP, None, statement)
        cols = json.loads(row["columns"]) if row.get("columns") else []
        numbered = {int(c[0]): c[1] for c in cols}
        columns = tuple(column(c[1], c[2], bool(c[3]), c[4], c[5]) for c in cols)
        key = tuple(json.loads(row["key"])) if row.get("key") else ()
        if kind == "create" or was is None:
            if kind != "create":
                return None  # a table we do not follow
            schema = TableSchema(now, columns, key, "postgres")
            self.tables[now] = schema
            self.relids[relid], self.attnums[relid] = now, numbered
            return now, SchemaChange(TableDdl.CREATE, schema, statement)
        old = self.tables.get(was)
        if old is None:
            return None
        before = self.attnums.get(relid, {})
        renamed = {before[n]: name for n, name in numbered.items() if n in before and before[n] != name}
        schema = replace(old, table=now, columns=columns, key=key or old.key)
        self.relids[relid], self.attnums[relid] = now, numbered
        if now != was:
            del self.tables[was]
            self.tables[now] = schema
            return was, SchemaChange(TableDdl.RENAME, schema, statement)
        if _shape(old) == _shape(schema):
            return None  # an index, a constraint, a default: nothing a target follows
        self.tables[now] = schema
        filled = {c[1]: c[6] for c in cols if len(c) > 6 and c[6] is not None}
        # A default with no value kept once is volatile (clock_timestamp(), a sequence, an identity; now() is
        # kept once): PostgreSQL rewrote the table with a value per row, and a rewrite is not in the log.
        rewritten = [c[1] for c in cols if len(c) > 7 and c[7] and c[6] is None and int(c[0]) not in before]
        if rewritten:
            return was, SchemaChange(TableDdl.ALTER, schema, statement, renamed, filled, unsupported=(
                f"column(s) {', '.join(rewritten)} added with a volatile default (clock_timestamp(), random(), a "
                "sequence, an identity): "
                "PostgreSQL gave the rows already there values that its log does not carry; reload the table "
                "with `dms task start --type reload-target` (or `dms task reload-tables`)"))
        return was, SchemaChange(TableDdl.ALTER, schema, statement, renamed, filled)

    def drifted(self, table: TableSchema, names: Sequence[str], types: Iterable[tuple[int, int]]) -> SchemaChange:
        """Columns changed without an audit row (no event trigger): the table as its relation message says."""
        known = {c.name: c for c in table.columns}
        found = {}
        for name, (oid, mod) in zip(names, types, strict=True):
            if name not in known:
                (decl, typname, category), = self.query(
                    "SELECT format_type(oid, %s), typname, typcategory FROM pg_type WHERE oid = %s", (mod, oid))
                found[name] = column(name, decl, False, typname, category)
        schema = replace(table, columns=tuple(known.get(n) or found[n] for n in names))
        self.tables[table.table] = schema
        return SchemaChange(TableDdl.ALTER, schema, "")


def _drop_trigger(function_name: str) -> str:
    return function_name[:58] + "_drop"


def _shape(schema: TableSchema) -> tuple:
    return tuple((c.name, c.native) for c in schema.columns)


def _qualified(table: TableId) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
