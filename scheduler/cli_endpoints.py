"""`dms endpoint ...` and `dms instance ...`: where data comes from and goes, and who moves it."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog
from connectors.model.spec import check_identifier
from connectors.registry import ENGINES, default_port

from .cli_common import ID, SSL_MODES, emit, live_state
from .endpoint_settings import parse_extra, settings_doc, settings_fields, settings_options, with_settings
from .endpoints import check_idle, test_report

# --- endpoints ------------------------------------------------------------------------------------


@click.group()
def endpoint() -> None:
    """Source and target endpoints."""


@endpoint.command("create")
@click.argument("endpoint_id", type=ID)
@click.option("--type", "kind", type=click.Choice(["source", "target"]), required=True)
@click.option("--engine", type=click.Choice(ENGINES), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: the engine's usual port")
@click.option("--database", default="")
@click.option("--user", default="")
@click.option("--password", default=None, help="prefer --password-env or the prompt: flags show in `ps`")
@click.option("--password-env", default=None, metavar="VAR", help="read the password from this variable")
@click.option("--ssl-mode", type=click.Choice(SSL_MODES), default="none", show_default=True)
@click.option("--extra", default="", help="extra connection attributes: k1=v1;k2=v2")
@settings_options
def endpoint_create(endpoint_id: str, kind: str, engine: str, host: str, port: int | None, database: str, user: str,
                    password: str | None, password_env: str | None, ssl_mode: str, extra: str, **settings: str) -> None:
    """Define an endpoint (the password is stored encrypted in the catalog, never shown again)."""
    check_identifier("endpoint", endpoint_id)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port: give a number from 1 to 65535")
    fields, settings_extra = settings_fields(engine, settings)  # a secret among them is the password
    password = fields.get("password", password)
    if password is None and password_env:
        if password_env not in os.environ:
            raise ConfigError(f"--password-env {password_env}: that environment variable is not set")
        password = os.environ[password_env]
    if password is None:
        interactive = sys.stdin.isatty()
        password = click.prompt("Password", hide_input=True, default="", show_default=False) if interactive else ""
    ep = Endpoint(endpoint_id, kind, engine, host, default_port(engine) if port is None else port, database, user,
                  password, ssl_mode, parse_extra(extra))
    ep = with_settings(ep, fields, settings_extra)
    catalog = Catalog()
    catalog.add_endpoint(ep)
    click.echo(f"endpoint {endpoint_id} created ({kind}, {engine} at {ep.address})")
    if plain := catalog.plain_text_passwords():
        click.echo(f"warning: the password of endpoint(s) {', '.join(plain)} is stored in plain text (by an older "
                   "OpenDMS): encrypt it with `dms secrets rotate`", err=True)


@endpoint.command("modify")
@click.argument("endpoint_id", type=ID)
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--database", default=None)
@click.option("--user", default=None)
@click.option("--password", default=None, help="prefer --password-env or --password-prompt: flags show in `ps`")
@click.option("--password-env", default=None, metavar="VAR", help="read the password from this variable")
@click.option("--password-prompt", is_flag=True, help="ask for the password")
@click.option("--ssl-mode", type=click.Choice(SSL_MODES), default=None)
@click.option("--extra", default=None, help="extra connection attributes, replacing the endpoint's: k1=v1;k2=v2")
@settings_options
def endpoint_modify(endpoint_id: str, host: str | None, port: int | None, database: str | None, user: str | None,
                    password: str | None, password_env: str | None, password_prompt: bool, ssl_mode: str | None,
                    extra: str | None, **settings: str) -> None:
    """Change an endpoint's connection (DMS's ModifyEndpoint); what is not given stays. Tasks that use it take
    the change at their next start, so none may be running."""
    from dataclasses import replace

    catalog = Catalog()
    ep = catalog.endpoint(endpoint_id)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port: give a number from 1 to 65535")
    check_idle(catalog, endpoint_id)
    fields, settings_extra = settings_fields(ep.engine, settings)
    if password is None and password_env:
        if password_env not in os.environ:
            raise ConfigError(f"--password-env {password_env}: that environment variable is not set")
        password = os.environ[password_env]
    if password is None and password_prompt:
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
    changes = {k: v for k, v in (("host", host), ("port", port), ("database", database), ("user", user),
                                 ("password", password), ("ssl_mode", ssl_mode)) if v is not None}
    if extra is not None:
        changes["extra"] = parse_extra(extra)
    new = with_settings(replace(ep, **changes), fields, settings_extra)
    if new == ep:
        raise ConfigError(f"nothing to change on endpoint {endpoint_id}: give the options to change "
                          f"(`dms endpoint modify --help`)")
    catalog.update_endpoint(new)
    click.echo(f"endpoint {endpoint_id} modified ({new.kind}, {new.engine} at {new.address}); check it with: "
               f"dms endpoint test {endpoint_id}")


def _endpoint_doc(ep: Endpoint) -> dict[str, Any]:
    return {"EndpointIdentifier": ep.id, "EndpointType": ep.kind, "EngineName": ep.engine, "ServerName": ep.host,
            "Port": ep.port, "DatabaseName": ep.database, "Username": ep.user, "SslMode": ep.ssl_mode,
            "ExtraConnectionAttributes": ";".join(f"{k}={v}" for k, v in ep.extra.items()), **settings_doc(ep)}


@endpoint.command("test")
@click.argument("endpoint_id", type=ID)
def endpoint_test(endpoint_id: str) -> None:
    """Connect to the endpoint and report OK or what failed."""
    catalog = Catalog()
    message, warnings = test_report(catalog, catalog.endpoint(endpoint_id))
    click.echo(message)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)


@endpoint.command("discover")
@click.argument("endpoint_id", type=ID)
@click.option("--schema", default="%", show_default=True, help="schema name pattern (% and _ as in DMS rules)")
@click.option("--table", default="%", show_default=True, help="table name pattern")
@click.option("--json", "as_json", is_flag=True)
def endpoint_discover(endpoint_id: str, schema: str, table: str, as_json: bool) -> None:
    """List what the endpoint's database holds: schemas, tables, row estimates, sizes, keys, engine version."""
    from .discover import discover, lines

    doc = discover(Catalog().endpoint(endpoint_id), schema, table)
    if as_json:
        return emit(doc)
    for line in lines(doc):
        click.echo(line)


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True)
def endpoint_list(as_json: bool) -> None:
    """List the endpoints: id, type, engine and address (--json: DMS's DescribeEndpoints shape)."""
    eps = Catalog().endpoints(decrypt=False)
    if as_json:
        return emit({"Endpoints": [_endpoint_doc(e) for e in eps]})
    for e in eps:
        click.echo(f"{e.id:24} {e.kind:7} {e.engine:10} {e.address}")


