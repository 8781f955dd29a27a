"""Reading DMS requests and writing DMS responses: parameters, filters, Marker/MaxRecords pagination, and the
Endpoint, ReplicationInstance and ReplicationTask structures (botocore/data/dms/*/service-2.json)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connectors.base import Endpoint

from . import errors
from .arns import Context

_MISSING = object()


def required(req: Mapping[str, Any], name: str) -> Any:
    value = req.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise errors.missing(name)
    return value


def string(req: Mapping[str, Any], name: str, default: str | None = None, need: bool = False) -> str | None:
    value = required(req, name) if need else req.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise errors.invalid_value(f"{name} must be a string")
    return value


def integer(req: Mapping[str, Any], name: str) -> int | None:
    value = req.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.invalid_value(f"{name} must be an integer")
    return value


def choice(req: Mapping[str, Any], name: str, choices: Sequence[str], need: bool = False) -> str | None:
    value = string(req, name, need=need)
    if value is not None and value not in choices:
        raise errors.invalid_value(f"{name} {value!r} is not one of {', '.join(choices)}")
    return value


# --- filters and pagination ---------------------------------------------------------------------------

Getter = Callable[[Any], Iterable[str]]


def of(*names: str) -> Getter:
    """A filter's values in a document: its keys `names` (those it has)."""
    return lambda doc: [doc[n] for n in names if n in doc]


def filtered(req: Mapping[str, Any], items: Iterable[Any], filters: Mapping[str, Getter]) -> list[Any]:
    """The items matching every filter of the request: a filter matches when any of its values equals any of the
    item's values for it (DMS's semantics); names are the operation's documented filter names."""
    given = req.get("Filters") or []
    if not isinstance(given, list):
        raise errors.invalid_value("Filters must be a list of {Name, Values}")
    checks = []
    for f in given:
        if not isinstance(f, dict) or "Name" not in f or not isinstance(f.get("Values"), list):
            raise errors.invalid_value("each filter needs Name and Values (a list)")
        if f["Name"] not in filters:
            raise errors.invalid_value(f"filter {f['Name']!r} is not supported here: use one of "
                                       f"{', '.join(filters)}")
        checks.append((filters[f["Name"]], {str(v) for v in f["Values"]}, {str(v).lower() for v in f["Values"]}))
    return [item for item in items
            if all(any(v in wanted or v.lower() in lowered for v in get(item)) for get, wanted, lowered in checks)]


def page(req: Mapping[str, Any], items: Sequence[Any], key: str, largest: int = 100) -> dict[str, Any]:
    """`{key: one page of items}`, with `Marker` when more follow. MaxRecords 20 to `largest` (default 100), as
    DMS (whose DescribeTableStatistics takes up to 500)."""
    size = integer(req, "MaxRecords")
    if size is None:
        size = 100
    if not 20 <= size <= largest:
        raise errors.invalid_value(f"MaxRecords {size} is out of range: give 20 to {largest}")
    start = 0
    marker = string(req, "Marker")
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode().removeprefix("offset:"))
        except ValueError:
            raise errors.invalid_value("Marker is not one this API returned: pass the Marker of the previous "
                                       "page as it is") from None
    out: dict[str, Any] = {key: list(items[start:start + size])}
    if start + size < len(items):
        out["Marker"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return out


def listing(req: Mapping[str, Any], docs: Iterable[Any], filters: Mapping[str, Getter], key: str,
            what: str) -> dict[str, Any]:
    """A Describe's answer: the docs the filters keep, one page of them. DMS answers a filtered Describe that
    matches nothing with ResourceNotFoundFault (the waiters of deletion count on it); an unfiltered one that finds
    nothing is an empty list."""
    found = filtered(req, docs, filters)
    if not found and req.get("Filters"):
        raise errors.not_found(f"No {what} found matching provided filters")
    return page(req, found, key)


def add_once(add: Callable[[], None], what: str) -> None:
    """Add to the catalog; its refusal of a taken identifier is DMS's ResourceAlreadyExistsFault."""
    from connectors.errors import ConfigError

    try:
        add()
    except ConfigError as exc:
        if "already exists" in str(exc):
            raise errors.already_exists(f"{what} already exists") from None
        raise


# --- structures -----------------------------------------------------------------------------------------


def endpoint_doc(ctx: Context, ep: Endpoint, status: str = "active") -> dict[str, Any]:
    from scheduler.endpoint_settings import settings_doc

    doc: dict[str, Any] = {
        "EndpointIdentifier": ep.id, "EndpointType": ep.kind.upper(), "EngineName": ep.engine,
        "EngineDisplayName": ep.engine, "Username": ep.user, "ServerName": ep.host, "Port": ep.port,
        "DatabaseName": ep.database, "ExtraConnectionAttributes": ";".join(f"{k}={v}" for k, v in ep.extra.items()),
        "Status": status, "EndpointArn": ctx.arn("endpoint", ep.id), "SslMode": ep.ssl_mode,
        **settings_doc(ep),
    }
    return {k: v for k, v in doc.items() if v not in ("", None)}


def instance_doc(ctx: Context, row: Mapping[str, Any], status: str = "available") -> dict[str, Any]:
    return {
        "ReplicationInstanceIdentifier": row["id"], "ReplicationInstanceArn": ctx.arn("instance", row["id"]),
        "ReplicationInstanceClass": "opendms.workers", "ReplicationInstanceStatus": status,
        "AllocatedStorage": 0, "InstanceCreateTime": row["created_at"].timestamp(), "MultiAZ": False,
        "EngineVersion": "opendms", "AutoMinorVersionUpgrade": False, "PubliclyAccessible": False,
        "VpcSecurityGroups": [], "NetworkType": "IPV4",
    }


_TASK_KEYS = ("ReplicationTaskIdentifier", "MigrationType", "TableMappings", "ReplicationTaskSettings", "Status",
              "LastFailureMessage", "StopReason", "ReplicationTaskCreationDate", "ReplicationTaskStartDate",
              "CdcStartPosition", "CdcStopPosition", "RecoveryCheckpoint", "ReplicationTaskStats")


def task_doc(ctx: Context, described: Mapping[str, Any], with_settings: bool = True) -> dict[str, Any]:
    """DescribeReplicationTasks' ReplicationTask from the CLI's `describe` document (scheduler/status.py)."""
    doc = {k: described[k] for k in _TASK_KEYS if k in described}
    doc["ReplicationTaskArn"] = ctx.arn("task", described["ReplicationTaskIdentifier"])
    doc["SourceEndpointArn"] = ctx.arn("endpoint", described["SourceEndpointIdentifier"])
    doc["TargetEndpointArn"] = ctx.arn("endpoint", described["TargetEndpointIdentifier"])
    doc["ReplicationInstanceArn"] = ctx.arn("instance", described["ReplicationInstanceIdentifier"])
    if not with_settings:
        doc.pop("TableMappings", None)
        doc.pop("ReplicationTaskSettings", None)
    return doc
