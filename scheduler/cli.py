"""`dms`: endpoints, replication instances, tasks and workers, noun-verb like the DMS API.

Exit codes: 0 ok, 1 runtime failure (or validation mismatch), 2 configuration error.
Every failure is one line on stderr saying what is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from connectors.base import Capability, Endpoint
from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.mappings import check_mappings_size, parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.spec import MIGRATION_TYPES, check_identifier
from connectors.model.states import Status
from connectors.model.target_rules import check_target_settings
from connectors.registry import ENGINES, default_port, open_endpoint, open_source, target_class

from .capture import check_spelling, describe_retained, leftovers, list_view, position_refusal
from .dryrun import print_plan
from .history import task_events
from .history import when as _when
from .lobs import create_notice
from .plan import START_TYPES

SSL_MODES = ("none", "require", "verify-ca", "verify-full")


class _Id(click.ParamType):
    """Identifiers are case-insensitive, as in DMS: stored and used lower-case everywhere."""

    name = "id"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        return str(value).lower()


ID = _Id()


class _Cli(click.Group):
    """Turns every expected failure into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DmsError as exc:
            _fail(str(exc), exc.exit_code)
        except _redis_errors() as exc:
            url = os.environ.get("DMS_REDIS_URL", "")
            if url:
                from kombu.utils.url import maybe_sanitize_url

                _fail(f"cannot reach Redis at {maybe_sanitize_url(url, mask='***')}: {exc}; is it running, and is "
                      "DMS_REDIS_URL right?", 1)
            from worker.embedded import home

            _fail(f"the embedded Redis stopped answering: {exc}; its log is {home() / 'redis.log'}", 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`dms task describe t1 | head`): end as quietly as `cat` would.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: still one line, the traceback only on request
            if os.environ.get("DMS_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (DMS_DEBUG=1 shows the traceback)", 1)


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _emit(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def _progress(message: str) -> Any:
    """A spinner on stderr while a long step runs, when stderr is a terminal (never in scripts)."""
    from rich.console import Console

    return Console(stderr=True).status(message) if sys.stderr.isatty() else contextlib.nullcontext()


def _state(long_running: bool = False):
    """Live state in Redis. A command that answers at once gives up on an unreachable Redis within
    seconds; one that runs on (a watch, an in-process task) rides out a Redis restart as workers do."""
    from worker.app import QUICK_RETRIES, redis_client
    from worker.state import StateStore

    return StateStore(redis_client() if long_running else redis_client(retries=QUICK_RETRIES))


def _quiet_logs() -> None:
    from worker import logs

    logs.setup(os.environ.get("DMS_LOG_LEVEL", "WARNING"))


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opendms")
def main() -> None:
    """OpenDMS: database migration with full load and change data capture."""
    _quiet_logs()


# --- endpoints ------------------------------------------------------------------------------------


@main.group()
def endpoint() -> None:
    """Source and target endpoints."""


def _parse_extra(text: str) -> dict[str, str]:
    extra = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ConfigError(f"extra connection attribute {part!r} is not key=value: write them as k1=v1;k2=v2")
        extra[key.strip()] = value.strip()
    return extra


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
def endpoint_create(endpoint_id: str, kind: str, engine: str, host: str, port: int | None, database: str,
                    user: str, password: str | None, password_env: str | None, ssl_mode: str, extra: str) -> None:
    """Define an endpoint (the password is stored encrypted in the catalog, never shown again)."""
    check_identifier("endpoint", endpoint_id)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port: give a number from 1 to 65535")
    if password is None and password_env:
        if password_env not in os.environ:
            raise ConfigError(f"--password-env {password_env}: that environment variable is not set")
        password = os.environ[password_env]
    if password is None:
        interactive = sys.stdin.isatty()
        password = click.prompt("Password", hide_input=True, default="", show_default=False) if interactive else ""
    ep = Endpoint(endpoint_id, kind, engine, host, default_port(engine) if port is None else port, database, user,
                  password, ssl_mode, _parse_extra(extra))
    catalog = Catalog()
    catalog.add_endpoint(ep)
    click.echo(f"endpoint {endpoint_id} created ({kind}, {engine} at {ep.address})")
    if plain := catalog.plain_text_passwords():
        click.echo(f"warning: the password of endpoint(s) {', '.join(plain)} is stored in plain text (by an older "
                   "OpenDMS): encrypt it with `dms secrets rotate`", err=True)


def _endpoint_doc(ep: Endpoint) -> dict[str, Any]:
    return {"EndpointIdentifier": ep.id, "EndpointType": ep.kind, "EngineName": ep.engine, "ServerName": ep.host,
            "Port": ep.port, "DatabaseName": ep.database, "Username": ep.user, "SslMode": ep.ssl_mode,
            "ExtraConnectionAttributes": ";".join(f"{k}={v}" for k, v in ep.extra.items())}


@endpoint.command("test")
@click.argument("endpoint_id", type=ID)
def endpoint_test(endpoint_id: str) -> None:
    """Connect to the endpoint and report OK or what failed."""
    ep = Catalog().endpoint(endpoint_id)
    conn = open_endpoint(ep)
    try:
        problems = conn.check(cdc=False) if ep.kind == "source" else conn.check()
        cdc_problems = conn.check(cdc=True) if ep.kind == "source" and not problems else []
        orphans = leftovers(Catalog(), conn) if ep.kind == "source" and not problems else []
    finally:
        conn.close()
    if problems:
        raise ConfigError("; ".join(problems))
    readiness = ""
    if ep.kind == "source":
        readiness = " (ready for CDC)" if not cdc_problems else f" (full load only: {'; '.join(cdc_problems)})"
    click.echo(f"OK: connected to {ep.where()}{f' as {ep.user}' if ep.user else ''}{readiness}")
    for line in orphans:
        click.echo(f"warning: {line}", err=True)


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True)
def endpoint_list(as_json: bool) -> None:
    eps = Catalog().endpoints(decrypt=False)
    if as_json:
        return _emit({"Endpoints": [_endpoint_doc(e) for e in eps]})
    for e in eps:
        click.echo(f"{e.id:24} {e.kind:7} {e.engine:10} {e.address}")


