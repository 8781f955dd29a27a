"""The full load's connections: mysqlclient (MySQLdb, the C client) when it is installed, else PyMySQL.

Parsing rows in pure Python took about half of a MariaDB -> PostgreSQL load's time; mysqlclient parses them
in C. It is optional (``pip install opendms[mysqlclient]``, which needs the client library's headers first:
deploy/install-test-deps.sh installs them), so OpenDMS still installs with nothing but Python.

Both drivers give the same Python values, so values.py converts a row alike whichever read it: integers as
``int``, DECIMAL as ``Decimal``, FLOAT/DOUBLE as ``float``, temporal values and JSON as the server's text,
text as ``str`` and columns of the binary character set (BINARY, BLOB, BIT, GEOMETRY) as ``bytes``.
Endpoints with TLS keep PyMySQL, whose TLS settings (connect.py) are the ones tested.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE, FLAG  # the protocol's numbers, which both drivers share

from connectors.base import Endpoint

from .classify import classify
from .connect import connect, init_command
from .values import LOAD_CONVERSIONS

try:
    import MySQLdb
    import MySQLdb.converters
    import MySQLdb.cursors
except ImportError:  # the optional driver is not installed: PyMySQL reads
    MySQLdb = None


def _conversions() -> dict:
    """MySQLdb's conversions, each field type decoded as PyMySQL's LOAD_CONVERSIONS decode it."""
    # Parameters are still encoded by MySQLdb's own encoders (its non-integer keys).
    conv: dict = {k: v for k, v in MySQLdb.converters.conversions.items() if not isinstance(k, int)}
    text_or_bytes = [(FLAG.BINARY, bytes), (None, str)]  # BINARY_FLAG: the binary character set
    for t in (FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG, FIELD_TYPE.INT24,
              FIELD_TYPE.YEAR):
        conv[t] = int  # int, str and bytes are decoded in C without a call
    for t in (FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE):
        conv[t] = float
    for t in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        conv[t] = Decimal
    for t in (FIELD_TYPE.DATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIME, FIELD_TYPE.NEWDATE,
              FIELD_TYPE.JSON, FIELD_TYPE.ENUM, FIELD_TYPE.SET, FIELD_TYPE.NULL):
        conv[t] = str
    for t in (FIELD_TYPE.STRING, FIELD_TYPE.VAR_STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.TINY_BLOB,
              FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.BLOB, FIELD_TYPE.GEOMETRY):
        conv[t] = text_or_bytes
    conv[FIELD_TYPE.BIT] = bytes
    return conv


DRIVER_ERRORS: tuple[type[BaseException], ...] = (pymysql.Error,) + ((MySQLdb.Error,) if MySQLdb else ())
OPERATIONAL_ERRORS: tuple[type[BaseException], ...] = (
    (pymysql.err.OperationalError,) + ((MySQLdb.OperationalError,) if MySQLdb else ()))


def driver_error(exc: BaseException) -> BaseException:
    """A MySQLdb error as PyMySQL's error of the same class and (code, message), which classify() reads."""
    if MySQLdb is None or not isinstance(exc, MySQLdb.Error):
        return exc
    return getattr(pymysql.err, type(exc).__name__, pymysql.err.Error)(*exc.args)


def fast(ep: Endpoint) -> bool:
    """True when the full load reads through mysqlclient."""
    return MySQLdb is not None and ep.ssl_mode in ("", "none")


def reading_connection(ep: Endpoint) -> Any:
    """A connection (not in autocommit) whose cursors stream rows unbuffered, values decoded for values.py."""
    if not fast(ep):
        conn = connect(ep, cursor=pymysql.cursors.SSCursor)
        conn.decoders = LOAD_CONVERSIONS  # temporal values as the server's text (values.py)
        return conn
    try:
        return MySQLdb.connect(
            host=ep.host or "127.0.0.1", port=ep.port or 3306, user=ep.user, password=ep.password,
            database=ep.database or "", charset="utf8mb4", autocommit=False,
            connect_timeout=int(ep.extra.get("connectTimeout", 5)), init_command=init_command(target=False),
            cursorclass=MySQLdb.cursors.SSCursor, conv=_conversions())
    except MySQLdb.Error as exc:
        raise classify(driver_error(exc), ep, connecting=True) from None
