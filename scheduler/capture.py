"""A task's change capture on its source, seen from the CLI: the start position checked when the task is
defined, the source log that capture keeps (while a task is stopped, it grows), capture objects no task owns.

The words for it (what holds the log, what the log is called, the JSON key of its size) come from the connector
(connectors.base.Retained); this module only counts and warns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from connectors.base import Endpoint, Retained, Source, human_bytes
from connectors.errors import ConfigError, DmsError
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.states import Status
from connectors.registry import open_source, source_class


def check_spelling(src: Endpoint, position: str) -> None:
    """A start position the source's engine cannot read is refused at once, source reachable or not."""
    problem = source_class(src).position_error(position) if position else None
    if problem:
        raise ConfigError(problem)


def position_refusal(source: Source, task: TaskDef) -> str | None:
    """Why the task's start position cannot be served by the source as it is now, or None."""
    if not task.cdc_start_position:
        return None
    return source.check_position(task.id, source.parse_position(task.id, task.cdc_start_position))


Held = Retained | str | None  # what a task's capture keeps; a str says why it is not known


def retained(catalog: Catalog, tasks: Iterable[TaskDef]) -> dict[str, Held]:
    """The source log each CDC task's capture keeps now: one connection per source endpoint."""
    by_source: dict[str, list[TaskDef]] = {}
    for task in tasks:
        if task.cdc:
            by_source.setdefault(task.source, []).append(task)
    held: dict[str, Held] = {}
    for source_id, group in by_source.items():
        try:
            source = open_source(catalog.endpoint(source_id))
        except DmsError as exc:
            held |= {task.id: f"not known: {exc}" for task in group}
            continue
        try:
            for task in group:
                try:
                    held[task.id] = source.retained_log(task.id)
                except DmsError as exc:
                    held[task.id] = f"not known: {exc}"
        finally:
            source.close()
    return held


def short(held: Held) -> str:
    """For a column of `task list`: the size and the log's name ("1.2 GiB" and the engine's word), "-" when
    nothing is known to be kept, "?" when unknown."""
    return f"{human_bytes(held.bytes)} {held.log}" if isinstance(held, Retained) else "-" if held is None else "?"


def warnings(task_id: str, status: str, held: Held) -> list[str]:
    """One line when the task's capture keeps more of the source's log than its threshold, with the cure.

    Meant to be merged into the task's ``Warnings`` (describe) or printed under `task list`."""
    if not isinstance(held, Retained) or held.bytes <= held.warn_bytes:
        return []
    if status in (Status.RUNNING, Status.STARTING):
        cure = f"the task reads behind the source: see `dms task metrics {task_id}` (CDCLatencySource)"
    else:
        cure = (f"resume the task (`dms task start {task_id}`) so that it reads and frees it, or delete it "
                f"(`dms task delete {task_id}`)")
    return [f"{held.holder} keeps {human_bytes(held.bytes)} of the source's {held.log} for task {task_id}, over "
            f"{human_bytes(held.warn_bytes)} ({held.warn_setting}): {cure}"]


def describe_retained(catalog: Catalog, doc: dict[str, Any]) -> list[str]:
    """Add what the task's capture keeps to its describe document (our key, and a line in its Warnings above
    the threshold); return the plain view's line."""
    held = retained(catalog, [catalog.task(doc["ReplicationTaskIdentifier"])]).get(doc["ReplicationTaskIdentifier"])
    if held is None:
        return []
    if isinstance(held, str):
        return [f"retained    {held}"]
    doc[held.key] = held.bytes
    more = warnings(doc["ReplicationTaskIdentifier"], doc["Status"], held)
    if more:
        doc.setdefault("Warnings", []).extend(more)
    return [f"retained    {human_bytes(held.bytes)} of {held.log} ({held.holder})"]


def leftovers(catalog: Catalog, source: Source) -> list[str]:
    """Capture objects on the source that no task of this catalog owns (deleted with --force, or elsewhere)."""
    return source.leftovers(t.id for t in catalog.tasks())


def list_view(catalog: Catalog, tasks: Sequence[TaskDef],
              statuses: Sequence[str]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """`task list`: its JSON entries, its plain lines, and the warnings about log kept (to stderr)."""
    held = retained(catalog, tasks)
    docs, lines, notes = [], [], []
    for task, status in zip(tasks, statuses, strict=True):
        kept = held.get(task.id)
        doc = {"ReplicationTaskIdentifier": task.id, "Status": status, "MigrationType": task.migration_type}
        if isinstance(kept, Retained):
            doc[kept.key] = kept.bytes
        docs.append(doc)
        lines.append(f"{task.id:24} {status:10} {task.migration_type:18} {short(kept):>14}  {task.source} -> "
                     f"{task.target}")
        notes += warnings(task.id, status, kept)
    return docs, lines, notes