@endpoint.command("describe")
@click.argument("endpoint_id", type=ID)
def endpoint_describe(endpoint_id: str) -> None:
    _emit({"Endpoint": _endpoint_doc(Catalog().endpoint(endpoint_id, decrypt=False))})


@endpoint.command("delete")
@click.argument("endpoint_id", type=ID)
def endpoint_delete(endpoint_id: str) -> None:
    Catalog().delete_endpoint(endpoint_id)
    click.echo(f"endpoint {endpoint_id} deleted")


# --- replication instances ------------------------------------------------------------------------


@main.group()
def instance() -> None:
    """Replication instances: named pools of workers sharing queues."""


@instance.command("create")
@click.argument("instance_id", type=ID)
def instance_create(instance_id: str) -> None:
    check_identifier("replication instance", instance_id, 63)
    Catalog().add_instance(instance_id)
    click.echo(f"instance {instance_id} created; start workers with: dms worker --instance {instance_id}")


@instance.command("list")
@click.option("--json", "as_json", is_flag=True)
def instance_list(as_json: bool) -> None:
    items = Catalog().instances()
    state = _state() if items else None
    workers = {i["id"]: state.workers(i["id"]) for i in items}
    if as_json:
        return _emit({"ReplicationInstances": [{"ReplicationInstanceIdentifier": i["id"],
                                                "ReplicationInstanceStatus": "available",
                                                "Workers": workers[i["id"]]} for i in items]})
    for i in items:
        click.echo(f"{i['id']:24} {len(workers[i['id']])} worker(s)")


@instance.command("delete")
@click.argument("instance_id", type=ID)
def instance_delete(instance_id: str) -> None:
    Catalog().delete_instance(instance_id)
    click.echo(f"instance {instance_id} deleted")


# --- tasks ----------------------------------------------------------------------------------------


@main.group()
def task() -> None:
    """Replication tasks."""


