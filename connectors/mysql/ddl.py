"""DDL in the binlog -> schema changes (connectors/ddl.py), in order with the rows around them.

MySQL and MariaDB write each DDL statement into the binlog as a query event, as its text, once it is done
(a transaction of its own). Only this much of a statement is read here: its kind, the tables it names, the
columns it renames (``RENAME COLUMN a TO b``, ``CHANGE a b ...``: a comparison of names cannot tell a
rename from a drop and an add), and the ALTERs that move rows without row events (partitions dropped,
truncated or exchanged, a tablespace imported). Everything else about the table after the statement (its
columns, types, key, the DEFAULT existing rows took) is read from information_schema by ``Catalog`` when
the reader meets the event.

Why information_schema is the table at the event's binlog position, and the limit: a DDL event is written
once the statement is done, so information_schema holds at least that statement; it holds a later one only
if the binlog holds that later one too. So ``Catalog.later`` reads the binlog on from the event (SHOW BINLOG
EVENTS, as far as the server wrote it) for later DDL of the same table: none, and the shape read is the
shape at the event; some, with no rows of the table written between, and the shape read is still right for
every row the reader will meet before that later DDL (its renamed columns are taken along, and the later
statement finds nothing left to change); some after rows of the table, and the shape at the event is lost
(binlog_row_metadata=FULL table maps name the columns but do not declare them): that table stops with
``Table error`` and the advice to reload it. That happens only to a reader far behind the source (a
task resumed after the table was altered twice with writes between). A DDL running in the moment between
information_schema being read and the binlog being searched is the one race left.

An ALTER that copies the table (MODIFY int to bigint, say) swaps the copy in by renames, and a listing of
information_schema.TABLES in that moment does not hold the table (about 3 reads in 1,000 while such ALTERs run
back to back; the source now looks a named table up by its name, which waits). Should a table still be
missing, it is taken as dropped or renamed only when the binlog after the event says so (``Catalog.gone``);
else it is read again, shortly after.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from connectors.base import Column, TableId, TableSchema
from connectors.ddl import SchemaChange, TableDdl

from .values import base_name, members, row_converter

_IDENT = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_NAME = rf"(?:({_IDENT})\s*\.\s*)?({_IDENT})"
_LEAD = r"^(?:\s|/\*(?!!).*?\*/|#[^\n]*\n|--\s[^\n]*\n)*"  # comments before the statement (not /*! ones)
_FLAGS = re.IGNORECASE | re.DOTALL
_CREATE = re.compile(_LEAD + r"CREATE\s+(OR\s+REPLACE\s+)?(TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME,
                     _FLAGS)
_ALTER = re.compile(_LEAD + r"ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?" + _NAME + r"(.*)$",
                    _FLAGS)
_DROP = re.compile(_LEAD + r"DROP\s+(TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?(.*)$", _FLAGS)
_RENAME = re.compile(_LEAD + r"RENAME\s+TABLES?\s+(.*)$", _FLAGS)
_TRUNCATE = re.compile(_LEAD + r"TRUNCATE\s+(?:TABLE\s+)?" + _NAME, _FLAGS)
_PAIR = re.compile(r"^\s*" + _NAME + r"\s+TO\s+" + _NAME + r"\s*$", _FLAGS)
_ONE = re.compile(r"^\s*" + _NAME + r"(?:\s+(?:RESTRICT|CASCADE))?\s*(?:/\*.*\*/\s*)?$", _FLAGS)
_RENAME_COLUMN = re.compile(rf"^RENAME\s+COLUMN\s+({_IDENT})\s+TO\s+({_IDENT})", _FLAGS)
_RENAME_TABLE = re.compile(r"^RENAME\s+(?:TO\s+|AS\s+)?(?!(?:COLUMN|INDEX|KEY)\s)" + _NAME + r"\s*$", _FLAGS)
_CHANGE = re.compile(rf"^CHANGE\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({_IDENT})\s+({_IDENT})", _FLAGS)
_ROWS_MOVED = re.compile(r"^(?:(?:DROP|TRUNCATE|EXCHANGE|CONVERT)\s+PARTITION|IMPORT\s+(?:PARTITION\s.*\s)?TABLESPACE)",
                         _FLAGS)
log = structlog.get_logger(__name__)
_RELOAD = "reload the table with `dms task start --type reload-target`"


@dataclass(frozen=True, slots=True)
class Statement:
    """What a DDL statement does, as far as replication needs to know."""

    kind: TableDdl | None  # None: TRUNCATE
    tables: tuple[tuple[TableId, TableId], ...]  # (named before, named after): the same but for renames
    renamed: Mapping[str, str] = field(default_factory=dict)  # ALTER: columns, old name -> new name
    unsupported: str = ""  # ALTER: why its effect on the rows cannot be replicated
    replace: bool = False  # CREATE OR REPLACE (MariaDB): drops the table of that name first
    text: str = ""  # the statement (tells two statements of the same effect apart)


def _ident(text: str) -> str:
    return text[1:-1].replace("``", "`") if text.startswith("`") else text


def _table(schema: str, db: str | None, name: str) -> TableId:
    return TableId(_ident(db) if db else schema, _ident(name))


def clauses(text: str) -> list[str]:
    """``text`` split at its top-level commas (not inside parentheses, quotes or backticks), each stripped."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [c for c in out if c]


