"""A replication instance's worker: in the foreground (`dms worker`) or in a thread of the CLI (embedded mode).

Both are the same Celery worker on the same queues, with the same reclaimer, logging and hand-off; only
where it runs differs.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from celery.signals import setup_logging, worker_shutting_down

from connectors.errors import ConfigError

from . import logs
from .app import QUICK_RETRIES, configured_app, queue_name, redis_client
from .recovery import start_reclaimer
from .tasks import SERVED, hand_off_all

# Celery warns any root worker about pickle; our messages are JSON and pickle is never accepted.
warnings.filterwarnings("ignore", message="You're running the worker with superuser privileges")


def _queues(instance: str) -> list[str]:
    return [queue_name(instance, "cdc"), queue_name(instance, "full_load")]


def _start(instance: str, loglevel: str, stream: TextIO | None) -> tuple[str, threading.Event, threading.Thread]:
    redis_client(retries=QUICK_RETRIES).ping()  # a wrong DMS_REDIS_URL fails the start at once
    logs.setup(loglevel, force=True, stream=stream)

    @setup_logging.connect(weak=False)
    def _our_logging(**kwargs) -> None:  # connected: Celery leaves logging to us (JSON lines)
        logs.setup(loglevel, force=True, stream=stream)

    name = f"{instance}.{os.getpid()}@{socket.gethostname()}"
    SERVED.add(instance)  # the jobs of this instance's tasks, and no others, run here
    stop = threading.Event()
    return name, stop, start_reclaimer(stop, instance, name)


def serve(instance: str, concurrency: int, loglevel: str, metrics: tuple[str, int] | None = None,
          planner: Callable[[threading.Event, set[str]], threading.Thread] | None = None) -> None:
    """Run until SIGTERM (warm: running jobs are handed to other workers at once) or SIGKILL (leases expire).

    `metrics` (address, port): serve the instance's metrics in Prometheus's format there. `planner`: a thread
    that plans starts of the served instances' tasks until the event is set (scheduler/start_requests.py)."""
    name, stop, reclaimer = _start(instance, loglevel, None)
    planning = planner(stop, SERVED) if planner is not None else None
    if metrics is not None:
        from .metrics import serve as serve_metrics

        address, port = metrics
        try:
            serve_metrics(port, address, instance, name)
        except OSError as exc:
            stop.set()
            raise ConfigError(f"--metrics-port {port}: cannot listen on {address}:{port} ({exc.strerror}); "
                              "choose a free port") from None

    @worker_shutting_down.connect(weak=False)
    def _hand_off(sig=None, how=None, exitcode=None, **kwargs) -> None:
        if how == "Warm":
            stop.set()  # this worker's reclaimer must not take them back
            hand_off_all()

    # One process, job threads: a killed worker takes all its jobs with it, and their leases expire.
    # --concurrency counts full-load jobs; CDC jobs run on threads of their own.
    configured_app().worker_main([
        "worker", "--pool", "threads", "--concurrency", str(max(concurrency, 1)),
        "--queues", ",".join(_queues(instance)), "--hostname", name, "--loglevel", loglevel,
        "--without-mingle", "--without-gossip",
    ])
    stop.set()
    reclaimer.join(5)
    if planning is not None:
        planning.join(5)


@contextmanager
def in_process(instance: str, concurrency: int, log: TextIO, loglevel: str = "INFO") -> Iterator[str]:
    """A worker in threads of this process (the embedded mode's `dms task start` and `dms demo`)."""
    from celery.contrib.testing.worker import start_worker

    name, stop, reclaimer = _start(instance, loglevel, log)
    try:
        with start_worker(configured_app(), concurrency=max(concurrency, 1), pool="threads", loglevel=loglevel,
                          perform_ping_check=False, shutdown_timeout=60, queues=_queues(instance), hostname=name):
            yield name
            hand_off_all()  # whatever still runs goes back to the queues for the next worker
    finally:
        SERVED.discard(instance)
        stop.set()
        reclaimer.join(5)