def _read_file(path: str, what: str, fill: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if not text.strip():
        raise ConfigError(f"{what} file {path} is empty: give {fill}")
    return text


@task.command("create")
@click.argument("task_id", type=ID)
@click.option("--source", type=ID, required=True, help="source endpoint id")
@click.option("--target", type=ID, required=True, help="target endpoint id")
@click.option("--instance", type=ID, required=True, help="replication instance id")
@click.option("--migration-type", type=click.Choice(MIGRATION_TYPES), required=True)
@click.option("--table-mappings", "mappings", required=True, metavar="FILE", help="DMS table-mapping JSON")
@click.option("--settings", default=None, metavar="FILE", help="DMS task-settings JSON")
@click.option("--cdc-start-position", default="", help="cdc only: engine position to start from (default: now)")
@click.option("--dry-run", is_flag=True, help="check the rules against the source and print the planned tables")
def task_create(task_id: str, source: str, target: str, instance: str, migration_type: str, mappings: str,
                settings: str | None, cdc_start_position: str, dry_run: bool) -> None:
    """Define a task; nothing moves until `dms task start`."""
    check_identifier("task", task_id)
    catalog = Catalog()
    src, tgt = catalog.endpoint(source), catalog.endpoint(target)
    if src.kind != "source":
        raise ConfigError(f"endpoint {source} is a {src.kind} endpoint: --source needs a source endpoint")
    if tgt.kind != "target":
        raise ConfigError(f"endpoint {target} is a {tgt.kind} endpoint: --target needs a target endpoint")
    catalog.instance(instance)
    with contextlib.suppress(OSError):  # a file over DMS's cap is not even read (_read_file names other errors)
        check_mappings_size(Path(mappings).stat().st_size, f"table mappings file {mappings}")
    mappings_json = _read_file(mappings, "table mappings", 'a JSON object {"rules": [...]} with a selection rule')
    settings_json = _read_file(settings, "task settings", "a JSON object, {} for DMS's defaults") if settings else ""
    parsed = parse_task_settings(settings_json, f"task settings file {settings}")
    for line in (*parse_table_mappings(mappings_json, f"table mappings file {mappings}").warnings,
                 *parsed.warnings(), *create_notice(parsed)):
        click.echo(f"warning: {line}", err=True)
    if cdc_start_position and migration_type != "cdc":
        raise ConfigError("--cdc-start-position goes with --migration-type cdc only")
    refusals, notes = check_target_settings(parsed, target_class(tgt).kind, f"target {tgt.id} ({tgt.engine})")
    if refusals:
        raise ConfigError("; ".join(refusals))
    for line in notes:
        click.echo(f"warning: {line}", err=True)
    definition = TaskDef(task_id, source, target, instance, migration_type, mappings_json, settings_json,
                         cdc_start_position)
    if definition.validation_only and migration_type != "full-load":
        click.echo(f"warning: ValidationSettings.ValidationOnly with --migration-type {migration_type}: each table is "
                   "validated once and the task stops; changes are neither captured nor validated as they go on",
                   err=True)
    maps = _check_rules(definition, src, dry_run)
    if dry_run:
        return print_plan(maps, definition.settings, click.echo, tgt.engine)
    catalog.add_task(definition)
    click.echo(f"task {task_id} created ({migration_type}, {source} -> {target} on {instance}); "
               f"start it with: dms task start {task_id}")


def _check_rules(task: TaskDef, src: Endpoint, required: bool) -> dict:
    """The rules (and start position) against the source now, so a rule naming a missing column fails at create.

    A source that cannot be reached only postpones the check to `dms task start` (unless planning)."""
    from connectors.model.tablemap import build_maps

    check_spelling(src, task.cdc_start_position)  # garbage is refused whether the source answers or not
    try:
        source = open_source(src)
        try:
            schemas, caps = source.tables(task.mappings.selections), source.capabilities
            refusal = position_refusal(source, task)
        finally:
            source.close()
    except DmsError as exc:
        if required:
            raise
        click.echo(f"warning: rules{' and start position' if task.cdc_start_position else ''} not checked against "
                   f"source {src.id} ({exc}); `dms task start` checks them", err=True)
        return {}
    if refusal:
        raise ConfigError(refusal)
    return build_maps(task.mappings, task.settings, schemas, Capability.BEFORE_IMAGE in caps)


@task.command("start")
@click.argument("task_id", type=ID)
@click.option("--type", "start_type", type=click.Choice(START_TYPES), default=None,
              help="default: start-replication on the first run, resume-processing after")
def task_start(task_id: str, start_type: str | None) -> None:
    """Plan and enqueue the task's jobs on its instance's workers.

    Without DMS_REDIS_URL and with no worker serving the instance, the task runs in this process
    until it stops (Ctrl-C stops a CDC task at its checkpoint)."""
    from worker.app import embedded

    from .submit import start_task

    catalog, state = Catalog(), _state(long_running=True)
    instance_id = catalog.task(task_id).instance
    if embedded() and not state.workers(instance_id):
        from .foreground import run_here

        if run_here(catalog, state, task_id, start_type, click.echo) == Status.FAILED:
            sys.exit(1)
        return
    used = start_task(catalog, state, task_id, start_type)
    click.echo(f"task {task_id} started ({used})")
    if not state.workers(instance_id):
        click.echo(f"warning: no worker serves instance {instance_id} yet; the jobs wait in its queues until "
                   f"one starts: dms worker --instance {instance_id}", err=True)


@task.command("stop")
@click.argument("task_id", type=ID)
@click.option("--wait/--no-wait", default=True, show_default=True, help="wait until the jobs have stopped")
@click.option("--timeout", default=120.0, show_default=True)
def task_stop(task_id: str, wait: bool, timeout: float) -> None:
    from .status import state_lost
    from .submit import stop_task, wait_until_stopped

    definition = Catalog().task(task_id)
    state = _state()
    if state_lost(definition, state.task(task_id)):
        raise ConfigError(f"task {task_id} is failed, not running: {definition.vanished_message()}")
    stop_task(state, task_id)
    if wait:
        with _progress(f"stopping task {task_id}: waiting for its jobs to stop"):
            status = wait_until_stopped(state, task_id, timeout)
    else:
        status = state.status(task_id)
    click.echo(f"task {task_id} {status}")
    if wait and status == Status.STOPPING:
        _fail(f"task {task_id} is still stopping after {timeout:.0f}s: are its workers alive?", 1)


@task.command("describe")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_describe(task_id: str, as_json: bool) -> None:
    from .status import describe

    catalog = Catalog()
    doc = describe(catalog.task(task_id), _state())
    held_lines = describe_retained(catalog, doc)
    if as_json:
        return _emit({"ReplicationTasks": [doc]})
    stats = doc["ReplicationTaskStats"]
    lines = [
        f"task        {doc['ReplicationTaskIdentifier']}  ({doc['MigrationType']}, "
        f"{doc['SourceEndpointIdentifier']} -> {doc['TargetEndpointIdentifier']} on "
        f"{doc['ReplicationInstanceIdentifier']})",
        f"status      {doc['Status']}  phase {doc['Phase']}",
        f"tables      {stats['TablesLoaded']} loaded, {stats['TablesLoading']} loading, "
        f"{stats['TablesQueued']} queued, {stats['TablesErrored']} errored "
        f"({stats['FullLoadProgressPercent']}% of full load)",
    ]
    for label, key in (("created", "ReplicationTaskCreationDate"), ("started", "ReplicationTaskStartDate")):
        if key in doc:
            lines.append(f"{label:<11} {_when(doc[key])}")
    for label, key in (("first start", "FreshStartDate"), ("stopped", "StopDate"),
                       ("loaded", "FullLoadFinishDate")):
        if key in stats:
            lines.append(f"{label:<11} {_when(stats[key])}")
    for key in ("StopReason", "LastFailureMessage", "CdcStartPosition", "RecoveryCheckpoint"):
        if key in doc:
            lines.append(f"{key}: {doc[key]}")
    for key, value in doc.get("Metrics", {}).items():
        lines.append(f"{key}: {value:.3f} s")
    lines += held_lines + [f"warning: {line}" for line in doc["Warnings"]]
    click.echo("\n".join(lines))


@task.command("metrics")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_metrics(task_id: str, as_json: bool) -> None:
    """The task's figures under DMS's CloudWatch names (throughputs over the last few seconds)."""
    from worker.metrics import METRICS, WINDOW, task_metrics

    definition = Catalog().task(task_id)
    figures = task_metrics(_state(), task_id)
    if as_json:
        return _emit({"ReplicationTaskIdentifier": task_id, "ReplicationInstanceIdentifier": definition.instance,
                      "Timestamp": time.time(), "ThroughputWindowSeconds": WINDOW, "Metrics": figures})
    for m in METRICS:
        click.echo(f"{m.name:30} {figures[m.name]:>12,.3f} {m.unit}")


task.add_command(task_events)


@task.command("watch")
@click.argument("task_id", type=ID)
@click.option("--interval", default=0.5, show_default=True, help="seconds between redraws")
def task_watch(task_id: str, interval: float) -> None:
    """Live view of the task (tables, progress, throughput, latency) until it stops."""
    from .watch import watch

    try:
        status = watch(Catalog().task(task_id), _state(long_running=True), interval)
    except KeyboardInterrupt:  # leaving the view is not stopping the task
        click.echo(f"task {task_id} goes on; stop it with: dms task stop {task_id}", err=True)
        return
    if status == Status.FAILED:
        sys.exit(1)


@task.command("stats")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_stats(task_id: str, as_json: bool) -> None:
    from .lobs import lob_warnings
    from .status import table_statistics

    definition, state = Catalog().task(task_id), _state()
    doc = table_statistics(definition, state)
    if as_json:
        return _emit(doc)
    header = ("table", "state", "full-load rows", "inserts", "updates", "deletes")
    click.echo("{:32} {:16} {:>14} {:>9} {:>9} {:>9}  validation".format(*header))
    for t in doc["TableStatistics"]:
        name = f"{t['SchemaName']}.{t['TableName']}"
        click.echo(f"{name:32} {t['TableState']:16} {t['FullLoadRows']:>14} {t['Inserts']:>9} {t['Updates']:>9} "
                   f"{t['Deletes']:>9}  {t['ValidationState']}")
        if t.get("TableError"):
            click.echo(f"    error: {t['TableError']}")
        if t.get("ValidationStateDetails"):
            click.echo(f"    validation: {t['ValidationStateDetails']}")
        if t.get("LobTruncations"):
            click.echo(f"    LOB values cut: {t['LobTruncations']}")
    for line in lob_warnings(definition, state):
        click.echo(f"warning: {line}")


@task.command("validate")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_validate(task_id: str, as_json: bool) -> None:
    """Compare every selected table row by row; exit 1 if any differs."""
    from .validate import validate_task

    def show(r) -> None:
        if as_json:
            return
        verdict = "equal" if r.equal else f"{r.mismatches} mismatched"
        click.echo(f"{r.table:32} source {r.source_rows:>10}  target {r.target_rows:>10}  {verdict}")
        for label, keys in r.details():
            click.echo(f"    {label}: {', '.join(json.dumps(k, default=str) for k in keys)}")

    with _progress(f"validating task {task_id}: comparing every row"):
        results = validate_task(Catalog(), _state(), task_id, show)
    cut = sum(r.cut_count for r in results)
    if as_json:
        _emit({"ReplicationTaskIdentifier": task_id, "Tables": [r.to_json() for r in results],
               "Equal": all(r.equal for r in results), "CutBySettings": cut})
    elif all(r.equal for r in results):
        click.echo(f"source and target are identical ({len(results)} tables)")
    else:
        differ = sum(r.mismatches for r in results)
        because = f", {cut} of them only because LOB settings cut values" if cut else ""
        click.echo(f"source and target differ: {differ} records{because}")
    if not all(r.equal for r in results):
        sys.exit(1)


@task.command("list")
@click.option("--json", "as_json", is_flag=True)
def task_list(as_json: bool) -> None:
    from .status import shown_status

    catalog = Catalog()
    tasks = catalog.tasks()
    state = _state() if tasks else None
    docs, lines, notes = list_view(catalog, tasks, [shown_status(t, state.task(t.id)) for t in tasks])
    if as_json:
        return _emit({"ReplicationTasks": docs})
    for line in lines:
        click.echo(line)
    for note in notes:
        click.echo(f"warning: {note}", err=True)


@task.command("delete")
@click.argument("task_id", type=ID)
@click.option("--force", is_flag=True, help="delete even if an endpoint cannot be reached, leaving what it holds")
def task_delete(task_id: str, force: bool) -> None:
    """Delete a stopped task with its capture objects on the source and its checkpoints."""
    from .submit import delete_task

    for what in delete_task(Catalog(), _state(), task_id, force=force):
        click.echo(f"warning: left behind: {what}", err=True)
    click.echo(f"task {task_id} deleted")


@main.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("opendms-demo"),
              show_default=True, help="where the demo's source and target SQLite files go")
def demo(folder: Path) -> None:
    """Migrate a small SQLite shop database to another file, with changes during the load, and validate."""
    from rich.console import Console

    from .demo import run

    if not run(folder, Console()):
        sys.exit(1)


# Operations (workers, Flower, secrets) live in cli_ops.py: registered here, on the one group.
from .cli_ops import flower, secrets, worker  # noqa: E402

for _command in (worker, flower, secrets):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
