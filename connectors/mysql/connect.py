"""Connections to MySQL, MariaDB and Aurora MySQL (PyMySQL), and the SQL spelling every module shares.

Every session is set up alike, so rows read from one server compare equal to rows read from another and a
statement means the same on each: time zone UTC (TIMESTAMP values read and written as UTC), utf8mb4 (emoji),
and a strict SQL mode, so a value that does not fit is refused instead of silently cut or zeroed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql
import pymysql.converters
import pymysql.cursors
from pymysql.constants import CLIENT

from connectors.base import Endpoint, KeyRange

from .classify import classify

# STRICT_ALL_TABLES: a value that does not fit fails (never cut to fit). NO_AUTO_VALUE_ON_ZERO: a 0 written
# to an AUTO_INCREMENT key stays 0, as it was on the source. NO_ENGINE_SUBSTITUTION: CREATE ... ENGINE=InnoDB
# is InnoDB or an error. Zero dates stay allowed (no NO_ZERO_DATE): a MySQL source may hold them.
SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
_INIT = f"SET time_zone = '+00:00', sql_mode = '{SQL_MODE}'"
MAX_IDENTIFIER = 64  # MySQL and MariaDB: table, column, index and database names


def _ssl(ep: Endpoint) -> dict[str, Any] | None:
    mode = ep.ssl_mode
    if mode in ("", "none"):
        return None
    ca = ep.extra.get("sslCa") or ep.extra.get("CertificateArn") or None
    if mode == "require":
        return {"verify_mode": False, "check_hostname": False}
    return {"ca": ca, "verify_mode": True, "check_hostname": mode == "verify-full"}


def connect(ep: Endpoint, *, autocommit: bool = False, database: str | None = None,
            cursor: type = pymysql.cursors.Cursor, target: bool = False,
            conv: dict | None = None) -> pymysql.connections.Connection:
    """An open connection to the endpoint (``database``: another than the endpoint's, "" for none). Driver
    errors come out classified: a wrong password, unknown host or database, a refused port as one line.

    ``target``: a session that writes replicated rows. An UPDATE counts the rows it found, not only those it
    changed (CLIENT_FOUND_ROWS: the apply checks row counts), and foreign keys are not checked, as
    PostgreSQL's replication role does: tables load in parallel and a batch applies table by table."""
    timeout = int(ep.extra.get("connectTimeout", 5))
    init = init_command(target)
    try:
        return pymysql.connect(
            host=ep.host or "127.0.0.1", port=ep.port or 3306, user=ep.user, password=ep.password,
            database=(ep.database if database is None else database) or None, charset="utf8mb4",
            autocommit=autocommit, connect_timeout=timeout, local_infile=True, init_command=init,
            ssl=_ssl(ep), cursorclass=cursor, program_name="opendms", conv=conv,
            client_flag=CLIENT.FOUND_ROWS if target else 0,
        )
    except pymysql.err.MySQLError as exc:
        raise classify(exc, ep, connecting=True) from None
    except OSError as exc:
        raise classify(pymysql.err.OperationalError(2003, str(exc)), ep, connecting=True) from None


def init_command(target: bool) -> str:
    """The session setup every connection runs first (``target``: see connect())."""
    return _INIT + (", foreign_key_checks = 0" if target else "")


def quote_ident(name: str) -> str:
    """A name in backquotes: any name, reserved words and names with spaces or backquotes included."""
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str, name: str) -> str:
    """``schema``.``name``: MySQL's schema is its database."""
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def literal(value: Any) -> str:
    """A value written as a SQL literal (for the statements kept in awsdms_apply_exceptions)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'" if value else "''"
    return pymysql.converters.escape_item(value, "utf8mb4")


def key_range_sql(key: Sequence[str], within: KeyRange | None) -> tuple[str, list[Any]]:
    """A WHERE clause (with its parameters) selecting the rows of a key range; ("", []) for the whole table.

    Row comparisons over the key columns, so composite keys order as the primary key does."""
    if within is None or within.whole:
        return "", []
    columns = "(" + ", ".join(quote_ident(k) for k in key) + ")"
    values = "(" + ", ".join(["%s"] * len(key)) + ")"
    parts, params = [], []
    for op, bound in ((">", within.after), ("<=", within.upto)):
        if bound is not None:
            parts.append(f"{columns} {op} {values}")
            params.extend(bound)
    return " WHERE " + " AND ".join(parts), params


def server_flavour(conn: Any) -> tuple[str, tuple[int, ...]]:
    """("mariadb", (10, 11, 19)) or ("mysql", (8, 0, 36)): MariaDB says so in its version string."""
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    numbers = tuple(int(p) for p in version.split("-")[0].split(".") if p.isdigit())
    return ("mariadb" if "mariadb" in version.lower() else "mysql"), numbers
