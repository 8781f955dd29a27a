"""MariaDB 10.11 (deploy/mariadb.sh), the mysql/mariadb/aurora engines' real server: a source (binlog capture,
row-based with whole rows and full metadata) and a target, a database per engine and role on the session's server."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from servers_mariadb import connect_url, fresh_mariadb

from connectors.base import Endpoint, TableId

from . import Engine, register
from .sql import SqlEngine

DECLS = {
    "bool": "boolean", "int2": "smallint", "int4": "int", "int8": "bigint", "float4": "float",
    "float8": "double", "numeric": "decimal(12,4)", "numeric_wide": "decimal(38,10)",
    "string": "varchar(64)", "text": "longtext", "bytes": "longblob", "date": "date", "time": "time(6)",
    "timestamp": "datetime(6)", "timestamptz": "timestamp(6)", "json": "json", "uuid": "char(36)",
}
# As a source, a BIT(1): MySQL's BOOLEAN is TINYINT(1), an integer (DMS reads it as INT1), where BIT(1) is DMS's
# BOOLEAN; as a target, BOOLEAN, which its bulk load can write (LOAD DATA cannot write a BIT from text).
SOURCE_DECLS = {"bool": "bit(1)"}
# A key cannot hold a whole TEXT or BLOB in MySQL/MariaDB (only a prefix): a key column of those is bounded.
KEY_DECLS = {"text": "varchar(191)", "bytes": "varbinary(191)"}
_OFFSET = re.compile(r" \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?$")
_TIMESTAMP_MIN = datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.UTC)
_TIMESTAMP_MAX = datetime.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=datetime.UTC)


@register
class MariadbEngine(SqlEngine):
    name = "mariadb"
    schema = ""  # set per database: MySQL's schema is the database
    pairs = (("postgres", "mariadb"), ("mariadb", "postgres"))
    decls = DECLS
    doc_type = ""  # "json" once its source can read the table back (test_documents opens it as a source)
    drops_capture = False  # the binlog is the server's own: nothing to drop
    type_gaps = {
        "float8_special": "MySQL has no NaN or infinity in a FLOAT/DOUBLE column: they are stored as NULL",
        "date_special": "MySQL's DATE has no infinity and no BC dates: they are stored as NULL",
        "timestamptz_offset": "MySQL's DATETIME has no time zone: the instant is kept in UTC, and comes back with "
                              "+00, other text than the source's offset",
    }
    source_type_gaps = {
        "timestamptz": "MySQL's TIMESTAMP holds 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC only: an application "
                       "cannot store the others",
    }

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(fresh_mariadb(request.getfixturevalue("mariadb")), role)

    def __init__(self, url: str, role: str = "target") -> None:
        self.url = url
        if role == "source":
            self.decls = {**DECLS, **SOURCE_DECLS}
        self.schema = urlsplit(url).path.lstrip("/")
        self.keys = {}
        self.conn = connect_url(url)
        self.conn.autocommit(False)

    def endpoint(self, kind: str) -> Endpoint:
        u = urlsplit(self.url)
        return Endpoint(f"mariadb-{kind}", kind, "mariadb", u.hostname or "", u.port or 3306, self.schema,
                        u.username or "", u.password or "")

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        cols = ", ".join(f"{self.quote(n)} {KEY_DECLS.get(t, self.decls[t]) if n in key else self.decls[t]}"
                         for n, t in columns)
        self.run([(f"CREATE TABLE {self.quote(table)} ({cols}, PRIMARY KEY ({', '.join(map(self.quote, key))}))",
                   ())])
        self.keys[table] = tuple(key)
        return TableId(self.schema, table)

    def bind(self, value: Any) -> Any:
        """What an application could store of a value: NULL for what MariaDB has no value for (infinities, NaN,
        dates BC), a timestamp with an offset as its UTC wall-clock time (NULL outside TIMESTAMP's range)."""
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            return None
        if isinstance(value, str) and (value in ("infinity", "-infinity") or value.endswith(" BC")):
            return None
        if isinstance(value, str) and _OFFSET.search(value):
            instant = datetime.datetime.fromisoformat(value).astimezone(datetime.UTC)
            if not _TIMESTAMP_MIN <= instant <= _TIMESTAMP_MAX:
                return None
            return instant.replace(tzinfo=None).isoformat(" ")
        return value

    def truncate_sql(self, name: str) -> str:
        return f"TRUNCATE TABLE {name}"

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self.conn.cursor() as cur:
            for sql, args in statements:
                cur.execute(sql, args or None)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()
