"""ReloadTables: one table of a running task loaded again while the others go on replicating.

The table goes back to pending. The CDC job, at its next flush, first applies what it already batched
for the table, then caches the table's changes from there on, and says so (``seen``); only then does
the table's full-load job empty the target table and read its snapshot. So every change of the table
is either in the snapshot or in the cache (applied, idempotently, once the load ends), and none is
applied to the target table between its emptying and its snapshot, where it would be lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from connectors.base import TableId
from connectors.model.states import TableStage, ValidationState

from . import logs
from .job import Job
from .state import StateStore

log = logs.get_logger(__name__)
REQUESTED, SEEN = "requested", "seen"
RELOADABLE = (TableStage.LIVE, TableStage.COMPLETED, TableStage.FAILED)  # DMS reloads failed tables too


def _key(task: str) -> str:
    return f"dms:task:{task}:reloads"


def begin(state: StateStore, task: str, table: TableId | str, *, validating: bool) -> str | None:
    """Put the table back to pending for a reload (its chunks and statistics of the load reset); returns
    the state it was in, or None when it is in no state a reload may start from (still loading)."""
    states, name = f"dms:task:{task}:states", str(table)
    with state.r.pipeline() as pipe:
        while True:
            try:
                # Not set_table_state: a failed table must stay failed for every late writer but this one.
                pipe.watch(states)
                current = pipe.hget(states, name)
                if current not in RELOADABLE:
                    pipe.unwatch()
                    return None
                pipe.multi()
                pipe.hset(states, name, TableStage.PENDING)
                stats = {"TableState": TableStage.PENDING.shown, "FullLoadRows": 0, "LastUpdateTime": time.time(),
                         "FullLoadReloaded": "true"}
                if validating:
                    stats["ValidationState"] = ValidationState.PENDING_VALIDATION
                pipe.hset(state._stats_key(task, table), mapping=stats)
                pipe.hdel(state._stats_key(task, table), "TableError", "FullLoadEndTime")
                pipe.delete(f"dms:task:{task}:chunks:{table}", f"dms:task:{task}:chunks:{table}:tries")
                pipe.hset(_key(task), name, REQUESTED)
                pipe.execute()
                return current
            except redis.WatchError:
                continue


def requested(state: StateStore, task: str, table: TableId | str) -> bool:
    """A reload of the table is under way (until the table is loaded again)."""
    return state.r.hexists(_key(task), str(table))


def waiting(state: StateStore, task: str, tables: Iterable[str]) -> list[str]:
    """Of these tables, those whose reload waits for the CDC job to cache their changes (one round trip)."""
    asked = state.r.hgetall(_key(task))
    return [t for t in tables if asked.get(t) == REQUESTED] if asked else []


def acknowledge(state: StateStore, task: str, tables: Iterable[str]) -> None:
    """The CDC job caches these tables' changes from now on: their reloads may empty them."""
    state.r.hset(_key(task), mapping=dict.fromkeys(tables, SEEN))


def wait_until_cached(job: Job, table: TableId) -> None:
    """Before a reload empties the table: wait until the CDC job caches its changes."""
    said = False
    while job.state.r.hget(_key(job.task), str(table)) == REQUESTED:
        if not said:
            log.info("reload_waits_for_cdc", table=str(table))
            said = True
        job.check()
        time.sleep(0.1)


def done(state: StateStore, task: str, table: TableId | str) -> None:
    state.r.hdel(_key(task), str(table))
