"""Connections to PostgreSQL and the one place that turns psycopg2 errors into DmsErrors."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from connectors.base import Endpoint, KeyRange
from connectors.errors import ConfigError, DataError, DmsError, PositionLost, TransientError

_SSL = {"none": "disable", "require": "require", "verify-ca": "verify-ca", "verify-full": "verify-full"}
# Same text forms on every connection: rows read from one server compare equal to rows read
# from another, and COPY text written by one session parses the same in the next.
_SESSION = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3"


def connect(ep: Endpoint, *, replication: bool = False, autocommit: bool = False) -> Any:
    kwargs: dict[str, Any] = dict(
        host=ep.host, port=ep.port or 5432, dbname=ep.database, user=ep.user, password=ep.password,
        sslmode=_SSL.get(ep.ssl_mode, "prefer"), connect_timeout=int(ep.extra.get("connectTimeout", 5)),
        application_name="opendms", options=_SESSION,
        keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
    )
    if replication:
        kwargs["connection_factory"] = psycopg2.extras.LogicalReplicationConnection
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        raise classify(exc, ep, connecting=True) from None
    if autocommit and not replication:
        conn.autocommit = True
    return conn


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


def classify(exc: BaseException, ep: Endpoint | None = None, *, connecting: bool = False) -> DmsError:
    """Map a psycopg2 exception to the error tree by SQLSTATE class, then by message.

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
        code == "42704" and "replication slot" in message
    ):
        return PositionLost(f"{where}: {message}; the changes since the checkpoint are gone: reload the task")
    if code.startswith(("08", "40", "53", "57P")) or code in ("55006", "55P03"):
        return TransientError(f"{where}: {message}")
    if code.startswith("28") or code in ("3D000", "42501"):
        return ConfigError(f"{where}: {message}")
    if code.startswith(("22", "23", "42", "P0", "2B", "44")):
        return DataError(f"{where}: {message}")
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return TransientError(f"{where}: {message}")
    return TransientError(f"{where}: {message}")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def key_range_sql(key: Sequence[str], types: Sequence[str], within: KeyRange | None) -> tuple[str, list[Any]]:
    """A WHERE clause (with its parameters) selecting the rows of a key range; ("", []) for the whole table.

    Row comparisons over the key columns, so composite keys order as the primary key index does.
    """
    if within is None or within.whole:
        return "", []
    columns = "ROW(" + ", ".join(quote_ident(k) for k in key) + ")"
    values = "ROW(" + ", ".join(f"%s::{t}" for t in types) + ")"
    parts, params = [], []
    for op, bound in ((">", within.after), ("<=", within.upto)):
        if bound is not None:
            parts.append(f"{columns} {op} {values}")
            params.extend(bound)
    return " WHERE " + " AND ".join(parts), params


def task_object_name(task: str) -> str:
    """Slot and publication names: lower case, letters, digits and underscores only."""
    return "dms_" + re.sub(r"[^a-z0-9_]", "_", task.lower())[:58]
