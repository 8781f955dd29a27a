"""psycopg2 errors -> the error tree: the one place that reads PostgreSQL's SQLSTATEs.

Only what waiting can fix is retried (TransientError): a lost connection (class 08), a rolled-back
transaction (40: serialization failure, deadlock), a server short of resources (53: too many
connections, out of memory, disk full), a server shutting down or starting up (57P01..57P03), a
cancelled statement (57014), a lock not granted in time (55P03) or an object in use (55006), a
system I/O error (58000, 58030). Anything else with a SQLSTATE is the same on every try and fails
the table at once (the task with TableErrorPolicy STOP_TASK), saying what it means and the fix:

- 23 integrity (a constraint of the target refuses the source's rows), 22 data exception (a value
  does not fit the target's column): DataError, row by row (DataErrorPolicy may skip such rows in CDC);
- 42 syntax or undefined object, 0A feature not supported, 55000 object not in prerequisite state,
  and the others: ObjectError, the table itself cannot take the rows;
- 42501 privilege, 28 authentication, 3D000 no such database: ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg2

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, ObjectError, PositionLost, TransientError

_TRANSIENT_CLASSES = ("08", "40", "53")
_TRANSIENT_CODES = frozenset({"55006", "55P03", "57014", "57P01", "57P02", "57P03", "57P05", "58000", "58030"})

# SQLSTATE (or its class) -> what it means for the migration and the way out; the longest prefix wins.
_FIXES = {
    "23503": "a foreign key of the target refuses the rows: load the tables it references in the same task "
             "(OpenDMS then sets the keys aside during the load), or drop the constraint",
    "23505": "a unique key of the target refuses the rows: the target held rows already (use "
             "TargetTablePrepMode TRUNCATE_BEFORE_LOAD) or its unique keys differ from the source's",
    "23": "a constraint of the target table refuses the source's rows: make it match the source's "
          "definition (or drop it), then reload the table",
    "22": "a value does not fit the target column: make the column's type match the source's "
          "(pg_dump --schema-only of the source), then reload the table",
    "42501": "grant the endpoint's user the privilege named (or connect as the table's owner), then reload "
             "the table",
    "42P01": "create the table on the target as on the source (pg_dump --schema-only), or use "
             "TargetTablePrepMode DROP_AND_CREATE",
    "42703": "the target table lacks a column of the source's: add it (pg_dump --schema-only of the source), "
             "or use TargetTablePrepMode DROP_AND_CREATE",
    "42": "the target table does not match the source's: create it as on the source "
          "(pg_dump --schema-only), or use TargetTablePrepMode DROP_AND_CREATE",
    "0A": "the target cannot do this with the table as it is defined: change the table or the task's "
          "settings as the message says",
}


def fix_for(code: str) -> str:
    """The way out of a SQLSTATE, or "" when there is nothing better to say than the message."""
    for length in (5, 2):
        if code[:length] in _FIXES:
            return _FIXES[code[:length]]
    return ""


_CONNECT_PATTERNS: list[tuple[str, Callable[[Endpoint, str], DmsError]]] = [
    (r"password authentication failed|no password supplied|authentication failed", lambda ep, m: ConfigError(
        f"authentication failed for user {ep.user!r} on {ep.where()}: check the endpoint's user and password")),
    (r'database "[^"]+" does not exist', lambda ep, m: ConfigError(
        f"database {ep.database!r} does not exist on {ep.where()}: create it or fix --database")),
    (r"no pg_hba.conf entry", lambda ep, m: ConfigError(
        f"{ep.where()} refuses this client (pg_hba.conf): allow the user {ep.user!r} from this host")),
    (r"Connection refused", lambda ep, m: TransientError(
        f"cannot connect to {ep.where()}: connection refused; is the server running and the port right?")),
    (r"could not translate host name|Name or service not known|nodename nor servname", lambda ep, m: ConfigError(
        f"cannot resolve host {ep.host!r} of {ep.where()}: fix --host")),
    (r"timeout expired|timed out|No route to host|Network is unreachable", lambda ep, m: TransientError(
        f"cannot reach {ep.where()}: no answer within the connect timeout; check host, port and firewall")),
    (r"SSL", lambda ep, m: ConfigError(f"SSL problem on {ep.where()}: {m}; check --ssl-mode")),
]

# Driver errors raised without a server's SQLSTATE that are about the data, not the connection.
_DRIVER_DATA = (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.ProgrammingError, psycopg2.NotSupportedError)


def classify(exc: BaseException, ep: Endpoint | None = None, *, connecting: bool = False) -> DmsError:
    """Map a psycopg2 exception to the error tree by SQLSTATE, then (without one) by message.

    Messages of a failed connection attempt (bad password, unknown host) are read only while
    connecting: the same words later, like an SSL error on a dropped session, are transient.
    """
    if isinstance(exc, DmsError):
        return exc
    message = " ".join(str(exc).split()) or type(exc).__name__
    where = ep.where() if ep else "PostgreSQL"
    code = getattr(exc, "pgcode", None) or ""
    if connecting and ep is not None and not code and isinstance(exc, psycopg2.OperationalError):
        for pattern, make in _CONNECT_PATTERNS:
            if re.search(pattern, message):
                return make(ep, message)
    if code == "58P01" or "requested WAL segment" in message or (
        code in ("42704", "55000") and "replication slot" in message  # gone, or invalidated (wal_status lost)
    ):
        return PositionLost(f"{where}: {message}; the changes since the checkpoint are gone: reload the task")
    if not code:
        if isinstance(exc, _DRIVER_DATA):
            return DataError(f"{where}: {message}")
        return TransientError(f"{where}: {message}")  # the connection broke: no server answered
    if code.startswith(_TRANSIENT_CLASSES) or code in _TRANSIENT_CODES:
        return TransientError(f"{where}: {message}")
    fix = fix_for(code)
    text = f"{where}: {message} (SQLSTATE {code}{'; ' + fix if fix else ''})"
    if code.startswith("28") or code in ("3D000", "42501"):
        return ConfigError(text)
    if code.startswith(("22", "23")):
        return DataError(text)
    return ObjectError(text)