@endpoint.command("describe")
@click.argument("endpoint_id", type=ID)
def endpoint_describe(endpoint_id: str) -> None:
    """Show one endpoint's settings as JSON; the password is never shown."""
    emit({"Endpoint": _endpoint_doc(Catalog().endpoint(endpoint_id, decrypt=False))})


@endpoint.command("delete")
@click.argument("endpoint_id", type=ID)
def endpoint_delete(endpoint_id: str) -> None:
    """Delete an endpoint that no task uses."""
    Catalog().delete_endpoint(endpoint_id)
    click.echo(f"endpoint {endpoint_id} deleted")


# --- replication instances ------------------------------------------------------------------------


@click.group()
def instance() -> None:
    """Replication instances: named pools of workers sharing queues."""


@instance.command("create")
@click.argument("instance_id", type=ID)
def instance_create(instance_id: str) -> None:
    """Define a replication instance; workers started with --instance ID serve it."""
    check_identifier("replication instance", instance_id, 63)
    Catalog().add_instance(instance_id)
    click.echo(f"instance {instance_id} created; start workers with: dms worker --instance {instance_id}")


@instance.command("list")
@click.option("--json", "as_json", is_flag=True)
def instance_list(as_json: bool) -> None:
    """List the replication instances and the workers alive on each."""
    items = Catalog().instances()
    state = live_state() if items else None
    workers = {i["id"]: state.workers(i["id"]) for i in items}
    if as_json:
        return emit({"ReplicationInstances": [{"ReplicationInstanceIdentifier": i["id"],
                                                "ReplicationInstanceStatus": "available",
                                                "Workers": workers[i["id"]]} for i in items]})
    for i in items:
        click.echo(f"{i['id']:24} {len(workers[i['id']])} worker(s)")


@instance.command("delete")
@click.argument("instance_id", type=ID)
def instance_delete(instance_id: str) -> None:
    """Delete a replication instance that no task uses."""
    Catalog().delete_instance(instance_id)
    click.echo(f"instance {instance_id} deleted")