def recognise(schema: str, sql: str) -> Statement | None:
    """The statement's kind and tables (``schema``: the statement's current database), or None when it is no
    table DDL that replication follows (temporary tables, indexes, users, ...)."""
    stmt = _recognise(schema, sql)
    return replace(stmt, text=sql.strip()) if stmt is not None else None


def _recognise(schema: str, sql: str) -> Statement | None:
    found = _TRUNCATE.match(sql)
    if found:
        table = _table(schema, found.group(1), found.group(2))
        return Statement(None, ((table, table),))
    found = _ALTER.match(sql)
    if found:
        return _alter(_table(schema, found.group(1), found.group(2)), schema, found.group(3))
    found = _CREATE.match(sql)
    if found:
        if found.group(2):
            return None
        table = _table(schema, found.group(3), found.group(4))
        return Statement(TableDdl.CREATE, ((table, table),), replace=bool(found.group(1)))
    found = _DROP.match(sql)
    if found:
        if found.group(1):
            return None
        names = [_ONE.match(c) for c in clauses(found.group(2))]
        tables = tuple((t, t) for t in (_table(schema, m.group(1), m.group(2)) for m in names if m))
        return Statement(TableDdl.DROP, tables) if tables else None
    found = _RENAME.match(sql)
    if found:
        pairs = [_PAIR.match(c) for c in clauses(found.group(1))]
        tables = tuple((_table(schema, m.group(1), m.group(2)), _table(schema, m.group(3), m.group(4)))
                       for m in pairs if m)
        return Statement(TableDdl.RENAME, tables) if tables else None
    return None


def _alter(table: TableId, schema: str, rest: str) -> Statement:
    renamed: dict[str, str] = {}
    new_name, unsupported = table, ""
    for clause in clauses(rest):
        column = _RENAME_COLUMN.match(clause) or _CHANGE.match(clause)
        if column:
            old, new = _ident(column.group(1)), _ident(column.group(2))
            if old != new:
                renamed[old] = new
            continue
        moved = _RENAME_TABLE.match(clause)
        if moved:
            new_name = _table(schema, moved.group(1), moved.group(2))
        elif _ROWS_MOVED.match(clause):
            unsupported = (f"its {clause.split()[0].upper()} removes or brings rows that the binlog does not hold as "
                           f"rows: {_RELOAD}")
    return Statement(TableDdl.ALTER, ((table, new_name),), renamed, unsupported)


# -- the table after the statement -------------------------------------------------------------------

