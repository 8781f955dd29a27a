"""Takes over jobs whose worker died: any worker notices an expired lease and re-enqueues the job,
and sends again a queued job whose message a worker took but died before starting.

The broker alone would hand an unacknowledged job on only after its visibility timeout (an hour),
and would hand a days-long CDC job out twice; leases make recovery quick and single-owner.
"""

from __future__ import annotations

import threading

from connectors.model.states import JobState, Status

from . import logs
from .app import LEASE_SECONDS, redis_client
from .dispatch import dispatch, enqueue, queue_of, resend_unsent
from .state import StateStore

log = logs.get_logger(__name__)


def reclaim_once(state: StateStore) -> list[tuple[str, str]]:
    taken = []
    for task in state.active_tasks():
        info = state.task(task)
        if info.get("Status") not in (Status.RUNNING, Status.STARTING):
            continue
        for job, job_state in state.jobs(task).items():
            if job_state == JobState.RUNNING and state.reclaim(task, job):
                reason = "lease expired: its worker is gone"
            elif job_state == JobState.HANDOFF and state.reclaim(task, job, frm=JobState.HANDOFF):
                reason = "handed off by a worker shutting down"
            elif job_state == JobState.QUEUED and \
                    state.stranded(task, job, queue_of(info["instance"], job), LEASE_SECONDS):
                reason = "taken by a worker that died before starting it"
            else:
                continue
            enqueue(info["instance"], task, job)
            taken.append((task, job))
            log.warning("job_recovered", task=task, job=job, reason=reason)
        for job in resend_unsent(state, task, info["instance"], older_than=2 * LEASE_SECONDS):
            taken.append((task, job))
            log.warning("job_recovered", task=task, job=job, reason="claimed by a process that died before sending it")
        # A job that ended with its worker killed before it sent the next: the next goes now.
        for job in dispatch(state, task, info["instance"]):
            log.info("job_dispatched", task=task, job=job)
    return taken


def start_reclaimer(stop: threading.Event, instance: str, name: str) -> threading.Thread:
    """Every few seconds: say this worker is alive, and take over jobs whose workers are not."""
    interval = max(0.5, min(2.0, LEASE_SECONDS / 3))

    def loop() -> None:
        state = StateStore(redis_client())
        while True:
            try:
                state.register_worker(instance, name, interval * 3)
                reclaim_once(state)
            except Exception as exc:  # Redis away for a moment: try again next round
                log.warning("reclaim_failed", error=str(exc))
            if stop.wait(interval):
                try:  # a worker that stops says so: `dms task start` must not count on it for seconds more
                    state.unregister_worker(instance, name)
                except Exception as exc:  # the key expires by itself
                    log.warning("unregister_failed", error=str(exc))
                return

    thread = threading.Thread(target=loop, daemon=True, name="dms-reclaimer")
    thread.start()
    return thread
