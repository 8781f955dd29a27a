"""Loading into tables the user created first (``pg_dump --schema-only``, then TargetTablePrepMode
TRUNCATE_BEFORE_LOAD or DO_NOTHING): their foreign keys, triggers and partitions around the loads.

Tables load in parallel and changes apply set-based per table, so a foreign key checked row by row
would refuse a correct migration (a child loaded before its parent), and a ``last_update`` trigger
would rewrite the values the source sent. Two ways, chosen per connection:

- **replica**: a session that may set ``session_replication_role = replica`` (a superuser, or a role
  granted ``SET`` on it, PostgreSQL 15+) works in that role, as PostgreSQL's logical replication
  does: foreign keys are not checked and the user's triggers do not fire (``ENABLE ALWAYS`` ones do).
  Nothing on the target changes.
- **set aside** (the role may not, or the endpoint says ``fireTriggers=true``): before the first load
  the selected tables' foreign keys are dropped and, unless triggers are to fire, their enabled user
  triggers disabled, each written down in ``awsdms_set_aside`` on the target in the same transaction.
  After the last table's load the keys come back ``NOT VALID`` then ``VALIDATE``d (which locks out no
  writer, so the change apply goes on). While changes still apply (CDC), a key that was ``NOT
  DEFERRABLE`` comes back ``DEFERRABLE INITIALLY IMMEDIATE`` and the apply defers it to each source
  transaction's end, and the triggers stay disabled; ``forget`` (task delete, or a fresh start) puts
  both back as they were.

Partitions: the source sends leaf partitions (PostgreSQL sources list no partitioned parent), so a
parent whose leaves are all selected counts as selected here: it is truncated with them, and its
foreign keys and triggers are the ones set aside.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Sequence
from typing import Any

import psycopg2
import psycopg2.errors

from connectors.base import Endpoint, PrepMode, TableSchema
from connectors.errors import ConfigError, DataError, TransientError

from .connect import qualified, quote_ident
from .types import TYPES

SET_ASIDE = "awsdms_set_aside"
_SET_ASIDE_DDL = (f"CREATE TABLE IF NOT EXISTS {SET_ASIDE} (task_name text NOT NULL, kind text NOT NULL, "
                  "table_name text NOT NULL, name text NOT NULL, definition text NOT NULL, "
                  "PRIMARY KEY (task_name, kind, table_name, name))")
FOREIGN_KEY, TRIGGER, DEFERRABLE = "foreign key", "trigger", "deferrable"

# The selected relations that exist, with every partitioned ancestor all of whose leaves are selected.
_COVERED_SQL = """
WITH sel AS (SELECT to_regclass(t)::oid AS oid FROM unnest(%s::text[]) AS t),
anc AS (SELECT DISTINCT a.relid FROM sel, LATERAL pg_partition_ancestors(sel.oid) AS a
        WHERE sel.oid IS NOT NULL AND a.relid <> sel.oid)
SELECT oid FROM sel WHERE oid IS NOT NULL
UNION
SELECT anc.relid FROM anc WHERE NOT EXISTS (
    SELECT 1 FROM pg_partition_tree(anc.relid) AS l WHERE l.isleaf AND l.relid NOT IN (SELECT oid FROM sel
                                                                                     WHERE oid IS NOT NULL))
"""

_OUTSIDE_SQL = """
SELECT DISTINCT c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname
FROM pg_constraint c
WHERE c.contype = 'f' AND c.confrelid = ANY(%(covered)s::oid[]) AND NOT c.conrelid = ANY(%(covered)s::oid[])
ORDER BY 1, 2, 3
"""

_FOREIGN_KEYS_SQL = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid = ANY(%(covered)s::oid[])
ORDER BY 1, 2
"""

# Enabled user triggers; a partition's clone of a trigger of a selected parent goes with the parent's.
_TRIGGERS_SQL = """
SELECT t.tgrelid::regclass::text, t.tgname
FROM pg_trigger t
WHERE t.tgrelid = ANY(%(covered)s::oid[]) AND NOT t.tgisinternal AND t.tgenabled = 'O'
  AND NOT EXISTS (SELECT 1 FROM pg_trigger p WHERE p.oid = t.tgparentid AND p.tgrelid = ANY(%(covered)s::oid[]))
ORDER BY 1, 2
"""


