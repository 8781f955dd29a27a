"""Embedded mode: a task runs in the CLI's own process when no worker serves its instance.

`dms task start` then starts an in-process worker, follows the task until it stops (a full load ends by
itself; CDC runs until Ctrl-C or SIGTERM, which stop the task cleanly at its checkpoint) and exits. The
jobs, the change cache and the live state are the same Redis code as a fleet's, on the embedded server.
"""

from __future__ import annotations

import faulthandler
import signal
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from connectors.model.catalog import Catalog, data_dir
from connectors.model.states import ENDED, Phase, Status
from worker.state import StateStore

from .lobs import lob_warnings
from .status import describe
from .submit import start_task, stop_task, wait_until_stopped
from .watch import watch

CONCURRENCY = 2  # parallel table loads of an in-process worker; a laptop has few cores to spare


def log_path(task_id: str) -> Path:
    path = data_dir() / "logs" / f"{task_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_here(catalog: Catalog, state: StateStore, task_id: str, start_type: str | None,
             echo: Callable[[str], None]) -> str:
    """Start the task with a worker in this process; return its final status."""
    from worker.instance import in_process

    task = catalog.task(task_id)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    # A run that does not stop on Ctrl-C can be asked where it is: `kill -USR1 PID` prints every thread's stack.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    path = log_path(task_id)
    try:
        with open(path, "a") as log, in_process(task.instance, CONCURRENCY, log):
            used = start_task(catalog, state, task_id, start_type)
            echo(f"task {task_id} started ({used}) in this process (no DMS_REDIS_URL: embedded mode); log: {path}")
            try:
                console = Console()
                if console.is_terminal:
                    watch(task, state, console=console)
                else:  # a log or a pipe: one line per change of phase
                    follow(catalog, state, task_id, echo)
            except KeyboardInterrupt:
                echo(f"stopping task {task_id} at its checkpoint ...")
                if state.status(task_id) in (Status.STARTING, Status.RUNNING):
                    stop_task(state, task_id)
                wait_until_stopped(state, task_id, 120)
                echo(f"task {task_id} stopped; `dms task start {task_id}` resumes it")
    finally:
        signal.signal(signal.SIGTERM, previous)
        faulthandler.unregister(signal.SIGUSR1)
    for line in lob_warnings(task, state):  # the summary: what the run did that the user should know
        echo(f"warning: {line}")
    return state.status(task_id)


def follow(catalog: Catalog, state: StateStore, task_id: str, echo: Callable[[str], None],
           until: Callable[[], bool] | None = None, interval: float = 0.5) -> None:
    """Print one line whenever the task's phase or table counts change, until it stops (or `until()`)."""
    task = catalog.task(task_id)
    last = None
    while True:
        doc = describe(task, state)
        stats = doc["ReplicationTaskStats"]
        line = (f"{doc['Phase']}: tables loaded {stats['TablesLoaded']}, "
                f"loading {stats['TablesLoading']}, queued {stats['TablesQueued']}, errored {stats['TablesErrored']}")
        if line != last:
            last = line
            if doc["Phase"] == Phase.ONGOING_REPLICATION:
                line += " (changes are applied as they happen; Ctrl-C stops the task)"
            echo(line)
        if doc["Status"] in ENDED or (until is not None and until()):
            if doc.get("StopReason"):
                echo(f"stop reason: {doc['StopReason']}")
            if doc.get("LastFailureMessage"):
                echo(f"last failure: {doc['LastFailureMessage']}")
            return
        time.sleep(interval)
