"""`dms task watch`: a live terminal view of one task, until it stops."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from connectors.model.catalog import TaskDef
from connectors.model.states import ACTIVE, TableState
from worker.metrics import task_metrics
from worker.state import StateStore

from .status import describe, table_statistics

MAX_TABLE_ROWS = 30
# Tables still moving are shown first.
_ORDER = {TableState.FULL_LOAD: 0, TableState.BEFORE_LOAD: 1, TableState.ERROR: 2, TableState.COMPLETED: 3}


def _count(n: float) -> str:
    return f"{int(n):,}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def render(task: TaskDef, state: StateStore) -> tuple[Any, str]:
    """The view of the task now, and its status."""
    doc = describe(task, state)
    stats = doc["ReplicationTaskStats"]
    figures = task_metrics(state, task.id)
    estimates = {str(t): s.rows_estimate for t, s in state.tables(task.id).items()}
    header = Table.grid(padding=(0, 2))
    header.add_row(Text(f"task {task.id}", style="bold"), f"{task.migration_type}",
                   f"{task.source} -> {task.target} on {task.instance}")
    header.add_row(f"status {doc['Status']}", f"phase {doc['Phase']}",
                   f"elapsed {_duration(stats['ElapsedTimeMillis'] / 1000)}")
    header.add_row(f"tables {stats['TablesLoaded']} loaded, {stats['TablesLoading']} loading, "
                   f"{stats['TablesQueued']} queued, {stats['TablesErrored']} errored",
                   f"full load {stats['FullLoadProgressPercent']}%", "")
    header.add_row(f"full load {_count(figures['FullLoadThroughputRowsTarget'])} rows/s",
                   f"cdc {_count(figures['CDCThroughputRowsTarget'])} changes/s",
                   f"latency source {figures['CDCLatencySource']:.2f}s target {figures['CDCLatencyTarget']:.2f}s "
                   f"backlog {_count(figures['CDCIncomingChanges'])}")
    for key in ("StopReason", "LastFailureMessage"):
        if key in doc:
            header.add_row(Text(f"{key} {doc[key]}", style="red" if key == "LastFailureMessage" else ""), "", "")

    tables = Table(box=None, padding=(0, 1), header_style="bold")
    for name, justify in (("table", "left"), ("state", "left"), ("progress", "left"), ("rows", "right"),
                          ("inserts", "right"), ("updates", "right"), ("deletes", "right")):
        tables.add_column(name, justify=justify, no_wrap=True)
    entries = sorted(table_statistics(task, state)["TableStatistics"],
                     key=lambda t: (_ORDER.get(t["TableState"], 9), t["SchemaName"], t["TableName"]))
    for t in entries[:MAX_TABLE_ROWS]:
        name = f"{t['SchemaName']}.{t['TableName']}"
        rows = t["FullLoadRows"]
        done = t["TableState"] == TableState.COMPLETED
        # The estimate is the planner's: a table can hold more, and a finished one is whole.
        total = max(rows, 1) if done else max(estimates.get(name, 0), rows, 1)
        bar = ProgressBar(total=total, completed=rows if rows or not done else total, width=30)
        tables.add_row(name, t["TableState"], bar, f"{_count(rows)} / ~{_count(total)}",
                       _count(t["Inserts"]), _count(t["Updates"]), _count(t["Deletes"]))
    if len(entries) > MAX_TABLE_ROWS:
        tables.add_row(f"... and {len(entries) - MAX_TABLE_ROWS} more tables", "", "", "", "", "", "")
    # A line of its own each: in a cell of the header's grid a long warning was squeezed into a narrow column.
    warnings = [Text(f"warning: {line}", style="yellow") for line in doc["Warnings"]]
    return Group(header, *warnings, Text(""), tables), doc["Status"]


def watch(task: TaskDef, state: StateStore, interval: float = 0.5, console: Console | None = None) -> str:
    """Redraw the view until the task is no longer starting, running or stopping; returns its final status."""
    console = console or Console()
    view, status = render(task, state)
    with Live(view, console=console, refresh_per_second=4, transient=False) as live:
        while status in ACTIVE:
            time.sleep(interval)
            view, status = render(task, state)
            live.update(view, refresh=True)
    return status