# A column's DEFAULT as information_schema spells it: MariaDB quotes text ('it''s') and says NULL or an
# expression (current_timestamp(), (1 + 1)) as such; MySQL 8 gives a literal's text bare and marks an
# expression DEFAULT_GENERATED in EXTRA.
_DEFAULTS_SQL = """
SELECT COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, EXTRA FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)
_NUMERIC = {"int2", "int4", "int8", "numeric", "float4", "float8", "bool"}


def filled(column: Column, default: str | None, nullable: bool, extra: str, mariadb: bool) -> tuple[Any, str]:
    """(the value a column added to a table with rows has in them, "") or (None, why it cannot be known)."""
    extra = extra.lower()
    if "generated" in extra and "default_generated" not in extra:
        return None, ""  # a generated column: not replicated (discovery leaves it out)
    if "auto_increment" in extra:
        return None, "the rows already there were numbered by the server, which the binlog does not hold"
    if default is None or (mariadb and default == "NULL"):
        if nullable:
            return None, ""
        return _implicit(column)
    if "default_generated" in extra:
        return None, f"the rows already there took the value of its DEFAULT {default}, which the binlog does not hold"
    if mariadb:
        if default.startswith("'") and default.endswith("'") and len(default) >= 2:
            text = default[1:-1].replace("''", "'").replace("\\\\", "\\")
        elif _NUMBER.match(default):
            text = default
        else:
            return None, (f"the rows already there took the value of its DEFAULT {default}, which the binlog does not "
                          "hold")
    else:
        text = default
    return _typed(column, text)


def _implicit(column: Column) -> tuple[Any, str]:
    """The value MySQL gives existing rows in a NOT NULL column added without a DEFAULT."""
    base = base_name(column.native or column.type)
    if base == "enum":
        return (members(column.native) or [""])[0], ""
    if column.type in _NUMERIC or base in ("year", "bit"):
        return _typed(column, "0")
    if column.type in ("string", "text") and base not in ("set",):
        return "", ""
    return None, f"the rows already there took {column.native}'s implicit value, which the binlog does not hold"


def _typed(column: Column, text: str) -> tuple[Any, str]:
    """A DEFAULT's text as the full load would read the column's value."""
    base = base_name(column.native or column.type)
    raw: Any = text
    try:
        if base == "bit":
            raw = int(text).to_bytes(max(1, (int(text).bit_length() + 7) // 8), "big")
        elif column.type in ("int2", "int4", "int8") or base == "year":
            raw = int(Decimal(text))
        elif column.type in ("numeric", "float4", "float8") or column.type == "bool":
            raw = Decimal(text) if column.type == "numeric" else float(text) if column.type != "bool" else int(text)
    except (ValueError, InvalidOperation, OverflowError):
        return None, f"its DEFAULT {text!r} is not a value of {column.native}"
    (value,) = row_converter((column,), log=False)((raw,))
    return value, ""


Describe = Callable[[TableId], "TableSchema | None"]
Where = tuple[str, int]  # a binlog file and an offset in it
NamesAt = Callable[[Where], "tuple[str, ...] | None"]
Query = Callable[..., list[tuple]]


_USE = re.compile(r"^use\s+(" + _IDENT + r")\s*;\s*", re.IGNORECASE)
_MAPPED = re.compile(r"\((.+)\.(.+)\)\s*$")
SCAN_LIMIT = 200_000  # binlog events read past a DDL event at most; past it, the shape is taken as unknown
MISSING_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds between reads of a table missing for a moment


class Catalog:
    """The source's tables as information_schema says they are now (its own connection: see the module's doc)."""

    def __init__(self, describe: Describe, query: Query, mariadb: bool, names_at: NamesAt) -> None:
        self.describe = describe
        self.query = query
        self.mariadb = mariadb
        self.names_at = names_at  # the columns a table map event of the binlog names (binlog_row_metadata=FULL)

    def later(self, where: tuple[str, int], table: TableId) -> tuple[list[Statement], int, Where | None]:
        """The DDL of ``table`` in the binlog after ``where`` (file, offset), how many of them come before its first
        rows, and, when some come after those (information_schema is ahead of ``where``), where the table map of
        those rows is."""
        file, offset = where
        files = [name for name, *_ in self.query("SHOW BINARY LOGS")]
        files = files[files.index(file):] if file in files else [file]
        watched, found, scanned = {table}, [], 0
        rows: Where | None = None
        before_rows = -1
        for name in files:
            events = self.query(f"SHOW BINLOG EVENTS IN '{name}' FROM {offset} LIMIT {SCAN_LIMIT - scanned + 1}")
            offset = 4
            scanned += len(events)
            if scanned > SCAN_LIMIT:
                return found, len(found) if before_rows < 0 else before_rows, rows or ("", 0)
            for log, pos, kind, _, _, info in events:
                if kind == "Table_map" and before_rows < 0:
                    mapped = _MAPPED.search(info or "")
                    if mapped and TableId(mapped.group(1), mapped.group(2)) in watched:
                        rows, before_rows = (log, int(pos)), len(found)
                elif kind == "Query":
                    use = _USE.match(info or "")
                    stmt = recognise(_ident(use.group(1)) if use else "", info[use.end():] if use else info or "")
                    if stmt is not None and any(t in watched for pair in stmt.tables for t in pair):
                        found.append(stmt)
                        watched |= {after for _, after in stmt.tables}
        if before_rows < 0 or before_rows == len(found):
            return found, len(found), None
        return found, before_rows, rows

    def gone(self, where: Where, table: TableId) -> bool:
        """Whether DDL in the binlog after ``where`` drops ``table`` or renames it away."""
        found, _, _ = self.later(where, table)
        return any(stmt.kind is TableDdl.DROP and any(before == table for before, _ in stmt.tables)
                   or any(before == table and after != table for before, after in stmt.tables) for stmt in found)

    def present(self, table: TableId, where: Where) -> TableSchema | None:
        """information_schema's ``table`` now; None only when the binlog after ``where`` dropped or renamed it (an
        ALTER copying the table hides it from information_schema for a moment: see the module's doc)."""
        for wait in (*MISSING_WAITS, None):
            schema = self.describe(table)
            if schema is not None or self.gone(where, table):
                return schema
            if wait is None:
                break
            time.sleep(wait)
        log.warning("ddl_table_missing", table=str(table), binlog=f"{where[0]}:{where[1]}",
                    seconds=sum(MISSING_WAITS))
        return None

    def defaults(self, table: TableId) -> list[tuple]:
        """information_schema's (column, DEFAULT, nullable, extra) of the table now (read with its shape, before
        the binlog is searched: what the search finds then covers both)."""
        return self.query(_DEFAULTS_SQL, (table.schema, table.name))

    def fills(self, table: TableSchema, added: Sequence[str], onward: Mapping[str, str],
              defaults: Sequence[tuple]) -> tuple[dict[str, Any], str]:
        """The values existing rows took in the columns ``added``, or why one cannot be known (``onward``: the
        columns' renames since, as ``defaults`` names them)."""
        if not added:
            return {}, ""
        columns = {c.name: c for c in table.columns}
        then = {b.lower(): a for a, b in onward.items()}
        out: dict[str, Any] = {}
        for now, default, nullable, extra in defaults:
            name = then.get(now.lower(), now)
            if name not in added or name not in columns:
                continue
            value, problem = filled(columns[name], default, nullable == "YES", extra or "", self.mariadb)
            if problem:
                return {}, f"column {name} was added: {problem}; {_RELOAD}"
            if value is not None:
                out[name] = value
        return out, ""


