"""`dms task start` planned by a running worker: a start without the CLI's imports on its path.

Planning a start takes a warm process under a tenth of a second; a `dms` process first spends 0.6 to 1 s
importing the catalog's, the engines' and the task model's libraries, before the first job is even
queued. With DMS_REDIS_URL set and a `dms worker` of the same catalog running, `dms task start`
(scheduler/launch.py) imports only redis-py, puts the request in a Redis list of that catalog and prints
the worker's answer: the lines and the exit code that planning it in the CLI gives. Everything else
plans in the CLI as before: the embedded mode, no such worker alive, a request no worker took within
TAKE_SECONDS (withdrawn first, so it never runs twice), a task whose instance the worker does not serve.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from connectors.model.locations import catalog_url
from connectors.model.states import START_TYPES

# Imports are where they are used: every `dms` command loads this module first (launch.py), and only a start
# that a worker plans uses what lies past parse_argv.

TAKE_SECONDS = 2.0  # a live worker takes a request at once; one that does not is taken for gone
POLL_SECONDS = 1.0  # a planner's wait for a request, between renewals of its presence
LIVE_SECONDS = 5.0  # a planner not renewed for this long counts as gone
REPLY_TTL = 60  # seconds a reply waits for the CLI that asked


def catalog_id(url: str | None = None) -> str:
    """Which catalog this process uses (or the one at ``url``): requests go only to workers that read the same."""
    import hashlib

    return hashlib.sha256((url or catalog_url()).encode()).hexdigest()[:16]


def _requests(catalog: str) -> str:
    return f"dms:start-requests:{catalog}"


def _planners(catalog: str) -> str:
    return f"dms:start-planners:{catalog}"


def _reply(request_id: str) -> str:
    return f"dms:start-reply:{request_id}"


# -- the CLI's side ------------------------------------------------------------------------------------


def parse_argv(argv: list[str]) -> tuple[str, str | None] | None:
    """(task id, --type) of a plain `task start TASK [--type T]`; None for anything else (the full CLI reads it)."""
    if len(argv) < 3 or argv[:2] != ["task", "start"] or argv[2].startswith("-"):
        return None
    task_id, rest = argv[2].lower(), argv[3:]  # identifiers are case-insensitive, as cli_common.ID reads them
    if not rest:
        return task_id, None
    if len(rest) == 2 and rest[0] == "--type" and rest[1] in START_TYPES:
        return task_id, rest[1]
    if len(rest) == 1 and rest[0].startswith("--type=") and rest[0][7:] in START_TYPES:
        return task_id, rest[0][7:]
    return None


def ask(argv: list[str]) -> int | None:
    """Run `dms task start` by a running worker: its exit code, the worker's lines printed; None: plan it here."""
    parsed = parse_argv(argv)
    if parsed is None or not os.environ.get("DMS_REDIS_URL"):
        return None
    from worker.app import redis_client, redis_home

    try:
        # No retries: a Redis that does not answer at once is the full CLI's to report, with its own retries
        reply = _request(redis_client(retries=0), *parsed, redis_home())
    except Exception:  # Redis or its URL: the full CLI meets the same problem and says it in its words
        return None
    if reply is None:
        return None
    for line in reply.get("out", ()):
        print(line, flush=True)
    for line in reply.get("err", ()):
        print(line, file=sys.stderr, flush=True)
    return int(reply.get("code", 0))


def _request(client: Any, task_id: str, start_type: str | None, home: str) -> dict | None:
    import json
    import uuid

    catalog = catalog_id()
    if not client.zcount(_planners(catalog), time.time(), "+inf"):
        return None
    request_id = uuid.uuid4().hex
    request = json.dumps({"id": request_id, "task": task_id, "type": start_type, "home": home})
    try:
        client.lpush(_requests(catalog), request)
        return _answer(client, catalog, request, request_id, task_id)
    except Exception as exc:  # sent: planning it here too could start it twice
        return {"err": [f"error: Redis stopped answering while a worker planned the start of task {task_id} ({exc}): "
                        f"see `dms task describe {task_id}`, and start it again if it is not running"], "code": 1}


