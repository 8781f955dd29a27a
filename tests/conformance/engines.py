"""The engines of the conformance suite: each makes a database, creates tables of the common types,
writes to them as an application would, and opens the connector on it.

A new engine joins the suite with a class here (and its name in ENGINES): every test then runs it
as a source against every target, and as a target behind every source.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2

from connectors import memory
from connectors.base import Column, Endpoint, TableId, TableSchema
from connectors.registry import open_source, open_target

# Common type -> (portable type, PostgreSQL declaration, SQLite declaration)
TYPES: dict[str, tuple[str, str, str]] = {
    "bool": ("bool", "boolean", "BOOLEAN"),
    "int2": ("int2", "smallint", "SMALLINT"),
    "int4": ("int4", "integer", "INT4"),
    "int8": ("int8", "bigint", "BIGINT"),
    "float4": ("float4", "real", "FLOAT4"),
    "float8": ("float8", "double precision", "DOUBLE PRECISION"),
    "numeric": ("numeric", "numeric(12,4)", "NUMERIC(12,4)"),
    "numeric_wide": ("numeric", "numeric(38,10)", "NUMERIC(38,10)"),
    "string": ("string", "varchar(64)", "VARCHAR(64)"),
    "text": ("text", "text", "TEXT"),
    "bytes": ("bytes", "bytea", "BLOB"),
    "date": ("date", "date", "DATE"),
    "time": ("time", "time", "TIME"),
    "timestamp": ("timestamp", "timestamp", "TIMESTAMP"),
    "timestamptz": ("timestamptz", "timestamptz", "TIMESTAMPTZ"),
    "json": ("json", "jsonb", "JSON"),
    "uuid": ("uuid", "uuid", "UUID"),
}


class Engine:
    """One database of an engine, used as a source or as a target by the tests of one module."""

    name = ""
    schema = ""  # the schema its tables are discovered in

    def endpoint(self, kind: str) -> Endpoint:
        raise NotImplementedError

    def open_source(self):
        return open_source(self.endpoint("source"))

    def open_target(self):
        return open_target(self.endpoint("target"))

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        """A table of (column, common type) pairs with a primary key; returns its id."""
        raise NotImplementedError

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        """One transaction of ("insert", row) / ("update", key, values) / ("delete", key) / ("truncate",);
        a key is the key's value, or a tuple of them for a key of several columns."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemoryEngine(Engine):
    name = "memory"
    schema = "public"

    def __init__(self) -> None:
        self.database = f"conformance-{secrets.token_hex(4)}"
        self.db = memory.database(self.database)

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"mem-{kind}", kind, "memory", database=self.database)

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        tid = TableId(self.schema, table)
        cols = tuple(Column(n, TYPES[t][0], n not in key, TYPES[t][1]) for n, t in columns)
        self.db.create_table(TableSchema(tid, cols, tuple(key), "memory"))
        return tid

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        with self.db.transaction() as tx:
            for op, *args in ops:
                if op == "insert":
                    tx.insert(table, args[0])
                elif op == "update":
                    tx.update(table, key_tuple(args[0]), args[1])
                elif op == "delete":
                    tx.delete(table, key_tuple(args[0]))
                else:
                    tx.truncate(table)

    def close(self) -> None:
        memory.drop_database(self.database)


class _SqlEngine(Engine):
    mark = "%s"
    decl = 1  # index of the declaration in TYPES
    keys: dict[str, tuple[str, ...]]

    def quote(self, name: str) -> str:
        return '"' + name + '"'

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        cols = ", ".join(f"{self.quote(n)} {TYPES[t][self.decl]}" for n, t in columns)
        self.run([(f"CREATE TABLE {self.quote(table)} ({cols}, PRIMARY KEY ({', '.join(map(self.quote, key))}))",
                   ())])
        self.keys[table] = tuple(key)
        return TableId(self.schema, table)

    def bind(self, value: Any) -> Any:
        return value

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        name = self.quote(table.name)
        match = " AND ".join(f"{self.quote(k)} = {self.mark}" for k in self.keys[table.name])
        statements = []
        for op, *args in ops:
            if op == "insert":
                row = args[0]
                statements.append((f"INSERT INTO {name} ({', '.join(map(self.quote, row))}) VALUES "
                                   f"({', '.join([self.mark] * len(row))})", [self.bind(v) for v in row.values()]))
            elif op == "update":
                key, values = args
                sets = ", ".join(f"{self.quote(c)} = {self.mark}" for c in values)
                statements.append((f"UPDATE {name} SET {sets} WHERE {match}",
                                   [*map(self.bind, values.values()), *map(self.bind, key_tuple(key))]))
            elif op == "delete":
                statements.append((f"DELETE FROM {name} WHERE {match}", list(map(self.bind, key_tuple(args[0])))))
            else:
                statements.append((self.truncate_sql(name), ()))
        self.run(statements)

    def truncate_sql(self, name: str) -> str:
        return f"TRUNCATE {name}"

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        raise NotImplementedError


class SqliteEngine(_SqlEngine):
    name = "sqlite"
    schema = "main"
    mark = "?"
    decl = 2

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"conformance-{secrets.token_hex(4)}.db"
        self.keys = {}
        sqlite3.connect(self.path).close()

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"sqlite-{kind}", kind, "sqlite", database=str(self.path))

    def bind(self, value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else value  # NUMERIC affinity reads the text

    def truncate_sql(self, name: str) -> str:
        return f"DELETE FROM {name}"  # SQLite has no TRUNCATE: its change capture sees a delete per row

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                conn.execute(sql, args)
            conn.execute("COMMIT")
        finally:
            conn.close()


class PostgresEngine(_SqlEngine):
    name = "postgres"
    schema = "public"

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys = {}
        self.conn = psycopg2.connect(url)

    def endpoint(self, kind: str) -> Endpoint:
        u = urlsplit(self.url)
        return Endpoint(f"pg-{kind}", kind, "postgres", u.hostname or "", u.port or 5432, u.path.lstrip("/"),
                        u.username or "", u.password or "")

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self.conn, self.conn.cursor() as cur:  # one transaction, committed on leaving
            for sql, args in statements:
                cur.execute(sql, args or None)

    def close(self) -> None:
        self.conn.close()


ENGINES = ("memory", "sqlite", "postgres")


def key_tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)
