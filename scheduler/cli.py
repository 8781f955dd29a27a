"""`dms`: endpoints, replication instances, tasks and workers, noun-verb like the DMS API.

Exit codes: 0 ok, 1 runtime failure (or validation mismatch), 2 configuration error.
Every failure is one line on stderr saying what is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from connectors.base import Endpoint
from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.mappings import check_mappings_size
from connectors.model.spec import MIGRATION_TYPES, check_identifier
from connectors.model.states import Status

from .capture import describe_retained, list_view
from .cli_common import ID, emit, fail, live_state, progress, quiet_logs, redis_errors
from .dryrun import print_plan
from .history import task_events
from .history import when as _when
from .homes import check_not_running_elsewhere, elsewhere, state_for, state_or_fail, unreachable
from .plan import START_TYPES
from .taskdefs import check_definition, check_rules, modify_task


class _Cli(click.Group):
    """Turns every expected failure into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        # What the imports made lives until the process ends: frozen, the collector never walks it, neither
        # during the command nor in the collection at exit (0.2 s of `dms task --help`'s 0.8 s).
        gc.freeze()
        try:
            return super().invoke(ctx)
        except DmsError as exc:
            fail(str(exc), exc.exit_code)
        except redis_errors() as exc:
            url = os.environ.get("DMS_REDIS_URL", "")
            if url:
                from kombu.utils.url import maybe_sanitize_url

                fail(f"cannot reach Redis at {maybe_sanitize_url(url, mask='***')}: {exc}; is it running, and is "
                      "DMS_REDIS_URL right?", 1)
            from worker.embedded import home

            fail(f"the embedded Redis stopped answering: {exc}; its log is {home() / 'redis.log'}", 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`dms task describe t1 | head`): end as quietly as `cat` would.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: still one line, the traceback only on request
            if os.environ.get("DMS_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (DMS_DEBUG=1 shows the traceback)", 1)
        finally:
            gc.freeze()  # and what the command imported or made since


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opendms")
def main() -> None:
    """OpenDMS: database migration with full load and change data capture."""
    quiet_logs()


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
    mappings_json = _mappings_file(mappings)
    settings_json = _read_file(settings, "task settings", "a JSON object, {} for DMS's defaults") if settings else ""
    definition = _checked(catalog, TaskDef(task_id, source, target, instance, migration_type, mappings_json,
                                           settings_json, cdc_start_position), mappings, settings)
    src, tgt = catalog.endpoint(source), catalog.endpoint(target)
    maps = _check_rules(definition, src, dry_run)
    if dry_run:
        return print_plan(maps, definition.settings, click.echo, tgt.engine)
    catalog.add_task(definition)
    click.echo(f"task {task_id} created ({migration_type}, {source} -> {target} on {instance}); "
               f"start it with: dms task start {task_id}")


def _mappings_file(path: str) -> str:
    with contextlib.suppress(OSError):  # a file over DMS's cap is not even read (_read_file names other errors)
        check_mappings_size(Path(path).stat().st_size, f"table mappings file {path}")
    return _read_file(path, "table mappings", 'a JSON object {"rules": [...]} with a selection rule')


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


def _checked(catalog: Catalog, definition: TaskDef, mappings: str | None, settings: str | None) -> TaskDef:
    return check_definition(catalog, definition, f"table mappings file {mappings}" if mappings else None,
                            f"task settings file {settings}" if settings else None, _warn)


