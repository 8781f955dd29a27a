"""MySQL/MariaDB target: the shared SQL target (connectors/sql/) with MySQL's SQL.

Where tables land: in the endpoint's database (DMS's ``TargetDbType=SPECIFIC_DATABASE``), whatever their
source schema; with the extra connection attribute ``targetDbType=MULTIPLE_DATABASES`` each table goes to the
database named by its (mapped) schema, created when missing, as DMS does by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql

from connectors.base import Endpoint, TableSchema
from connectors.errors import ConfigError, DmsError
from connectors.sql.target import SqlTarget

from .classify import classify
from .connect import connect, literal, quote_ident

_DB_TYPES = ("SPECIFIC_DATABASE", "MULTIPLE_DATABASES")


class MysqlTarget(SqlTarget):
    driver_errors = (pymysql.err.MySQLError, OSError)
    param = "%s"
    key_text = "varchar(255)"  # a TEXT column cannot be part of a key
    text = "longtext"
    name_text = "varchar(128)"
    stamp = ("datetime(6)", "UTC_TIMESTAMP(6)")
    utc_time = ("datetime(6)", "UTC_TIMESTAMP(6)")

    def __init__(self, endpoint: Endpoint) -> None:
        db_type = endpoint.extra.get("targetDbType", "SPECIFIC_DATABASE").upper()
        if db_type not in _DB_TYPES:
            raise ConfigError(f"endpoint {endpoint.id}: targetDbType={db_type} is not one of {', '.join(_DB_TYPES)}")
        if db_type == "SPECIFIC_DATABASE" and not endpoint.database:
            raise ConfigError(f"endpoint {endpoint.id}: give the database the tables go to (--database), or set "
                              "the extra connection attribute targetDbType=MULTIPLE_DATABASES")
        self.multiple = db_type == "MULTIPLE_DATABASES"
        super().__init__(endpoint, connect(endpoint))

    # -- the transaction and its errors ----------------------------------------------------------

    def begin(self) -> Any:
        self.conn.begin()
        return self.conn.cursor()

    def commit(self, cur: Any) -> None:
        self.conn.commit()

    def rollback(self, cur: Any) -> None:
        try:
            self.conn.rollback()
        except self.driver_errors:
            pass  # the connection is gone: the failure that brought us here is what the caller sees

    def classify(self, exc: BaseException) -> DmsError:
        return classify(exc, self.ep)

    # -- spelling --------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return quote_ident(name)

    def table_name(self, schema: TableSchema) -> str:
        if self.multiple:
            return f"{quote_ident(schema.table.schema)}.{quote_ident(schema.table.name)}"
        return quote_ident(schema.table.name)

    def on_duplicate(self, key: Sequence[str], columns: Sequence[str]) -> str:
        """MySQL's upsert: ON DUPLICATE KEY UPDATE (any unique key, as DMS's own MySQL target does)."""
        if not columns:
            first = self.quote(key[0])
            return f"ON DUPLICATE KEY UPDATE {first} = {first}"
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{self.quote(c)} = VALUES({self.quote(c)})" for c in columns)

    def render(self, cur: Any, sql: str, params: Sequence[Any]) -> str:
        parts = sql.split(self.param)
        return parts[0] + "".join(literal(v) + rest for v, rest in zip(params, parts[1:], strict=False))
