"""PostgreSQL: the source server has wal_level=logical; the target is a second cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from services import fresh_db

from connectors.base import Endpoint

from . import Engine, register
from .sql import SqlEngine

DECLS = {
    "bool": "boolean", "int2": "smallint", "int4": "integer", "int8": "bigint", "float4": "real",
    "float8": "double precision", "numeric": "numeric(12,4)", "numeric_wide": "numeric(38,10)",
    "string": "varchar(64)", "text": "text", "bytes": "bytea", "date": "date", "time": "time",
    "timestamp": "timestamp", "timestamptz": "timestamptz", "json": "jsonb", "uuid": "uuid",
}


@register
class PostgresEngine(SqlEngine):
    name = "postgres"
    schema = "public"
    core = True
    decls = DECLS
    doc_type = "jsonb"
    type_gaps = {"timestamptz_offset": "a timestamptz travels as text, and PostgreSQL keeps an instant: an offset "
                                       "comes back as the same instant in UTC, other text than the source's"}

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(fresh_db(request.getfixturevalue("pg" if role == "source" else "pg_target")))

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
