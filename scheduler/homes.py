"""Where a task's live state is: the embedded mode and a fleet share one catalog but not one Redis, so a
task started in one is looked up there from the other, and never shown as new or failed in the wrong one."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from connectors.errors import ConfigError
from connectors.model.catalog import TaskDef
from connectors.model.states import ACTIVE

if TYPE_CHECKING:  # the CLI starts without Celery and Redis loaded; commands that need them load them
    from worker.state import StateStore


def elsewhere(task: TaskDef, here: str | None = None) -> str | None:
    """The Redis holding the task's live state when it is not the one this process uses (``here``: the one
    a CLI that asked a worker to plan its start uses), else None."""
    from worker.app import redis_home

    home = task.redis_home
    return None if home is None or home == (here or redis_home()) else home


def state_for(task: TaskDef, here: StateStore) -> StateStore | None:
    """The store that holds the task's live state: this one, or the other it ran on (None: unreachable)."""
    home = elsewhere(task)
    return here if home is None else _store(home)


def where(home: str) -> str:
    return "the embedded Redis of this machine" if home == "embedded" else f"the Redis at {home}"


def how(home: str) -> str:
    return "unset DMS_REDIS_URL" if home == "embedded" else f"set DMS_REDIS_URL to {home}"


def unreachable(task: TaskDef, home: str) -> ConfigError:
    return ConfigError(f"task {task.id} last ran on {where(home)}, which does not answer from here: {how(home)} "
                       "to work with it there")


def state_or_fail(task: TaskDef, here: StateStore) -> StateStore:
    """state_for, for a command that needs the live state: a clear error when its Redis does not answer."""
    store = state_for(task, here)
    if store is None:
        raise unreachable(task, elsewhere(task) or "")
    return store


def check_not_running_elsewhere(task: TaskDef, here: str | None = None) -> None:
    """A task runs in one place: starting it here while it runs on its other Redis would run it twice."""
    home = elsewhere(task, here)
    if home is None:
        return
    store = _store(home)
    if store is None:
        raise unreachable(task, home)
    status = store.status(task.id)
    if status in ACTIVE:
        raise ConfigError(f"task {task.id} is {status} on {where(home)}: {how(home)} and stop it there first")


@cache
def _store(home: str) -> StateStore | None:
    import redis

    from worker.state import StateStore

    if home == "embedded":
        from worker import embedded

        url = embedded.url()
    elif "***" in home:  # a server that needs a password this process does not have
        return None
    else:
        url = home
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return None
    return StateStore(client)
