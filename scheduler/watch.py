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


def render(task: TaskDef, state: StateStore, width: int = 120) -> tuple[Any, str]:
    """The view of the task now, and its status, laid out for a terminal `width` columns wide (80 and up)."""
    doc = describe(task, state)
    stats = doc["ReplicationTaskStats"]
    figures = task_metrics(state, task.id)
    estimates = {str(t): s.rows_estimate for t, s in state.tables(task.id).items()}
    # One line per fact, wrapped where the terminal ends: a grid of columns was cut at 80 columns.
    lines = [
        Text.assemble((f"task {task.id}", "bold"), f"  {task.migration_type}  {task.source} -> {task.target} "
                      f"on {task.instance}"),
        Text(f"status {doc['Status']}  phase {doc['Phase']}  elapsed {_duration(stats['ElapsedTimeMillis'] / 1000)}"),
        Text(f"tables {stats['TablesLoaded']} loaded, {stats['TablesLoading']} loading, {stats['TablesQueued']} "
             f"queued, {stats['TablesErrored']} errored  full load {stats['FullLoadProgressPercent']}%"),
        Text(f"full load {_count(figures['FullLoadThroughputRowsTarget'])} rows/s  cdc "
             f"{_count(figures['CDCThroughputRowsTarget'])} changes/s"),
        Text(f"latency source {figures['CDCLatencySource']:.2f}s target {figures['CDCLatencyTarget']:.2f}s  "
             f"backlog {_count(figures['CDCIncomingChanges'])}"),
    ]
    if "StopReason" in doc:  # DMS's values read "Stop Reason ..." already
        lines.append(Text(doc["StopReason"]))
    if "LastFailureMessage" in doc:
        lines.append(Text(f"LastFailureMessage {doc['LastFailureMessage']}", style="red"))

    narrow = width < 110  # the bar shrinks, the row count drops its estimate, a long name is cut short
    tables = Table(box=None, padding=(0, 1), header_style="bold")
    tables.add_column("table", no_wrap=True, overflow="ellipsis", max_width=18 if narrow else 40)
    for name, justify in (("state", "left"), ("progress", "left"), ("rows", "right"),
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
        bar = ProgressBar(total=total, completed=rows if rows or not done else total, width=8 if narrow else 30)
        tables.add_row(name, t["TableState"], bar, _count(rows) if narrow else f"{_count(rows)} / ~{_count(total)}",
                       _count(t["Inserts"]), _count(t["Updates"]), _count(t["Deletes"]))
    if len(entries) > MAX_TABLE_ROWS:
        tables.add_row(f"... and {len(entries) - MAX_TABLE_ROWS} more tables", "", "", "", "", "", "")
    # A line of its own each: in a cell of the header's grid a long warning was squeezed into a narrow column.
    warnings = [Text(f"warning: {line}", style="yellow") for line in doc["Warnings"]]
    return Group(*lines, *warnings, Text(""), tables), doc["Status"]


def watch(task: TaskDef, state: StateStore, interval: float = 0.5, console: Console | None = None) -> str:
    """Redraw the view until the task is no longer starting, running or stopping; returns its final status."""
    console = console or Console()
    view, status = render(task, state, console.width)
    with Live(view, console=console, refresh_per_second=4, transient=False) as live:
        while status in ACTIVE:
            time.sleep(interval)
            view, status = render(task, state, console.width)
            live.update(view, refresh=True)
    return status