Key = tuple[str, str]


class Follower:
    """The reader's knowledge of the tables' shapes (``tables``, the Assembler's own), kept up to date by the
    DDL it reads; ``follow`` is told of each table that joins (so the binlog reader passes its rows on)."""

    def __init__(self, catalog: Catalog, follow: Callable[[TableId], None],
                 databases: Collection[str] | None = None) -> None:
        self.catalog = catalog
        self.follow = follow
        # Where a created table may join (None: anywhere): a server holds other databases, a target's among them.
        self.databases = databases
        # Statements met ahead in the binlog (Catalog.later) while the shape read already held their effect.
        self.absorbed: list[tuple[TableId, Statement]] = []

    def changes(self, tables: dict[Key, TableSchema], stmt: Statement, sql: str,
                where: tuple[str, int]) -> list[tuple[TableId, SchemaChange]]:
        """(the table as it was named, what changed) for each table of ours the statement changed (``where``:
        the binlog file and offset after the statement's event)."""
        out: list[tuple[TableId, SchemaChange]] = []
        for before, after in stmt.tables:
            known = tables.get(_key(before))
            if stmt.kind is TableDdl.DROP:
                if known is not None:
                    del tables[_key(before)]
                    out.append((before, SchemaChange(TableDdl.DROP, None, sql)))
            elif stmt.kind is TableDdl.CREATE:
                if known is not None and stmt.replace:
                    del tables[_key(before)]
                    out.append((before, SchemaChange(TableDdl.DROP, None, sql)))
                elif known is not None:
                    continue  # CREATE TABLE IF NOT EXISTS of a table there already
                if self.databases is not None and after.schema not in self.databases:
                    continue
                schema = self.catalog.present(after, where)
                if schema is not None:  # else dropped again since (a reader far behind): its DROP follows
                    schema = self._created(schema, where)
                    tables[_key(after)] = schema
                    self.follow(after)
                    out.append((after, SchemaChange(TableDdl.CREATE, schema, sql)))
            elif known is not None:  # rename, alter: of tables we follow (one renamed into the rules is not)
                out += self._alter(tables, known, before, after, stmt, sql, where)
        return out

    def _alter(self, tables: dict[Key, TableSchema], known: TableSchema, before: TableId, after: TableId,
               stmt: Statement, sql: str, where: tuple[str, int]) -> list[tuple[TableId, SchemaChange]]:
        out: list[tuple[TableId, SchemaChange]] = []
        if after != before:
            known = replace(known, table=after)
            del tables[_key(before)]
            tables[_key(after)] = known
            self.follow(after)
            out.append((before, SchemaChange(TableDdl.RENAME, known, sql)))
        if stmt.kind is not TableDdl.ALTER:
            return out
        if stmt.unsupported:
            return [*out, (after, SchemaChange(TableDdl.ALTER, known, sql, unsupported=stmt.unsupported))]
        schema = self.catalog.present(after, where)
        if schema is None:
            return out  # dropped or renamed since (a reader far behind): that DDL follows
        defaults = self.catalog.defaults(after)
        absorbed = (after, stmt) in self.absorbed
        if absorbed:
            self.absorbed.remove((after, stmt))
        later, before_rows, ahead = self.catalog.later(where, after)
        # Later statements whose effect the shape read now already holds: each still goes to the target (as a
        # change of nothing, when nothing is left of it), so Ddls counts it.
        self._absorb(later)
        old = {c.name.lower(): c.name for c in known.columns}
        chain = _chain(stmt.renamed, later[:before_rows])  # renamed again before any row: the last name
        onward = _chain({}, later[before_rows:]) if ahead is not None else {}
        if ahead is not None:
            log.info("ddl_columns_from_table_map", table=str(after), table_map=f"{ahead[0]}:{ahead[1]}")
            schema = self._between(known, schema, chain, ahead, onward)
            if schema is None:
                return [*out, (after, SchemaChange(TableDdl.ALTER, known, sql, unsupported=(
                    "the table changed again later in the binlog, after rows written in between, and its columns at "
                    f"this statement can no longer be told (the task reads the binlog far behind the source): "
                    f"{_RELOAD}")))]
        now = {c.name.lower(): c.name for c in schema.columns}
        renamed = {old[a.lower()]: now[b.lower()] for a, b in chain.items() if a.lower() in old and b.lower() in now}
        if _shape(known) == _shape(schema) and known.key == schema.key:
            if absorbed:
                out.append((after, SchemaChange(TableDdl.ALTER, known, sql)))
            return out  # else an index, a default, a comment: nothing a target follows
        tables[_key(after)] = schema
        added = [c.name for c in schema.columns if c.name.lower() not in old and c.name not in renamed.values()]
        fills, problem = self.catalog.fills(schema, added, onward, defaults)
        return [*out, (after, SchemaChange(TableDdl.ALTER, schema, sql, renamed, fills, unsupported=problem))]


    def _created(self, schema: TableSchema, where: Where) -> TableSchema:
        """A new table as it was created: information_schema's, unless later DDL after rows changed it since."""
        later, _, ahead = self.catalog.later(where, schema.table)
        self._absorb(later)
        if ahead is None:
            return schema
        log.info("ddl_columns_from_table_map", table=str(schema.table), table_map=f"{ahead[0]}:{ahead[1]}")
        # else the next rows' table map holds the columns (none known before: each declared as it is now)
        return self._between(replace(schema, columns=(), key=()), schema, {}, ahead, _chain({}, later)) or schema

    def _absorb(self, later: Sequence[Statement]) -> None:
        self.absorbed += [(step.tables[0][1], step) for step in later
                          if step.kind is TableDdl.ALTER and (step.tables[0][1], step) not in self.absorbed]

    def _between(self, known: TableSchema, final: TableSchema, renamed: Mapping[str, str], rows: Where,
                 onward: Mapping[str, str]) -> TableSchema | None:
        """The table at a statement that later DDL (after rows) changed again: its columns as the table map of
        those rows names them, each declared as information_schema declares it now (under the name ``onward``
        renames gave it since), else as it was before the statement; None when a column has neither (or the
        table map names none: binlog_row_metadata not FULL)."""
        names = self.catalog.names_at(rows) if rows[0] else None
        if not names:
            return None
        was = {renamed.get(c.name, c.name).lower(): c for c in known.columns}
        now = {c.name.lower(): c for c in final.columns}
        columns = []
        for name in names:
            column = now.get(onward.get(name, name).lower()) or was.get(name.lower())
            if column is None:
                return None
            columns.append(replace(column, name=name))
        key = tuple(renamed.get(k, k) for k in known.key)
        if final.key and all(k in names for k in final.key):
            key = final.key
        return replace(final, columns=tuple(columns), key=key)


def _chain(renamed: Mapping[str, str], steps: Sequence[Statement]) -> dict[str, str]:
    """Column renames composed: a -> b then b -> c is a -> c."""
    chain = dict(renamed)
    for step in steps:
        for a, b in step.renamed.items():
            first = next((k for k, v in chain.items() if v.lower() == a.lower()), None)
            chain[first if first is not None else a] = b
    return chain


def _key(table: TableId) -> Key:
    return (table.schema, table.name)


def _shape(schema: TableSchema) -> tuple:
    return tuple((c.name, c.native) for c in schema.columns)