# An explicit cast to a length-limited string or bit type cuts a longer value without a word
# ('abcdef'::varchar(3) is 'abc'), where storing it into the column fails ("value too long"), as the
# full load's COPY does. Values are cast to the unlimited form, so the column's own limit decides.
_LIMITED = re.compile(r"^(character varying|varchar|character|char|bpchar|bit varying|varbit|bit)\s*\(\d+\)(\[\])?$")
_UNLIMITED = {"character varying": "varchar", "varchar": "varchar", "character": "bpchar", "char": "bpchar",
              "bpchar": "bpchar", "bit varying": "varbit", "varbit": "varbit", "bit": "varbit"}


def column_type(schema: TableSchema, name: str) -> str:
    """The column's PostgreSQL type: a PostgreSQL source's own, else by its DMS type (postgres/types.py)."""
    return table_types(schema)[name][0]


def cast_type(schema: TableSchema, name: str) -> str:
    """The type a value for the column is cast to in a statement: its type, less any length limit."""
    return table_types(schema)[name][1]


@functools.lru_cache(maxsize=1024)
def table_types(schema: TableSchema) -> dict[str, tuple[str, str]]:
    """Each column's (type, cast type), worked out once per table: every batch's statements and COPY
    encoders ask for them, and the type table's lookup per column per batch was measurable CPU."""
    types = {}
    for col in schema.columns:
        native = TYPES.target_type(schema.engine, col).native
        limited = _LIMITED.match(native.strip().lower())
        types[col.name] = (native, _UNLIMITED[limited.group(1)] + (limited.group(2) or "") if limited else native)
    return types



def check_types(cur: Any, table: TableSchema, ep: Endpoint) -> None:
    """A type the target lacks (an enum, a domain, an extension's type) fails with its name and the fix."""
    types = sorted({column_type(table, c.name) for c in table.columns})
    cur.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE to_regtype(t) IS NULL", (types,))
    missing = [r[0] for r in cur.fetchall()]
    if missing:
        cols = [c.name for c in table.columns if column_type(table, c.name) in missing]
        raise DataError(
            f"table {table.table} needs type(s) {', '.join(missing)} (column(s) {', '.join(cols)}) that target "
            f"{ep.id} does not have: create them there (CREATE TYPE / CREATE EXTENSION) or exclude the table"
        )


def prepare_table(run: Any, table: TableSchema, mode: PrepMode, *, with_key: bool, ep: Endpoint,
                  replica: bool) -> None:
    """Create (drop first for "drop"), empty ("truncate") or leave ("keep") one table, in ``run``'s
    transactions. Emptying one table alone is for a load that runs again: TRUNCATE, or where other
    tables reference it and the session ignores foreign keys, DELETE (TRUNCATE would refuse)."""
    name = qualified(table.table.schema, table.table.name)
    cols = [f"{quote_ident(c.name)} {column_type(table, c.name)}{'' if c.nullable else ' NOT NULL'}"
            for c in table.columns]
    if table.key and with_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in table.key)})")
    create = f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)})"

    def schema(cur: Any) -> None:
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema is there: a
        # user loading into a schema created for it may lack that, and needs no new schema.
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (table.table.schema,))
        if cur.fetchone():
            return
        # IF NOT EXISTS is not safe against a concurrent creator (two tables' loads of one new schema):
        # serialise creators, in a transaction of its own so that no table's preparation waits on another's.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"awsdms-schema:{table.table.schema}",))
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(table.table.schema)}")

    run(schema)

    def prep(cur: Any) -> None:
        if mode == "drop":
            check_types(cur, table, ep)
            cur.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
            cur.execute(create)
            return
        # A table the user created is taken as it is: CREATE ... IF NOT EXISTS would still need the
        # privilege to create in its schema, and its types may differ from the source's on purpose.
        cur.execute("SELECT to_regclass(%s)", (name,))
        if cur.fetchone()[0] is None:
            check_types(cur, table, ep)
            cur.execute(create)
        elif mode == "truncate":
            cur.execute("SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass "
                        "AND conrelid <> confrelid LIMIT 1", (name,))
            cur.execute(f"DELETE FROM {name}" if replica and cur.fetchone() else f"TRUNCATE {name}")

    run(prep)


