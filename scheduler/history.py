"""`dms task events`: a task's event history (DMS's DescribeEvents for one replication task).

Events live in Redis (worker/state.py, the last EVENTS_KEPT per task): starts, stops, failures,
including transient ones that cleared since, and recoveries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from connectors.model.catalog import Catalog


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@click.command("events")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True)
def task_events(task_id: str, as_json: bool) -> None:
    """The task's recent events, oldest first: starts, stops, failures (kept after they clear), recoveries."""
    from worker.app import QUICK_RETRIES, redis_client
    from worker.state import StateStore

    task_id = Catalog().task(task_id).id
    events = StateStore(redis_client(retries=QUICK_RETRIES)).events(task_id)
    if as_json:  # DMS's DescribeEvents
        doc = {"Events": [{"SourceIdentifier": task_id, "SourceType": "replication-task", **e} for e in events]}
        click.echo(json.dumps(doc, indent=2))
        return
    for e in events:
        click.echo(f"{when(e['Date'])}  {e['EventCategories'][0]:<12}  {e['Message']}")
