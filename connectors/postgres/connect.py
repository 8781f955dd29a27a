"""Connections to PostgreSQL, and the SQL spelling helpers every module of the engine shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from connectors.base import Endpoint, KeyRange

from .classify import classify

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