@task.command("modify")
@click.argument("task_id", type=ID)
@click.option("--migration-type", type=click.Choice(MIGRATION_TYPES), default=None)
@click.option("--table-mappings", "mappings", default=None, metavar="FILE", help="DMS table-mapping JSON")
@click.option("--settings", default=None, metavar="FILE", help="DMS task-settings JSON (replaces the task's)")
@click.option("--cdc-start-position", default=None, help="cdc only: engine position to start from")
@click.option("--instance", type=ID, default=None, help="move the task to another replication instance")
def task_modify(task_id: str, migration_type: str | None, mappings: str | None, settings: str | None,
                cdc_start_position: str | None, instance: str | None) -> None:
    """Change a stopped task (DMS's ModifyReplicationTask; its endpoints stay). New settings take effect at
    the next start; new table mappings or migration type need `--type reload-target` once the task has run."""
    from .homes import check_not_running_elsewhere

    catalog = Catalog()
    old = catalog.task(task_id)
    check_not_running_elsewhere(old)
    status = (state_for(old, live_state()) or live_state()).status(task_id)
    changed = modify_task(
        catalog, task_id, status, _warn, migration_type=migration_type,
        mappings_json=_mappings_file(mappings) if mappings else None,
        mappings_where=f"table mappings file {mappings}" if mappings else None,
        settings_json=_read_file(settings, "task settings", "a JSON object, {} for DMS's defaults")
        if settings else None,
        settings_where=f"task settings file {settings}" if settings else None,
        cdc_start_position=cdc_start_position, instance=instance)
    if changed:
        click.echo(f"task {task_id} modified; its {' and '.join(changed)} changed since it ran: start it with "
                   f"`dms task start {task_id} --type reload-target`")
    else:
        click.echo(f"task {task_id} modified")


def _check_rules(task: TaskDef, src: Endpoint, required: bool) -> dict:
    return check_rules(task, src, required, _warn)


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

    catalog, state = Catalog(), live_state(long_running=True)
    check_not_running_elsewhere(catalog.task(task_id))
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
    """Stop a running task; it resumes from its checkpoint with `dms task start`."""
    from .submit import request_stop, wait_until_stopped

    definition = Catalog().task(task_id)
    state = state_or_fail(definition, live_state())
    request_stop(definition, state)
    if wait:
        with progress(f"stopping task {task_id}: waiting for its jobs to stop"):
            status = wait_until_stopped(state, task_id, timeout)
    else:
        status = state.status(task_id)
    click.echo(f"task {task_id} {status}")
    if wait and status == Status.STOPPING:
        fail(f"task {task_id} is still stopping after {timeout:.0f}s: are its workers alive?", 1)


