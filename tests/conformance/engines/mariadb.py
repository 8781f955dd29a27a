"""MariaDB 10.11 (deploy/mariadb.sh), the mysql/mariadb/aurora engines' real server: a target today; the
source side (binlog capture) joins by adding "source" to its roles."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from servers_mariadb import connect_url, fresh_mariadb

from connectors.base import Endpoint

from . import Engine, register
from .sql import SqlEngine

DECLS = {
    "bool": "boolean", "int2": "smallint", "int4": "int", "int8": "bigint", "float4": "float",
    "float8": "double", "numeric": "decimal(12,4)", "numeric_wide": "decimal(38,10)",
    "string": "varchar(64)", "text": "longtext", "bytes": "longblob", "date": "date", "time": "time(6)",
    "timestamp": "datetime(6)", "timestamptz": "timestamp(6)", "json": "json", "uuid": "char(36)",
}


@register
class MariadbEngine(SqlEngine):
    name = "mariadb"
    schema = ""  # set per database: MySQL's schema is the database
    roles = ("target",)
    pairs = (("postgres", "mariadb"),)
    decls = DECLS
    doc_type = ""  # "json" once its source can read the table back (test_documents opens it as a source)
    type_gaps = {
        "float8_special": "MySQL has no NaN or infinity in a FLOAT/DOUBLE column: they are stored as NULL",
        "date_special": "MySQL's DATE has no infinity and no BC dates: they are stored as NULL",
        "timestamptz_offset": "MySQL's DATETIME has no time zone: the instant is kept in UTC, and comes back with "
                              "+00, other text than the source's offset",
    }

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(fresh_mariadb(request.getfixturevalue("mariadb")))

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = urlsplit(url).path.lstrip("/")
        self.keys = {}
        self.conn = connect_url(url)
        self.conn.autocommit(False)

    def endpoint(self, kind: str) -> Endpoint:
        u = urlsplit(self.url)
        return Endpoint(f"mariadb-{kind}", kind, "mariadb", u.hostname or "", u.port or 3306, self.schema,
                        u.username or "", u.password or "")

    def quote(self, name: str) -> str:
        return "`" + name + "`"

    def bind(self, value: Any) -> Any:
        return format(value, "f") if isinstance(value, Decimal) else value

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self.conn.cursor() as cur:
            for sql, args in statements:
                cur.execute(sql, args or None)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()