def replica_role(conn: Any) -> bool:
    """Set session_replication_role = replica on the connection if the user may; whether it did."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
        conn.commit()
        return True
    except psycopg2.errors.InsufficientPrivilege:
        conn.rollback()
        return False


def before_load(cur: Any, task: str, tables: Sequence[TableSchema], mode: PrepMode, *, replica: bool,
                fire_triggers: bool) -> list[str]:
    """In one transaction: check, set foreign keys and triggers aside where the session cannot ignore
    them, and empty the tables together for TRUNCATE_BEFORE_LOAD. What was done, one line each."""
    names = [qualified(t.table.schema, t.table.name) for t in tables]
    cur.execute(_COVERED_SQL, (names,))
    covered = [oid for (oid,) in cur.fetchall()]
    if not covered:
        return []
    if mode == "truncate":
        cur.execute(_OUTSIDE_SQL, {"covered": covered})
        outside = cur.fetchall()
        if outside:
            pairs = "; ".join(f"{child} references {parent} ({name})" for child, parent, name in outside)
            raise ConfigError(
                f"TargetTablePrepMode TRUNCATE_BEFORE_LOAD cannot empty the selected tables, as tables outside "
                f"the task's selection reference them: {pairs}. Nothing was truncated. Select the referencing "
                "table(s) too, drop those foreign keys on the target, or use TargetTablePrepMode DO_NOTHING "
                "(and empty the tables yourself)")
    notes = []
    if replica:
        notes.append("the target applies in session_replication_role replica: its foreign keys are not checked "
                     "and its triggers do not fire on replicated rows (as in PostgreSQL's logical replication)")
    else:
        cur.execute(_SET_ASIDE_DDL)
        cur.execute(_FOREIGN_KEYS_SQL, {"covered": covered})
        keys = cur.fetchall()
        for table, name, definition in keys:
            _record(cur, task, FOREIGN_KEY, table, name, definition)
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote_ident(name)}")
        if keys:
            notes.append(f"dropped {len(keys)} foreign key(s) of the selected tables for the load "
                         f"({_listed((f'{t}.{n}' for t, n, _ in keys))}); they come back NOT VALID, then "
                         "VALIDATE, after the last table's load ("
                         + ("fireTriggers=true: the sessions keep their role)" if fire_triggers else
                            "the target user may not set session_replication_role)"))
        if not fire_triggers:
            cur.execute(_TRIGGERS_SQL, {"covered": covered})
            triggers = cur.fetchall()
            for table, name in triggers:
                _record(cur, task, TRIGGER, table, name, "")
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {quote_ident(name)}")
            if triggers:
                notes.append(f"disabled {len(triggers)} trigger(s) of the selected tables "
                             f"({_listed((f'{t}.{n}' for t, n in triggers))}) so that replicated rows arrive as "
                             "the source has them; enabled again after a full-load task's last load, or when a "
                             "CDC task is deleted")
    if mode == "truncate":
        cur.execute("SELECT oid::regclass::text FROM unnest(%s::oid[]) AS oid", (covered,))
        every = [name for (name,) in cur.fetchall()]
        cur.execute(f"TRUNCATE {', '.join(every)}")
        notes.append(f"TRUNCATE_BEFORE_LOAD emptied the {len(every)} selected table(s) in one TRUNCATE")
    return notes


def restore(run: Any, task: str, *, replicating: bool) -> list[str]:
    """Put back what before_load set aside for the task, each thing in a transaction of its own (a key
    validated without blocking writers). ``run(fn)`` runs fn(cur) in one transaction. While changes
    still apply (``replicating``), triggers stay disabled and keys come back in their deferred form."""
    if not run(lambda cur: _exists(cur)):
        return []
    notes: list[str] = []
    for kind, table, name, definition in run(lambda cur: _recorded(cur, task)):
        if kind == FOREIGN_KEY:
            notes += _foreign_key(run, task, kind, table, name, definition, replicating)
        elif kind == DEFERRABLE and not replicating:
            notes += _foreign_key(run, task, kind, table, name, definition, False)
        elif kind == TRIGGER and not replicating:
            def enable(cur: Any, table: str = table, name: str = name) -> None:
                if _take(cur, task, TRIGGER, table, name):
                    cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {quote_ident(name)}")

            try:
                run(enable)
                notes.append(f"enabled trigger {name} on {table} again")
            except Exception as exc:  # noqa: BLE001 - reported; the record stays for the next try
                notes.append(f"trigger {name} on {table} could not be enabled again: {exc}; enable it by hand")
    return notes


def deferred_form(body: str) -> str:
    """A key as the apply can defer to each source transaction's end (SET CONSTRAINTS ALL DEFERRED): a
    RESTRICT action becomes NO ACTION (RESTRICT is never deferred), a NOT DEFERRABLE key DEFERRABLE
    INITIALLY IMMEDIATE. An application sees the same checks, at the same time."""
    body = body.replace(" ON DELETE RESTRICT", "").replace(" ON UPDATE RESTRICT", "")
    return body if " DEFERRABLE" in body else body + " DEFERRABLE INITIALLY IMMEDIATE"


def _patient(run: Any, fn: Any, patience: float = 60.0) -> Any:
    """run(fn), again after a deadlock or lock timeout, for up to ``patience`` seconds: adding a key locks both
    of its tables while the apply writes to them in its own order. fn waits for its locks only briefly
    (_BRIEF_LOCK_WAIT, below the server's deadlock_timeout) so that it, not the apply, gives way when the two
    meet, and tries again once the apply's transaction has ended."""
    deadline, attempt = time.monotonic() + patience, 0
    while True:
        try:
            return run(fn)
        except TransientError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(0.1 * 2 ** attempt, 2.0) * (0.5 + random.random()))
            attempt += 1


