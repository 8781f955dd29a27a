"""Celery tasks: thin, ids only. The work is in run_full_load, run_cdc and run_validation.

A CDC job runs for as long as its task, so it runs on a thread of its own in the worker process
rather than in a pool process: pool processes stay free for full-load jobs, whatever the concurrency.
"""

from __future__ import annotations

import threading

from connectors.errors import DmsError, Stop
from connectors.model.secret_key import SecretKeyError
from connectors.model.states import Status

from . import logs
from .app import celery_app, redis_client
from .cdc import run_cdc
from .dispatch import CDC, FULL_LOAD, VALIDATE
from .full_load import run_full_load
from .job import SHUTDOWN, Handoff, Job, LeaseHeld, describe_error, task_definition
from .state import CDC_JOB, StateStore, full_load_job, validate_job
from .validation import run_validation

log = logs.get_logger(__name__)
app = celery_app()

# The replication instances whose queues this process serves (worker/instance.py): it runs jobs of
# their tasks only.
SERVED: set[str] = set()


def _ours(task_id: str, job_name: str) -> bool:
    """Instances are a boundary: a job of another instance's task, put on our queue by mistake or by
    anyone who can write to the broker, is refused without running and without touching its task
    (its message is acknowledged and dropped). Nothing is lost for the right instance: a job its task
    still waits for is sent again to that instance's own queue by the reclaimer (worker/recovery.py)."""
    task_instance = task_definition(task_id).instance
    if task_instance in SERVED:
        return True
    log.error("job_refused_wrong_instance", task=task_id, job=job_name, task_instance=task_instance,
              worker_instance=",".join(sorted(SERVED)) or None)
    return False


def _run(task_id: str, job_name: str, body) -> None:
    try:
        if not _ours(task_id, job_name):
            return
        with Job(task_id, job_name) as job:
            body(job)
    except LeaseHeld as exc:
        log.info("job_skipped", task=task_id, job=job_name, reason=str(exc))
    except Handoff:
        # Not sent again from here: this worker still consumes while it shuts down and would take it
        # back. The reclaimers of the other workers send it (worker/recovery.py).
        log.info("job_handed_off", task=task_id, job=job_name)
    except Stop as exc:
        log.info("job_stopped", task=task_id, job=job_name, reason=str(exc))
    except SecretKeyError as exc:  # this worker cannot read the endpoints' passwords: say so where people look
        log.error("job_failed", task=task_id, job=job_name, error=str(exc))
        StateStore(redis_client()).set_task(task_id, Status=Status.FAILED, LastFailureMessage=f"a worker: {exc}")
    except DmsError as exc:
        log.error("job_failed", task=task_id, job=job_name, error=describe_error(exc))
    except Exception as exc:  # an unexpected bug: fail the task loudly, never hang it
        log.exception("job_crashed", task=task_id, job=job_name)
        state = StateStore(redis_client())
        state.set_task(task_id, Status=Status.FAILED, LastFailureMessage=describe_error(exc))
        state.add_event(task_id, "failure", f"task failed: {describe_error(exc)}")


@app.task(name=FULL_LOAD)
def full_load(task_id: str, table: str, chunk: int | None = None) -> None:
    _run(task_id, full_load_job(table, chunk), lambda job: run_full_load(job, table, chunk))


@app.task(name=VALIDATE)
def validate(task_id: str, table: str) -> None:
    _run(task_id, validate_job(table), lambda job: run_validation(job, table))


CDC_THREADS: list[threading.Thread] = []


@app.task(name=CDC)
def cdc(task_id: str) -> None:
    thread = threading.Thread(target=_run, args=(task_id, CDC_JOB, run_cdc), name=f"cdc-{task_id}", daemon=True)
    thread.start()
    CDC_THREADS[:] = [t for t in CDC_THREADS if t.is_alive()] + [thread]


def hand_off_all(timeout: float = 20.0) -> None:
    """On a warm shutdown: ask every job of this process to hand off, and wait for the CDC threads."""
    SHUTDOWN.set()
    for thread in list(CDC_THREADS):
        thread.join(timeout)