def _answer(client: Any, catalog: str, request: str, request_id: str, task_id: str) -> dict | None:
    """The worker's answer to a request sent (None: no worker took it, and it is withdrawn)."""
    import json

    got = client.blpop([_reply(request_id)], TAKE_SECONDS)
    if got is None:
        if client.lrem(_requests(catalog), 1, request):
            return None  # no worker took it: withdrawn, it never runs
        got = client.blpop([_reply(request_id)], TAKE_SECONDS)  # taken just now: its answer is on the way
    taken_by = None
    while True:
        if got is not None:
            reply = json.loads(got[1])
            if "taken" not in reply:
                return None if reply.get("decline") else reply
            taken_by = reply["taken"]
        elif taken_by is None or (client.zscore(_planners(catalog), taken_by) or 0) < time.time():
            who = f"worker {taken_by}" if taken_by else "a worker"
            return {"err": [f"error: {who} took the start of task {task_id} and stopped answering: see "
                            f"`dms task describe {task_id}`, and start it again if it is not running"], "code": 1}
        got = client.blpop([_reply(request_id)], POLL_SECONDS)


# -- the worker's side ---------------------------------------------------------------------------------


def serve(stop: threading.Event, served: set[str]) -> threading.Thread:
    """Plan the start requests of this catalog's tasks whose instance is in ``served``, on a thread, until ``stop``."""
    thread = threading.Thread(target=_serve, args=(stop, served), daemon=True, name="dms-start-planner")
    thread.start()
    return thread


def _serve(stop: threading.Event, served: set[str]) -> None:
    import concurrent.futures
    import json
    import socket

    from connectors.model.catalog import Catalog
    from worker import logs
    from worker.app import redis_client

    log = logs.get_logger(__name__)
    client = redis_client()
    catalog = catalog_id()
    tasks = Catalog()  # `dms worker` opened it already: it opens
    me = f"{os.getpid()}@{socket.gethostname()}"
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dms-start-plan")

    def present() -> None:
        client.zadd(_planners(catalog), {me: time.time() + LIVE_SECONDS})

    while not stop.is_set():
        try:
            present()
            got = client.blpop([_requests(catalog)], POLL_SECONDS)
            if got is None:
                continue
            request = json.loads(got[1])
            reply_key = _reply(request["id"])
            client.rpush(reply_key, json.dumps({"taken": me}))
            client.expire(reply_key, REPLY_TTL)
            planning = pool.submit(_plan, request, served, tasks, me)
            while True:  # a long plan (a fresh start discovering many tables) keeps this planner present
                try:
                    answer = planning.result(POLL_SECONDS)
                    break
                except concurrent.futures.TimeoutError:
                    present()
            client.rpush(reply_key, json.dumps(answer))
            client.expire(reply_key, REPLY_TTL)
        except Exception as exc:  # Redis down: the CLIs plan their starts themselves meanwhile
            log.warning("start_planner_error", error=str(exc))
            stop.wait(POLL_SECONDS)
    try:
        client.zrem(_planners(catalog), me)
    except Exception:  # the process ends: its presence expires by itself
        pass


def _plan(request: dict, served: set[str], catalog: Any, me: str) -> dict:
    """What `dms task start` prints and exits with, planned here by worker ``me`` ({"decline": True}: the CLI
    plans it)."""
    from connectors.errors import DmsError
    from connectors.model.secret_key import SecretKeyError
    from worker import logs
    from worker.app import redis_client
    from worker.state import StateStore

    from .homes import check_not_running_elsewhere
    from .submit import start_task

    log = logs.get_logger(__name__)
    task_id, home = request["task"], request["home"]
    started = time.monotonic()
    try:
        task = catalog.task(task_id)
        if task.instance not in served:
            return {"decline": True}
        check_not_running_elsewhere(task, home)
        used = start_task(catalog, StateStore(redis_client()), task_id, request["type"], home=home)
    except SecretKeyError as exc:  # this worker's key is not the CLI's: the CLI's may open the endpoints
        log.info("start_declined", task=task_id, error=str(exc))
        return {"decline": True}
    except DmsError as exc:
        log.info("start_planned", task=task_id, error=str(exc))
        return {"err": [f"error: {exc}"], "code": exc.exit_code}
    except Exception as exc:  # a bug of ours: one line for the CLI, the traceback in this worker's log
        log.exception("start_plan_failed", task=task_id)
        return {"err": [f"error: internal error: {type(exc).__name__}: {exc} (the traceback is in the log of "
                        f"worker {me})"], "code": 1}
    log.info("start_planned", task=task_id, start_type=used, seconds=round(time.monotonic() - started, 3))
    return {"out": [f"task {task_id} started ({used})"], "code": 0}