# Well under PostgreSQL's default deadlock_timeout (1 s), after which the server picks a deadlock's victim.
_BRIEF_LOCK_WAIT = "SET LOCAL lock_timeout = '200ms'"


def _foreign_key(run: Any, task: str, kind: str, table: str, name: str, definition: str,
                 replicating: bool) -> list[str]:
    """Re-create a key from its record: NOT VALID, then VALIDATE (a partitioned table's is checked as it is
    added). ``kind`` DEFERRABLE: the deferred form that is there now gives way to the key as it was."""
    run = functools.partial(_patient, run)
    validate = not definition.endswith(" NOT VALID")
    body = definition.removesuffix(" NOT VALID")
    deferred = replicating and deferred_form(body) != body
    if deferred:
        body = deferred_form(body)

    def add(cur: Any) -> str | None:
        if not _take(cur, task, kind, table, name):
            return None  # another job put it back already
        cur.execute(_BRIEF_LOCK_WAIT)
        if kind == DEFERRABLE:
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {quote_ident(name)}")
        cur.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,))
        # A partitioned table takes no NOT VALID key (PostgreSQL 15): it is checked as it is added.
        partitioned = cur.fetchone()[0] == "p"
        cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(name)} {body}"
                    f"{'' if partitioned and validate else ' NOT VALID'}")
        if deferred:
            _record(cur, task, DEFERRABLE, table, name, definition)
        return "checked" if partitioned and validate else "added"

    try:
        added = run(add)
    except Exception as exc:  # noqa: BLE001 - reported; its record stays, for forget to try again
        return [f"foreign key {name} on {table} could not be re-created: {exc}; it is re-created when the task "
                "is deleted, or add it by hand"]
    if added is None:
        return []
    note = f"foreign key {name} on {table} {'put back as it was' if kind == DEFERRABLE else 're-created'}"
    if deferred:
        note += (" in the form the apply defers to each source transaction's end (DEFERRABLE INITIALLY "
                 "IMMEDIATE, RESTRICT as NO ACTION) while changes apply; deleting the task puts it back as it was")
    if added == "checked":
        return [note + ", validated"]
    if not validate:
        return [note + ", NOT VALID as it was"]
    try:
        run(lambda cur: cur.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(name)}"))
    except Exception as exc:  # noqa: BLE001 - reported, the key stays NOT VALID
        return [f"{note}, but left NOT VALID: {exc}; fix the rows, then ALTER TABLE {table} VALIDATE CONSTRAINT "
                f"{quote_ident(name)}"]
    return [note + ", validated"]


def _exists(cur: Any) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (SET_ASIDE,))
    return cur.fetchone()[0]


def _recorded(cur: Any, task: str) -> list[tuple]:
    cur.execute(f"SELECT kind, table_name, name, definition FROM {SET_ASIDE} WHERE task_name = %s "
                "ORDER BY kind = 'foreign key' DESC, table_name, name", (task,))
    return cur.fetchall()


def _record(cur: Any, task: str, kind: str, table: str, name: str, definition: str) -> None:
    cur.execute(f"INSERT INTO {SET_ASIDE} VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (task, kind, table, name, definition))


def _take(cur: Any, task: str, kind: str, table: str, name: str) -> bool:
    """Remove a record, locking it: only the one transaction that removes it acts on it."""
    cur.execute(f"DELETE FROM {SET_ASIDE} WHERE task_name = %s AND kind = %s AND table_name = %s AND name = %s",
                (task, kind, table, name))
    return cur.rowcount == 1


def _listed(items: Any, most: int = 10) -> str:
    items = list(items)
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
