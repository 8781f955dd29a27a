"""Celery tasks: thin, ids only. The work is in run_full_load and run_cdc."""

from __future__ import annotations

from connectors.errors import DmsError, Stop

from . import logs
from .app import app, configured_app, queue_name, redis_client
from .cdc import run_cdc
from .full_load import run_full_load
from .job import Job, LeaseHeld, describe_error
from .state import CDC_JOB, FULL_LOAD_PREFIX, StateStore

log = logs.get_logger(__name__)

FULL_LOAD = "dms.full_load"
CDC = "dms.cdc"


def _run(task_id: str, job_name: str, body) -> None:
    try:
        with Job(task_id, job_name) as job:
            body(job)
    except LeaseHeld as exc:
        log.info("job_skipped", task=task_id, job=job_name, reason=str(exc))
    except Stop as exc:
        log.info("job_stopped", task=task_id, job=job_name, reason=str(exc))
    except DmsError as exc:
        log.error("job_failed", task=task_id, job=job_name, error=describe_error(exc))
    except Exception as exc:  # an unexpected bug: fail the task loudly, never hang it
        log.exception("job_crashed", task=task_id, job=job_name)
        StateStore(redis_client()).set_task(task_id, Status="failed", LastFailureMessage=describe_error(exc))


@app.task(name=FULL_LOAD)
def full_load(task_id: str, table: str) -> None:
    _run(task_id, FULL_LOAD_PREFIX + table, lambda job: run_full_load(job, table))


@app.task(name=CDC)
def cdc(task_id: str) -> None:
    _run(task_id, CDC_JOB, run_cdc)


def enqueue(instance: str, task_id: str, job_name: str) -> None:
    """Send one job to the instance's queues (the only place jobs are sent from)."""
    celery = configured_app()
    if job_name == CDC_JOB:
        celery.send_task(CDC, args=[task_id], queue=queue_name(instance, "cdc"), shadow=f"{task_id} cdc")
    else:
        table = job_name.removeprefix(FULL_LOAD_PREFIX)
        celery.send_task(FULL_LOAD, args=[task_id, table], queue=queue_name(instance, "full_load"),
                      shadow=f"{task_id} full-load {table}")
