"""PyMySQL errors -> the error tree: the one place that reads MySQL's and MariaDB's error numbers.

Only what waiting can fix is retried (TransientError): a connection refused, lost or killed (2003 refused,
2006 gone away, 2013 lost, 1927 killed, 1053 shutting down), a deadlock or lock wait timeout (1213, 1205),
too many connections (1040), an interrupted query (1317). A failed login, an unknown database or host,
and a missing privilege are the user's to fix (ConfigError, exit 2). A value or a constraint refusing a
row is a DataError; a missing table or column, a syntax or definition problem an ObjectError. A purged
log position is PositionLost.
"""

from __future__ import annotations

import re

import pymysql

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, ObjectError, PositionLost, TransientError

TRANSIENT = frozenset({1040, 1053, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055})
PRIVILEGE = frozenset({1044, 1045, 1142, 1143, 1227, 1370, 1698, 1873})
# A row the target refuses: duplicate key, foreign key, NOT NULL, out of range, too long, bad value,
# CHECK constraint (MariaDB 4025, MySQL 3819), bad JSON (MySQL 3140).
DATA = frozenset({1048, 1062, 1169, 1216, 1217, 1264, 1265, 1292, 1366, 1406, 1411, 1451, 1452, 1557, 1586,
                  1690, 3140, 3819, 4025, 4078})
POSITION_LOST = frozenset({1236})

_FIXES = {
    1062: "a unique key of the target refuses the rows: the target held rows already (use TargetTablePrepMode "
          "TRUNCATE_BEFORE_LOAD) or its unique keys differ from the source's",
    1452: "a foreign key of the target refuses the rows: load the tables it references in the same task, or "
          "drop the constraint",
    1146: "create the table on the target as on the source, or use TargetTablePrepMode DROP_AND_CREATE",
    1054: "the target table lacks a column of the source's: add it, or use TargetTablePrepMode DROP_AND_CREATE",
    1406: "a value is longer than the target column allows: widen the column, then reload the table",
    1264: "a value is out of the target column's range: widen the column's type, then reload the table",
    1142: "grant the endpoint's user the privilege named, then try again",
    1227: "grant the endpoint's user the privilege named, then try again",
}


def error_number(exc: BaseException) -> int:
    """The server's (or the client library's) error number, 0 when the exception carries none."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def _message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    text = args[1] if len(args) > 1 and isinstance(args[1], str) else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _connect_error(code: int, message: str, ep: Endpoint) -> DmsError | None:
    """A failed login or connection attempt, said in one line with the fix; None when not one of those."""
    where = ep.where()
    if code in (1045, 1698):
        return ConfigError(f"authentication failed for user {ep.user!r} on {where}: check the endpoint's user "
                           "and password (and that the user may connect from this host)")
    if code == 1049:
        return ConfigError(f"database {ep.database!r} does not exist on {where}: create it or fix --database")
    if code == 1044:
        return ConfigError(f"user {ep.user!r} may not use database {ep.database!r} on {where}: GRANT it the "
                           "privileges on that database, or fix --database")
    if code == 1130:
        return ConfigError(f"{where} does not let user {ep.user!r} connect from this host: create the user for "
                           "this host ('user'@'%') or connect from an allowed one")
    if code == 2003 and re.search(r"Name or service not known|nodename nor servname|Temporary failure in name "
                                  r"resolution|No address associated|getaddrinfo", message):
        return ConfigError(f"cannot resolve host {ep.host!r} of {where}: fix --host")
    if code == 2003 and "refused" in message:
        return TransientError(f"cannot connect to {where}: connection refused; is the server running and the "
                              "port right?")
    if code == 2003 and re.search(r"timed out|No route to host|Network is unreachable", message):
        return TransientError(f"cannot reach {where}: no answer within the connect timeout; check host, port "
                              "and firewall")
    if code == 2003:
        return TransientError(f"cannot connect to {where}: {message}")
    if "SSL" in message or "TLS" in message:
        return ConfigError(f"SSL problem on {where}: {message}; check --ssl-mode")
    return None


def classify(exc: BaseException, ep: Endpoint | None = None, *, connecting: bool = False) -> DmsError:
    """Map a PyMySQL exception to the error tree by its error number, then (without one) by its class."""
    if isinstance(exc, DmsError):
        return exc
    code = error_number(exc)
    message = _message(exc)
    where = ep.where() if ep else "MySQL"
    if connecting and ep is not None:
        made = _connect_error(code, message, ep)
        if made is not None:
            return made
    if code in POSITION_LOST:
        return PositionLost(f"{where}: {message}; the changes since the checkpoint are gone: reload the task")
    if code in TRANSIENT or (not code and isinstance(exc, (pymysql.err.OperationalError,
                                                          pymysql.err.InterfaceError, OSError))):
        return TransientError(f"{where}: {message}")
    fix = _FIXES.get(code, "")
    text = f"{where}: {message} (error {code}{'; ' + fix if fix else ''})" if code else f"{where}: {message}"
    if code in PRIVILEGE or code in (1049, 1130):
        return ConfigError(text)
    if code in DATA or (not code and isinstance(exc, (pymysql.err.DataError, pymysql.err.IntegrityError))):
        return DataError(text)
    return ObjectError(text)
