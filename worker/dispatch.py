"""Sending jobs: the one place that puts a job on an instance's queues.

Full-load jobs do not all go at once: at most MaxFullLoadSubTasks of a task's full-load jobs (tables
or chunks) are queued or running; the others wait in Redis (StateStore.hold) in load order. Whenever
a job ends, and every few seconds from each worker's reclaimer, `dispatch` sends the next ones. The
claim is one Redis script, so two jobs ending together never send the same next job, and a job
lost with a killed worker is sent again by the reclaimer like any other (worker/recovery.py).
"""

from __future__ import annotations

from .app import configured_app, queue_name
from .state import CDC_JOB, VALIDATE_PREFIX, StateStore, parse_full_load_job

FULL_LOAD = "dms.full_load"
CDC = "dms.cdc"
VALIDATE = "dms.validate"


def queue_of(instance: str, job_name: str) -> str:
    """The queue a job is sent to."""
    return queue_name(instance, "cdc" if job_name == CDC_JOB else "full_load")


def enqueue(instance: str, task_id: str, job_name: str) -> None:
    """Send one job to the instance's queues; the message carries ids only."""
    celery = configured_app()
    if job_name == CDC_JOB:
        celery.send_task(CDC, args=[task_id], queue=queue_name(instance, "cdc"), shadow=f"{task_id} cdc")
        return
    if job_name.startswith(VALIDATE_PREFIX):  # validation reads like a load: it shares the full-load queue
        table = job_name.removeprefix(VALIDATE_PREFIX)
        celery.send_task(VALIDATE, args=[task_id, table], queue=queue_name(instance, "full_load"),
                         shadow=f"{task_id} validate {table}")
        return
    table, chunk = parse_full_load_job(job_name)
    args = [task_id, table] if chunk is None else [task_id, table, chunk]  # readable in Flower
    celery.send_task(FULL_LOAD, args=args, queue=queue_name(instance, "full_load"),
                     shadow=f"{task_id} full-load {table}" + (f" chunk {chunk}" if chunk is not None else ""))


def dispatch(state: StateStore, task_id: str, instance: str) -> list[str]:
    """Send the waiting full-load jobs that MaxFullLoadSubTasks lets start now; returns them."""
    jobs = state.claim_waiting(task_id)
    for job in jobs:
        enqueue(instance, task_id, job)
        state.sent(task_id, job)
    return jobs


def resend_unsent(state: StateStore, task_id: str, instance: str, older_than: float) -> list[str]:
    """Send the jobs that a process claimed from the waiting list but died before sending."""
    jobs = state.unsent(task_id, older_than)
    for job in jobs:
        enqueue(instance, task_id, job)
    return jobs
