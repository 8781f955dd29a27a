"""Endpoints, connections and replication instances: DMS's CreateEndpoint ... DeleteReplicationInstance, over the
catalog and the checks the CLI's `dms endpoint` and `dms instance` use."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

from connectors.base import Capability, Endpoint, Source
from connectors.errors import ConfigError
from connectors.model.spec import check_identifier
from connectors.registry import ENGINES, default_port, engine_source, settings_object, target_class
from scheduler.cli_common import SSL_MODES
from scheduler.endpoint_settings import parse_extra, with_settings

from . import errors, tags
from .arns import Context, ident
from .shapes import add_once, choice, endpoint_doc, filtered, instance_doc, integer, listing, of, page, required, string

# --- endpoints --------------------------------------------------------------------------------------------


def get_endpoint(ctx: Context, value: Any, param: str, decrypt: bool = False) -> Endpoint:
    endpoint_id = ident(value, "endpoint", param)
    try:
        return ctx.catalog.endpoint(endpoint_id, decrypt=decrypt)
    except ConfigError:
        raise errors.not_found(f"Endpoint {value} not found") from None


def _settings(req: dict[str, Any], engine: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The request's endpoint settings object (e.g. RedisSettings) -> (Endpoint fields, extra attributes). DMS's
    objects of other engines are refused when they say something, rather than silently ignored."""
    obj = settings_object(engine)
    fields: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for name, value in req.items():
        if not name.endswith("Settings") or value in (None, {}):
            continue
        if obj is None or name != obj.name:
            raise errors.invalid_combination(
                f"{name} is not taken for engine {engine}" + (f": use {obj.name}" if obj else
                                                              ": give ServerName, Port, DatabaseName, Username and "
                                                              "ExtraConnectionAttributes instead"))
        if not isinstance(value, dict):
            raise errors.invalid_value(f"{name} must be an object")
        fields, extra = obj.split(obj.parse(json.dumps(value)))
    return fields, extra


def _port(req: dict[str, Any]) -> int | None:
    port = integer(req, "Port")
    if port is not None and not 1 <= port <= 65535:
        raise errors.invalid_value(f"Port {port} is not a TCP port: give 1 to 65535")
    return port


