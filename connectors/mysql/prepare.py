"""Tables on a MySQL/MariaDB target: their CREATE TABLE, names within MySQL's rules, keys after the load.

- Names: at most 64 characters (MySQL's limit for tables, columns and indexes); a longer one fails the table
  with the fix (a rename rule), never cut silently, since two long names could become one. Every name is
  quoted with backquotes, so reserved words and any other characters are fine.
- Tables of another engine's source are created InnoDB, utf8mb4 with the binary NO PAD collation: keys compare
  as the source's did ('a', 'A' and 'a ' are three keys, as in PostgreSQL), and rows sort in code point order.
  A MySQL source's table keeps its declarations (the collation of its columns is the target's default).
- Unique indexes (the source's, over whole columns) are added after the load with the primary key when it
  was left out (``unique_indexes``). MySQL checks them row by row, so the change apply never upserts with
  ON DUPLICATE KEY UPDATE on such a table (it fires on any unique key: the wrong row could be updated); it
  writes by primary key, and a batch the set statements cannot pass (two rows swapping values) goes again
  change by change in source order (connectors/sql/apply.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.base import TableSchema
from connectors.errors import ObjectError

from .connect import MAX_IDENTIFIER, quote_ident, server_flavour
from .types import declared_type


def check_names(schema: TableSchema) -> None:
    """An ObjectError naming the first name longer than MySQL allows, with the fix."""
    names = [("table", schema.table.name)] + [("column", c.name) for c in schema.columns]
    for what, name in names:
        if len(name) > MAX_IDENTIFIER:
            raise ObjectError(f"{what} name {name!r} of table {schema.table} is {len(name)} characters long; MySQL "
                              f"allows {MAX_IDENTIFIER}: add a rename transformation rule for it")


def binary_collation(conn: Any) -> str:
    """utf8mb4's binary NO PAD collation: MariaDB's name, or MySQL 8's."""
    flavour, version = server_flavour(conn)
    if flavour == "mariadb":
        return "utf8mb4_nopad_bin"
    return "utf8mb4_0900_bin" if version >= (8,) else "utf8mb4_bin"


def create_sql(schema: TableSchema, name: str, *, with_key: bool, collation: str) -> str:
    check_names(schema)
    cols = [f"{quote_ident(c.name)} {declared_type(schema, c)}{'' if c.nullable else ' NOT NULL'}"
            for c in schema.columns]
    if schema.key and with_key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in schema.key)})")
    return (f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
            f"COLLATE={collation}")


def has_primary_key(cur: Any, schema: str | None, table: str) -> bool:
    cur.execute("SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_TYPE = 'PRIMARY KEY' "
                "AND TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s", (schema, table))
    return cur.fetchone() is not None


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """A unique index's name within MySQL's 64 characters: a digest stands in for the tail of a long one."""
    name = f"{table}_{'_'.join(columns)}_key"
    if len(name) <= MAX_IDENTIFIER:
        return name
    return f"{name[:MAX_IDENTIFIER - 9]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def unique_indexes(cur: Any, schema: str | None, table: str) -> set[tuple[str, ...]]:
    """The column sets of the table's unique indexes, the primary key's among them."""
    cur.execute("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND "
                "TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX",
                (schema, table))
    found: dict[str, list[str]] = {}
    for index, column in cur.fetchall():
        found.setdefault(index, []).append(column)
    return {tuple(cols) for cols in found.values()}
