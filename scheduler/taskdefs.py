"""Defining and changing tasks, as `dms task create|modify` and the API's CreateReplicationTask and
ModifyReplicationTask do: one check of a definition (endpoints, instance, mappings, settings, target rules,
the rules against the source), warnings handed to the caller to show its way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from connectors.base import Capability, Endpoint
from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.states import ACTIVE
from connectors.model.target_rules import check_target_settings
from connectors.registry import open_source, target_class

from .capture import check_spelling, position_refusal
from .lobs import create_notice

Warn = Callable[[str], None]


def check_definition(catalog: Catalog, definition: TaskDef, mappings_where: str | None, settings_where: str | None,
                     warn: Warn) -> TaskDef:
    """A task definition checked as `task create` and `task modify` check it; each warning goes to `warn`.
    `*_where` name where the mappings and settings came from (a file), None: the task's own."""
    src, tgt = catalog.endpoint(definition.source), catalog.endpoint(definition.target)
    if src.kind != "source":
        raise ConfigError(f"endpoint {src.id} is a {src.kind} endpoint: --source needs a source endpoint")
    if tgt.kind != "target":
        raise ConfigError(f"endpoint {tgt.id} is a {tgt.kind} endpoint: --target needs a target endpoint")
    catalog.instance(definition.instance)
    parsed = parse_task_settings(definition.settings_json, settings_where or f"the settings of task {definition.id}")
    where = mappings_where or f"the table mappings of task {definition.id}"
    for line in (*parse_table_mappings(definition.table_mappings_json, where).warnings, *parsed.warnings(),
                 *create_notice(parsed)):
        warn(line)
    if definition.cdc_start_position and definition.migration_type != "cdc":
        raise ConfigError("--cdc-start-position goes with --migration-type cdc only")
    refusals, notes = check_target_settings(parsed, target_class(tgt).kind, f"target {tgt.id} ({tgt.engine})")
    if refusals:
        raise ConfigError("; ".join(refusals))
    for line in notes:
        warn(line)
    if definition.validation_only and definition.migration_type != "full-load":
        warn(f"ValidationSettings.ValidationOnly with --migration-type {definition.migration_type}: each table is "
             "validated once and the task stops; changes are neither captured nor validated as they go on")
    return definition


def check_rules(task: TaskDef, src: Endpoint, required: bool, warn: Warn) -> dict:
    """The rules (and start position) against the source now, so a rule naming a missing column fails at create.

    A source that cannot be reached only postpones the check to the task's start (unless `required`)."""
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
        warn(f"rules{' and start position' if task.cdc_start_position else ''} not checked against source "
             f"{src.id} ({exc}); `dms task start` checks them")
        return {}
    if refusal:
        raise ConfigError(refusal)
    return build_maps(task.mappings, task.settings, schemas, Capability.BEFORE_IMAGE in caps)


def modify_task(catalog: Catalog, task_id: str, status: str, warn: Warn, *, migration_type: str | None = None,
                mappings_json: str | None = None, mappings_where: str | None = None, settings_json: str | None = None,
                settings_where: str | None = None, cdc_start_position: str | None = None,
                instance: str | None = None) -> list[str]:
    """Change a stopped task (DMS's ModifyReplicationTask; its endpoints stay); `status` is its status now.
    Returns what changed that its run cannot resume with (the next start must be reload-target)."""
    old = catalog.task(task_id)
    if status in ACTIVE:
        raise ConfigError(f"task {task_id} is {status}: stop it first with `dms task stop {task_id}` (DMS modifies "
                          "stopped tasks only)")
    new = replace(old, migration_type=migration_type or old.migration_type,
                  table_mappings_json=mappings_json if mappings_json is not None else old.table_mappings_json,
                  settings_json=settings_json if settings_json is not None else old.settings_json,
                  cdc_start_position=old.cdc_start_position if cdc_start_position is None else cdc_start_position,
                  instance=instance or old.instance)
    if migration_type and migration_type != "cdc" and cdc_start_position is None:
        new = replace(new, cdc_start_position="")  # a start position goes with cdc only
    new = check_definition(catalog, new, mappings_where, settings_where, warn)
    check_rules(new, catalog.endpoint(new.source), False, warn)
    catalog.update_task(new)
    changed = [what for what, differs in (("table mappings", new.table_mappings_json != old.table_mappings_json),
                                           ("migration type", new.migration_type != old.migration_type)) if differs]
    if changed and old.started_at is not None:
        catalog.record_changed(task_id, ", ".join(changed))
        return changed
    return []
