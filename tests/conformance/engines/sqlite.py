"""SQLite: a file, captured by triggers."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Endpoint

from . import Engine, register
from .sql import SqlEngine


@register
class SqliteEngine(SqlEngine):
    name = "sqlite"
    schema = "main"
    mark = "?"
    core = True
    truncate_as_deletes = True
    doc_type = "TEXT"
    decls = {
        "bool": "BOOLEAN", "int2": "SMALLINT", "int4": "INT4", "int8": "BIGINT", "float4": "FLOAT4",
        "float8": "DOUBLE PRECISION", "numeric": "NUMERIC(12,4)", "numeric_wide": "NUMERIC(38,10)",
        "string": "VARCHAR(64)", "text": "TEXT", "bytes": "BLOB", "date": "DATE", "time": "TIME",
        "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "json": "JSON", "uuid": "UUID",
    }
    type_gaps = {
        "numeric_wide": "SQLite keeps NUMERIC as a 64-bit integer or a double: digits past the 15th are rounded",
        "float8_special": "SQLite has no NaN: a NaN is stored as NULL",
    }

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(tmp_path_factory.mktemp(f"sqlite-{role}"))

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