@task.command("describe")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_describe(task_id: str, as_json: bool) -> None:
    """Show a task's definition, status, phase, progress and last failure (--json: DMS's shape)."""
    from .status import describe

    catalog = Catalog()
    definition = catalog.task(task_id)
    doc = describe(definition, state_or_fail(definition, live_state()))
    held_lines = describe_retained(catalog, doc)
    if as_json:
        return emit({"ReplicationTasks": [doc]})
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
    figures = task_metrics(live_state(), task_id)
    if as_json:
        return emit({"ReplicationTaskIdentifier": task_id, "ReplicationInstanceIdentifier": definition.instance,
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
        status = watch(Catalog().task(task_id), live_state(long_running=True), interval)
    except KeyboardInterrupt:  # leaving the view is not stopping the task
        click.echo(f"task {task_id} goes on; stop it with: dms task stop {task_id}", err=True)
        return
    if status == Status.FAILED:
        sys.exit(1)


@task.command("stats")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_stats(task_id: str, as_json: bool) -> None:
    """Per-table statistics: rows loaded, inserts, updates, deletes, DDLs, state, validation."""
    from .lobs import lob_warnings
    from .status import table_statistics

    definition = Catalog().task(task_id)
    state = state_or_fail(definition, live_state())
    doc = table_statistics(definition, state)
    if as_json:
        return emit(doc)
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

    with progress(f"validating task {task_id}: comparing every row"):
        results = validate_task(Catalog(), live_state(), task_id, show)
    cut = sum(r.cut_count for r in results)
    if as_json:
        emit({"ReplicationTaskIdentifier": task_id, "Tables": [r.to_json() for r in results],
               "Equal": all(r.equal for r in results), "CutBySettings": cut})
    elif all(r.equal for r in results):
        click.echo(f"source and target are identical ({len(results)} tables)")
    else:
        differ = sum(r.mismatches for r in results)
        because = f", {cut} of them only because LOB settings cut values" if cut else ""
        click.echo(f"source and target differ: {differ} records{because}")
    if not all(r.equal for r in results):
        sys.exit(1)


@task.command("reload-tables")
@click.argument("task_id", type=ID)
@click.option("--table", "tables", multiple=True, metavar="SCHEMA.NAME", help="a table to reload (up to 10)")
@click.option("--validate-only", is_flag=True, help="validate the tables again instead of reloading them")
def task_reload_tables(task_id: str, tables: tuple[str, ...], validate_only: bool) -> None:
    """Reload tables of a running task (DMS's ReloadTables) while the others keep replicating; the target
    table is prepared as TargetTablePrepMode says first (with DO_NOTHING, empty it yourself)."""
    from .reload import reload_tables

    catalog = Catalog()
    definition = catalog.task(task_id)
    for line in reload_tables(catalog, state_or_fail(definition, live_state()), task_id, list(tables), validate_only):
        click.echo(line)


@task.command("cutover")
@click.argument("task_id", type=ID)
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for the task to catch up")
@click.option("--attach-sequences", is_flag=True,
              help="on tables DMS created, make each carried-over sequence its column's default")
@click.option("--schema-objects", "objects", is_flag=True,
              help="same engine: also create the source's foreign keys, indexes, defaults and views on the target")
def task_cutover(task_id: str, timeout: float, attach_sequences: bool, objects: bool) -> None:
    """Move the application to the target: wait until nothing is pending, stop the task at a known position,
    carry the sequences over, and print what is left to do. Stop the application's writes first."""
    from .cutover import cutover

    catalog = Catalog()
    definition = catalog.task(task_id)
    state = state_or_fail(definition, live_state())
    for line in cutover(catalog, state, task_id, timeout=timeout, attach=attach_sequences, objects=objects,
                        say=click.echo):
        click.echo(line)


@task.command("assess")
@click.argument("task_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
def task_assess(task_id: str, as_json: bool) -> None:
    """Premigration assessment against the real endpoints: rights, CDC readiness, tables without keys,
    lossy types, LOB sizes against the LOB settings; exit 1 if a check fails."""
    from .assess import assess, overall

    with progress(f"assessing task {task_id}: reading the source and the target"):
        checks = assess(Catalog(), Catalog().task(task_id))
    verdict = overall(checks)
    if as_json:
        emit({"ReplicationTaskIdentifier": task_id, "PremigrationAssessmentStatus": verdict,
              "Results": [c.to_json() for c in checks]})
    else:
        for c in checks:
            click.echo(f"{c.status.upper():8} {c.name}")
            for detail in c.details if c.status != "passed" or len(c.details) < 20 else c.details[:3]:
                click.echo(f"         {detail}")
        click.echo(f"assessment {verdict}")
    if verdict == "failed":
        sys.exit(1)


@task.command("list")
@click.option("--json", "as_json", is_flag=True)
def task_list(as_json: bool) -> None:
    """List the tasks with their status, type and endpoints."""
    from .status import shown_status

    catalog = Catalog()
    tasks = catalog.tasks()
    here = live_state() if tasks else None
    statuses, away = [], []
    for t in tasks:  # each where it ran: a task of the embedded mode is read there, not shown as new here
        store = state_for(t, here)
        statuses.append(shown_status(t, store.task(t.id)) if store else "elsewhere")
        if store is None:
            away.append(str(unreachable(t, elsewhere(t) or "")))
    docs, lines, notes = list_view(catalog, tasks, statuses)
    notes += away
    if as_json:
        return emit({"ReplicationTasks": docs})
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

    for what in delete_task(Catalog(), live_state(), task_id, force=force):
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


# Endpoints and instances live in cli_endpoints.py, operations (workers, Flower, secrets) in cli_ops.py:
# registered here, on the one group.
from .api.cli import api  # noqa: E402
from .cli_endpoints import endpoint, instance  # noqa: E402
from .cli_ops import flower, secrets, worker  # noqa: E402

for _command in (endpoint, instance, worker, flower, secrets, api):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
