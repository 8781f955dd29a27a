"""Putting back on the target what a task's start set aside for its load (Target.before_load/after_load):
the foreign keys and triggers of tables the user created first. Reported in the log and the task's events."""

from __future__ import annotations

import contextvars
import threading

from connectors.errors import Stop
from connectors.registry import open_target

from . import logs
from .job import Job, describe_error, retrying

log = logs.get_logger(__name__)


def put_back(job: Job, *, replicating: bool) -> None:
    """Target.after_load, with retries for what waiting fixes; anything else is reported, not raised (the
    rows are in; the target's records keep what is left for the next try, or for the task's delete)."""
    def attempt() -> list[str]:
        target = open_target(job.target_ep)
        try:
            return target.after_load(job.task, replicating=replicating)
        finally:
            target.close()

    try:
        notes = retrying(job, "after_load", attempt)
    except Stop:
        return  # the next run of the job tries again
    except Exception as exc:  # noqa: BLE001 - reported
        notes = [f"could not put back what the load set aside: {describe_error(exc)}"]
    for note in notes:
        log.info("target_restored", note=note)
        job.state.add_event(job.task, "configuration change", f"target: {note}")


def put_back_aside(job: Job) -> None:
    """put_back while changes apply, on a thread of its own: validating a key holds no change up."""
    threading.Thread(target=contextvars.copy_context().run, args=(put_back, job), kwargs={"replicating": True},
                     daemon=True, name="put-back").start()