def create_endpoint(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = string(req, "EndpointIdentifier", need=True)
    kind = string(req, "EndpointType", need=True).lower()
    engine = string(req, "EngineName", need=True)
    if kind not in ("source", "target"):
        raise errors.invalid_value(f"EndpointType {kind!r} is not source or target")
    if engine not in ENGINES:
        raise errors.invalid_value(f"EngineName {engine!r} is not supported: use one of {', '.join(ENGINES)}")
    check_identifier("endpoint", endpoint_id)
    port = _port(req)
    fields, extra = _settings(req, engine)
    ep = Endpoint(endpoint_id.lower(), kind, engine, string(req, "ServerName", "127.0.0.1"),
                  default_port(engine) if port is None else port, string(req, "DatabaseName", ""),
                  string(req, "Username", ""), string(req, "Password", ""),
                  choice(req, "SslMode", SSL_MODES) or "none",
                  parse_extra(string(req, "ExtraConnectionAttributes", "")))
    ep = with_settings(ep, fields, extra)
    tags.check(req.get("Tags") or [])  # before the resource is made
    add_once(lambda: ctx.catalog.add_endpoint(ep), f"Endpoint {endpoint_id}")
    if req.get("Tags"):
        tags.put(ctx, "endpoint", ep.id, req["Tags"])
    return {"Endpoint": endpoint_doc(ctx, ctx.catalog.endpoint(ep.id, decrypt=False))}


ENDPOINT_FILTERS = {"endpoint-arn": of("EndpointArn"), "endpoint-id": of("EndpointIdentifier"),
                    "endpoint-type": of("EndpointType"), "engine-name": of("EngineName")}


def describe_endpoints(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    docs = [endpoint_doc(ctx, ep) for ep in ctx.catalog.endpoints(decrypt=False)]
    return listing(req, docs, ENDPOINT_FILTERS, "Endpoints", "Endpoints")


def modify_endpoint(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.endpoints import check_idle

    ep = get_endpoint(ctx, required(req, "EndpointArn"), "EndpointArn", decrypt=True)
    for name, now in (("EndpointIdentifier", ep.id), ("EndpointType", ep.kind), ("EngineName", ep.engine)):
        given = string(req, name)
        if given is not None and given.lower() != now:
            raise errors.invalid_value(f"{name} of endpoint {ep.id} cannot change (it is {now}): create another "
                                       "endpoint instead")
    try:
        check_idle(ctx.catalog, ep.id)
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    port = _port(req)
    changes = {k: v for k, v in (("host", string(req, "ServerName")), ("port", port),
                                 ("database", string(req, "DatabaseName")), ("user", string(req, "Username")),
                                 ("password", string(req, "Password")), ("ssl_mode", choice(req, "SslMode", SSL_MODES)))
               if v is not None}
    if (text := string(req, "ExtraConnectionAttributes")) is not None:
        changes["extra"] = parse_extra(text)
    fields, extra = _settings(req, ep.engine)
    new = with_settings(replace(ep, **changes), fields, extra)
    if new != ep:
        ctx.catalog.update_endpoint(new)
    return {"Endpoint": endpoint_doc(ctx, ctx.catalog.endpoint(ep.id, decrypt=False))}


def delete_endpoint(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    ep = get_endpoint(ctx, required(req, "EndpointArn"), "EndpointArn")
    try:
        ctx.catalog.delete_endpoint(ep.id)
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    tags.forget(ctx, "endpoint", ep.id)
    return {"Endpoint": endpoint_doc(ctx, ep, status="deleting")}


# --- connections: the last TestConnection of each (instance, endpoint), kept by this process ---------------

_connections: dict[tuple[str, str], dict[str, Any]] = {}
_lock = threading.Lock()


def test_connection(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from scheduler.endpoints import probe_endpoint

    instance = get_instance(ctx, required(req, "ReplicationInstanceArn"), "ReplicationInstanceArn")
    ep = get_endpoint(ctx, required(req, "EndpointArn"), "EndpointArn", decrypt=True)
    # Tested before it answers (DMS answers "testing" and tests after): the waiter finds the outcome at once.
    try:
        tested = probe_endpoint(ctx.catalog, ep)
        problems = tested.problems
    except ConfigError as exc:
        problems = [str(exc)]
    doc = {"ReplicationInstanceArn": ctx.arn("instance", instance["id"]), "EndpointArn": ctx.arn("endpoint", ep.id),
           "Status": "failed" if problems else "successful", "EndpointIdentifier": ep.id,
           "ReplicationInstanceIdentifier": instance["id"]}
    if problems:
        doc["LastFailureMessage"] = "; ".join(problems)
    with _lock:
        _connections[(instance["id"], ep.id)] = doc
    return {"Connection": doc}


CONNECTION_FILTERS = {
    "endpoint-arn": of("EndpointArn", "EndpointIdentifier"),
    "replication-instance-arn": of("ReplicationInstanceArn", "ReplicationInstanceIdentifier"),
}


def describe_connections(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        docs = [d for _, d in sorted(_connections.items())]
    return page(req, filtered(req, docs, CONNECTION_FILTERS), "Connections")


# --- replication instances ------------------------------------------------------------------------------------


def get_instance(ctx: Context, value: Any, param: str) -> dict[str, Any]:
    instance_id = ident(value, "instance", param)
    try:
        return ctx.catalog.instance(instance_id)
    except ConfigError:
        raise errors.not_found(f"Replication instance {value} not found") from None


def create_replication_instance(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    instance_id = string(req, "ReplicationInstanceIdentifier", need=True)
    string(req, "ReplicationInstanceClass", need=True)  # DMS requires it; our instances are pools of workers
    check_identifier("replication instance", instance_id, 63)
    tags.check(req.get("Tags") or [])  # before the resource is made
    add_once(lambda: ctx.catalog.add_instance(instance_id), f"Replication instance {instance_id}")
    if req.get("Tags"):
        tags.put(ctx, "rep", instance_id.lower(), req["Tags"])
    return {"ReplicationInstance": instance_doc(ctx, ctx.catalog.instance(instance_id))}


INSTANCE_FILTERS = {"replication-instance-arn": of("ReplicationInstanceArn"),
                    "replication-instance-id": of("ReplicationInstanceIdentifier"),
                    "replication-instance-class": of("ReplicationInstanceClass"), "engine-version": of("EngineVersion")}


def describe_replication_instances(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    docs = [instance_doc(ctx, row) for row in ctx.catalog.instances()]
    return listing(req, docs, INSTANCE_FILTERS, "ReplicationInstances", "Replication Instances")


def delete_replication_instance(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    row = get_instance(ctx, required(req, "ReplicationInstanceArn"), "ReplicationInstanceArn")
    try:
        ctx.catalog.delete_instance(row["id"])
    except ConfigError as exc:
        raise errors.invalid_state(str(exc)) from None
    tags.forget(ctx, "rep", row["id"])
    return {"ReplicationInstance": instance_doc(ctx, row, status="deleting")}


# --- what is offered --------------------------------------------------------------------------------------------


def _endpoint_types() -> list[dict[str, Any]]:
    out = []
    for engine in ENGINES:
        source = engine_source(engine)
        if source is not Source:  # engine_source's stand-in for an engine that is no source
            out.append({"EngineName": engine, "SupportsCDC": Capability.CDC in source.capabilities,
                        "EndpointType": "source", "EngineDisplayName": engine})
        try:
            target_class(Endpoint("", "target", engine))
        except ConfigError:
            continue
        out.append({"EngineName": engine, "SupportsCDC": True, "EndpointType": "target",
                    "EngineDisplayName": engine})
    return out


TYPE_FILTERS = {"engine-name": of("EngineName"), "endpoint-type": of("EndpointType")}


def describe_endpoint_types(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    return page(req, filtered(req, _endpoint_types(), TYPE_FILTERS), "SupportedEndpointTypes")


def describe_engine_versions(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("opendms")
    except PackageNotFoundError:
        mine = "dev"
    return page(req, [{"Version": mine, "Lifecycle": "active", "ReleaseStatus": "prod", "AvailableUpgrades": []}],
                "EngineVersions")


OPERATIONS = {
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoints": describe_endpoints,
    "ModifyEndpoint": modify_endpoint,
    "DeleteEndpoint": delete_endpoint,
    "TestConnection": test_connection,
    "DescribeConnections": describe_connections,
    "CreateReplicationInstance": create_replication_instance,
    "DescribeReplicationInstances": describe_replication_instances,
    "DeleteReplicationInstance": delete_replication_instance,
    "DescribeEndpointTypes": describe_endpoint_types,
    "DescribeEngineVersions": describe_engine_versions,
}
