"""Live state in Redis: task status, table states and statistics, jobs and leases.

Every Redis key name lives in this module::

    dms:tasks                         set     ids of tasks with jobs that may need recovery
    dms:task:{task}                   hash    Status, StopReason, phase, dates, P0, failure, ...
    dms:task:{task}:tables            hash    table -> TableSchema JSON (the plan)
    dms:task:{task}:states            hash    table -> internal state (pending|loading|loaded|live|completed|failed)
    dms:task:{task}:stats:{table}     hash    DMS TableStatistics fields
    dms:task:{task}:jobs              hash    job -> waiting|queued|running|handoff|done|stopped|failed
    dms:task:{task}:waiting           list    full-load jobs held back by MaxFullLoadSubTasks, next first
    dms:task:{task}:sending           hash    job -> when it was claimed from the waiting list, until it is sent
    dms:task:{task}:lease:{job}       string  owner id, with a TTL renewed by the job's heartbeat
    dms:task:{task}:cache:{table}     stream  changes cached while the table loads (worker/cache.py)
    dms:task:{task}:spill:{table}     stream  a live table's changes beyond MemoryLimitTotal, until their
                                              source transaction ends and applies (worker/cdc/large.py)
    dms:task:{task}:rate:{second}     hash    rows counted in that epoch second (throughput), expires
    dms:task:{task}:series:{start}    hash    the console's hour of latencies and counts (worker/series.py)
    dms:task:{task}:chunks:{table}    hash    "ranges" -> the table's load chunks (KeyRange JSON list);
                                              "done:{i}" -> rows loaded by chunk i
    dms:task:{task}:chunks:{table}:tries hash  chunk i -> loads of it begun
    dms:task:{task}:validating        set     validation jobs comparing now (at most ThreadCount)
    dms:task:{task}:events            list    the task's last EVENTS_KEPT events (JSON), oldest first
    dms:instance:{instance}:worker:{name}  string  a live worker of the instance (expires unless renewed)
    dms:instance:{instance}:seen      string  when a worker of the instance last said it was alive
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from string import Template
from typing import Any

import redis

from connectors.base import KeyRange, Position, TableId, TableSchema
from connectors.model.states import (
    ACTIVE,
    BUSY,
    HALTING,
    TABLE_REFUSED,
    TABLE_TRANSITIONS,
    TASK_REFUSED,
    TASK_TRANSITIONS,
    JobState,
    Status,
    TableStage,
    check,
    refused,
)

from . import logs, series
from .schemas import schema_from_json, schema_to_json  # noqa: F401 (imported from here too)

log = logs.get_logger(__name__)

# Rows counted per epoch second for throughput figures; buckets outlive any window read from them.
RATE_BUCKET_TTL = 120

# Events kept per task (`dms task events`): failures, recoveries, starts and stops.
EVENTS_KEPT = 200

# Job names: one full-load job per table (plus one per chunk of a table loaded in chunks), one
# CDC job per task, one validation job per table (ValidationSettings).
FULL_LOAD_PREFIX = "full_load:"
CDC_JOB = "cdc"
VALIDATE_PREFIX = "validate:"


def validate_job(table: TableId | str) -> str:
    return f"{VALIDATE_PREFIX}{table}"


def full_load_job(table: TableId | str, chunk: int | None = None) -> str:
    """``full_load:<table>`` for a table's job, ``full_load#<chunk>:<table>`` for one of its chunks."""
    return f"full_load#{chunk}:{table}" if chunk is not None else f"{FULL_LOAD_PREFIX}{table}"


def parse_full_load_job(job: str) -> tuple[str, int | None]:
    """(table, chunk or None) of a full-load job name."""
    if job.startswith(FULL_LOAD_PREFIX):
        return job.removeprefix(FULL_LOAD_PREFIX), None
    chunk, _, table = job.removeprefix("full_load#").partition(":")
    return table, int(chunk)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
# A job in state ARGV[3] whose lease has expired switches to ARGV[2] (queued to run again, or
# stopped); only one caller wins the switch.
_RECLAIM = """
if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[3] and redis.call('exists', KEYS[2]) == 0 then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""

# Record chunk ARGV[1] as loaded with ARGV[2] rows, counted into FullLoadRows the first time only;
# returns how many chunks are loaded.
_CHUNK_DONE = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('hincrby', KEYS[2], 'FullLoadRows', ARGV[2])
end
return redis.call('hlen', KEYS[1]) - 1
"""

# Take one of ARGV[2] validation threads for job ARGV[1]; a thread whose job's lease (ARGV[3] .. job) has
# expired is free again, so a killed worker holds none.
_VALIDATION_THREAD = """
local n = 0
for _, job in ipairs(redis.call('smembers', KEYS[1])) do
  if job ~= ARGV[1] then
    if redis.call('exists', ARGV[3] .. job) == 1 then n = n + 1 else redis.call('srem', KEYS[1], job) end
  end
end
if n >= tonumber(ARGV[2]) then return 0 end
redis.call('sadd', KEYS[1], ARGV[1])
return 1
"""

# A queued job seen without its message: the first sighting notes the time (it may be starting right
# now); one seen so for ARGV[2] seconds is stranded, for one caller only.
_STRANDED = """
local seen = redis.call('get', KEYS[1])
if not seen then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 0
end
if tonumber(ARGV[1]) - tonumber(seen) >= tonumber(ARGV[2]) then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""


# Move waiting full-load jobs to "queued" while fewer than the task's max_full_load_subtasks full-load
# jobs are queued or running, in the waiting list's order; returns them. Atomic: two callers never
# claim one job, and together never pass the limit. Each claimed job stays in the sending hash until
# it is sent, so one claimed by a process that died before sending it is sent by a reclaimer.
_DISPATCH = Template("""
if redis.call('hget', KEYS[1], 'Status') ~= '$task_running' then return {} end
local limit = tonumber(redis.call('hget', KEYS[1], 'max_full_load_subtasks') or '8')
local active = 0
local jobs = redis.call('hgetall', KEYS[2])
for i = 1, #jobs, 2 do
  local s = jobs[i + 1]
  if string.sub(jobs[i], 1, 9) == 'full_load' and (s == '$queued' or s == '$running' or s == '$handoff') then
    active = active + 1
  end
end
local claimed = {}
while active < limit do
  local job = redis.call('lpop', KEYS[3])
  if not job then break end
  if redis.call('hget', KEYS[2], job) == '$waiting' then
    redis.call('hset', KEYS[2], job, '$queued')
    redis.call('hset', KEYS[4], job, ARGV[1])
    claimed[#claimed + 1] = job
    active = active + 1
  end
end
return claimed
""").substitute({str(s): str(s) for s in (*BUSY, JobState.WAITING)}, task_running=Status.RUNNING)


# Claim a task for starting unless it is already active; returns the status it had.
_CLAIM_START = Template("""
local status = redis.call('hget', KEYS[1], 'Status') or '$ready'
if status == '$starting' or status == '$running' or status == '$stopping' then return {0, status} end
redis.call('hset', KEYS[1], 'Status', '$starting')
return {1, status}
""").substitute({str(s): str(s) for s in (*ACTIVE, Status.READY)})


# Write the task's fields (ARGV[n+2] ..., name/value pairs) unless its Status is one of the n states
# ARGV[2 .. n+1]; returns {written, the Status it had ('' for none)}.
_SET_STATUS = """
local previous = redis.call('hget', KEYS[1], 'Status')
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  if ARGV[i] == previous then return {0, previous} end
end
redis.call('hset', KEYS[1], unpack(ARGV, n + 2))
return {1, previous or ''}
"""


# Set table ARGV[1]'s state to ARGV[2] and its statistics (ARGV[n+4] ..., name/value pairs) unless its
# state is one of the n states ARGV[4 .. n+3]; returns {written, the state it had ('' for none)}.
_SET_TABLE_STATE = """
local previous = redis.call('hget', KEYS[1], ARGV[1])
local n = tonumber(ARGV[3])
for i = 4, n + 3 do
  if ARGV[i] == previous then return {0, previous} end
end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('hset', KEYS[2], unpack(ARGV, n + 4))
return {1, previous or ''}
"""


class StateStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._reclaim = client.register_script(_RECLAIM)
        self._claim_start = client.register_script(_CLAIM_START)
        self._chunk_done = client.register_script(_CHUNK_DONE)
        self._validation_thread = client.register_script(_VALIDATION_THREAD)
        self._dispatch = client.register_script(_DISPATCH)
        self._stranded = client.register_script(_STRANDED)
        self._set_status = client.register_script(_SET_STATUS)
        self._set_table_state = client.register_script(_SET_TABLE_STATE)

    # -- key names -------------------------------------------------------------------------------

    @staticmethod
    def task_key(task: str) -> str:
        return f"dms:task:{task}"

    @staticmethod
    def cache_key(task: str, table: TableId | str) -> str:
        return f"dms:task:{task}:cache:{table}"

    @staticmethod
    def spill_key(task: str, table: TableId | str) -> str:
        return f"dms:task:{task}:spill:{table}"

    def drop_spills(self, task: str) -> None:
        self._delete_matching(task, "spill:*")

    def _stats_key(self, task: str, table: TableId | str) -> str:
        return f"dms:task:{task}:stats:{table}"

    # -- task ------------------------------------------------------------------------------------

    def task(self, task: str) -> dict[str, str]:
        return self.r.hgetall(self.task_key(task))

    def set_task(self, task: str, **fields: Any) -> bool:
        """Write fields of the task; one that sets Status is checked against the task's transitions
        (connectors/model/states.py): an illegal one is logged, and refused (nothing written, False) when
        it is in TASK_REFUSED."""
        mapping = {k: _text(v) for k, v in fields.items()}
        status = fields.get("Status")
        if status is None:
            self.r.hset(self.task_key(task), mapping=mapping)
            return True
        refusing = refused(TASK_REFUSED, status)
        args = [len(refusing), *refusing, *(x for pair in mapping.items() for x in pair)]
        written, previous = self._set_status(keys=[self.task_key(task)], args=args)
        previous = previous or None
        if not check(TASK_TRANSITIONS, previous, status):
            log.warning("illegal_task_transition", task=task, previous=previous, status=str(status),
                        refused=not written)
        return bool(written)

    def clear_task_fields(self, task: str, *names: str) -> None:
        if names:
            self.r.hdel(self.task_key(task), *names)

    def add_task_count(self, task: str, name: str, n: int) -> int:
        """Add to a counter of the task; returns its new value."""
        return int(self.r.hincrby(self.task_key(task), name, n))

    def claim_start(self, task: str) -> tuple[bool, str]:
        """Atomically move a task that is not active to starting: (claimed, previous status)."""
        claimed, previous = self._claim_start(keys=[self.task_key(task)])
        return bool(claimed), previous

    def status(self, task: str) -> str:
        return self.r.hget(self.task_key(task), "Status") or Status.READY

    def task_status(self, task: str) -> str | None:
        """The task's Status; None once its live state is gone (Redis restarted empty, or flushed), as
        Status is never deleted."""
        return self.r.hget(self.task_key(task), "Status")

    def stop_requested(self, task: str) -> bool:
        return self.r.hget(self.task_key(task), "Status") in (*HALTING, None)

    def p0(self, task: str) -> Position | None:
        text = self.r.hget(self.task_key(task), "p0")
        return Position.decode(text) if text else None

    def resume_at(self, task: str) -> Position | None:
        """Where the task's change stream starts: P0, or the position last acknowledged (all before it is on the
        target) when later in the same log: a source keeping no capture of its own would read again from P0."""
        p0, acked = self.r.hmget(self.task_key(task), ["p0", "cdc_acked"])
        if not p0:
            return None
        start = Position.decode(p0)
        if acked and (upto := Position.decode(acked)).log == start.log and upto > start:
            return upto
        return start

    def forget_task(self, task: str) -> None:
        self._delete_matching(task, "*")
        self.r.delete(self.task_key(task))
        self.r.srem("dms:tasks", task)

    def reset_run(self, task: str) -> None:
        """Forget the progress of a previous run: table states, statistics, caches and jobs."""
        self._delete_matching(task, "states", "snapshots", "jobs", "stats:*", "cache:*", "spill:*", "lease:*",
                              "rate:*", "chunks:*", "validating", "waiting", "sending")

    def _delete_matching(self, task: str, *patterns: str) -> None:
        keys = [k for p in patterns for k in self.r.scan_iter(match=f"dms:task:{task}:{p}", count=1000)]
        if keys:
            self.r.delete(*keys)

    def active_tasks(self) -> set[str]:
        return self.r.smembers("dms:tasks")

    def set_active(self, task: str, active: bool) -> None:
        (self.r.sadd if active else self.r.srem)("dms:tasks", task)

    # -- tables ----------------------------------------------------------------------------------

    def save_tables(self, task: str, schemas: Iterable[TableSchema]) -> None:
        key = f"dms:task:{task}:tables"
        mapping = {str(s.table): schema_to_json(s) for s in schemas}
        pipe = self.r.pipeline()
        pipe.delete(key)
        if mapping:
            pipe.hset(key, mapping=mapping)
        pipe.execute()

    def save_table(self, task: str, schema: TableSchema) -> None:
        """One table's plan, as a schema change on the source left it (or a table created there)."""
        self.r.hset(f"dms:task:{task}:tables", str(schema.table), schema_to_json(schema))

    def drop_table(self, task: str, table: TableId | str) -> None:
        """A table dropped on the source (or renamed out of the rules) leaves the plan; its statistics stay."""
        self.r.hdel(f"dms:task:{task}:tables", str(table))
        self.r.hdel(f"dms:task:{task}:states", str(table))

    def tables(self, task: str) -> dict[TableId, TableSchema]:
        raw = self.r.hgetall(f"dms:task:{task}:tables")
        schemas = sorted((schema_from_json(v) for v in raw.values()), key=lambda s: s.table)
        return {s.table: s for s in schemas}

    def table_states(self, task: str) -> dict[str, str]:
        return self.r.hgetall(f"dms:task:{task}:states")

    def set_snapshot_position(self, task: str, table: TableId | str, major: int) -> None:
        """Where a keyless table's load snapshot is exact: its cached changes apply from there on."""
        self.r.hset(f"dms:task:{task}:snapshots", str(table), major)

    def snapshot_positions(self, task: str) -> dict[str, int]:
        """Each keyless table's, by table name."""
        return {name: int(major) for name, major in self.r.hgetall(f"dms:task:{task}:snapshots").items()}

    def set_table_state(self, task: str, table: TableId | str, state: TableStage, **stats: Any) -> bool:
        """Set a table's state, the TableState it shows and statistics; checked against the table's
        transitions (connectors/model/states.py): an illegal one is logged, and refused (nothing written,
        False) when it is in TABLE_REFUSED."""
        state = TableStage(state)
        stats["TableState"] = state.shown
        stats["LastUpdateTime"] = time.time()
        refusing = refused(TABLE_REFUSED, state)
        pairs = (x for k, v in stats.items() for x in (k, _text(v)))
        keys = [f"dms:task:{task}:states", self._stats_key(task, table)]
        written, previous = self._set_table_state(keys=keys, args=[str(table), state, len(refusing), *refusing, *pairs])
        previous = previous or None
        if not check(TABLE_TRANSITIONS, previous, state):
            log.warning("illegal_table_transition", task=task, table=str(table), previous=previous, state=str(state),
                        refused=not written)
        return bool(written)

    def set_table_stats(self, task: str, table: TableId | str, **stats: Any) -> None:
        self.r.hset(self._stats_key(task, table), mapping={k: _text(v) for k, v in stats.items()})

    def add_stats(self, task: str, counts: dict[str, dict[str, int]], rates: dict[str, int] | None = None) -> None:
        """Add counters per table in one round trip: {table: {"Inserts": 3, ...}}, and rate counts."""
        pipe = self.r.pipeline(transaction=False)
        now = time.time()
        for table, fields in counts.items():
            key = self._stats_key(task, table)
            for name, n in fields.items():
                if n:
                    pipe.hincrby(key, name, n)
            pipe.hset(key, "LastUpdateTime", now)
        self._count(pipe, task, now, rates or {})
        pipe.execute()

    # -- throughput ------------------------------------------------------------------------------

    def _rate_key(self, task: str, second: int) -> str:
        return f"dms:task:{task}:rate:{second}"

    def _count(self, pipe: redis.client.Pipeline, task: str, now: float, rates: dict[str, int]) -> None:
        key = self._rate_key(task, int(now))
        counted = False
        for name, n in rates.items():
            if n:
                pipe.hincrby(key, name, n)
                counted = True
        if counted:
            pipe.expire(key, RATE_BUCKET_TTL)
            series.add_counts(pipe, task, now, rates)

    def count(self, task: str, **rates: int) -> None:
        """Count rows for throughput in this second's bucket (any number of workers may add to it)."""
        pipe = self.r.pipeline(transaction=False)
        self._count(pipe, task, time.time(), rates)
        pipe.execute()

    def counted(self, task: str, first: int, last: int) -> dict[str, int]:
        """Rows counted per name over the epoch seconds first..last, both included."""
        pipe = self.r.pipeline(transaction=False)
        for second in range(first, last + 1):
            pipe.hgetall(self._rate_key(task, second))
        totals: dict[str, int] = {}
        for bucket in pipe.execute():
            for name, n in bucket.items():
                totals[name] = totals.get(name, 0) + int(n)
        return totals

    def cached_changes(self, task: str, tables: Iterable[TableId | str]) -> int:
        """Changes waiting in the change caches of these tables."""
        pipe = self.r.pipeline(transaction=False)
        for table in tables:
            pipe.xlen(self.cache_key(task, table))
        return sum(pipe.execute())

    def table_stats(self, task: str, table: TableId | str) -> dict[str, str]:
        return self.r.hgetall(self._stats_key(task, table))

    # -- load chunks -----------------------------------------------------------------------------

    def _chunks_key(self, task: str, table: TableId | str) -> str:
        return f"dms:task:{task}:chunks:{table}"

    def _tries_key(self, task: str, table: TableId | str) -> str:
        return f"{self._chunks_key(task, table)}:tries"

    def save_chunks(self, task: str, table: TableId | str, ranges: Sequence[KeyRange]) -> None:
        key = self._chunks_key(task, table)
        pipe = self.r.pipeline()
        pipe.delete(key, self._tries_key(task, table))
        pipe.hset(key, "ranges", json.dumps([r.to_json() for r in ranges]))
        pipe.execute()

    def chunks(self, task: str, table: TableId | str) -> list[KeyRange] | None:
        """The key ranges a table is loaded in, or None while it is not split."""
        text = self.r.hget(self._chunks_key(task, table), "ranges")
        return [KeyRange.from_json(r) for r in json.loads(text)] if text else None

    def chunks_done(self, task: str, table: TableId | str) -> dict[int, int]:
        """Chunk index -> rows it loaded, for the chunks loaded so far."""
        raw = self.r.hgetall(self._chunks_key(task, table))
        return {int(k.removeprefix("done:")): int(v) for k, v in raw.items() if k.startswith("done:")}

    def chunk_try(self, task: str, table: TableId | str, chunk: int) -> bool:
        """Record that a load of the chunk begins; True if one began before (its rows may be in)."""
        return self.r.hincrby(self._tries_key(task, table), str(chunk), 1) > 1

    def chunk_done(self, task: str, table: TableId | str, chunk: int, rows: int) -> int:
        """Record a loaded chunk (its rows count once, however often it ran); returns the chunks loaded."""
        keys = [self._chunks_key(task, table), self._stats_key(task, table)]
        return int(self._chunk_done(keys=keys, args=[f"done:{chunk}", rows]))

    # -- validation threads (ValidationSettings.ThreadCount) ----------------------------------------

    def take_validation_thread(self, task: str, job: str, threads: int) -> bool:
        keys = [f"dms:task:{task}:validating"]
        return bool(self._validation_thread(keys=keys, args=[job, threads, self._lease_key(task, "")]))

    def release_validation_thread(self, task: str, job: str) -> None:
        self.r.srem(f"dms:task:{task}:validating", job)

    # -- jobs and leases -------------------------------------------------------------------------

    def set_job(self, task: str, job: str, state: JobState) -> None:
        self.r.hset(f"dms:task:{task}:jobs", job, state)

    def jobs(self, task: str) -> dict[str, str]:
        return self.r.hgetall(f"dms:task:{task}:jobs")

    def hold(self, task: str, jobs: Sequence[str], first: bool = False) -> None:
        """Full-load jobs wait for a place under MaxFullLoadSubTasks: after those waiting, or before them
        (``first``: a started table's chunks go before tables not started, so tables finish one by one)."""
        if not jobs:
            return
        pipe = self.r.pipeline()
        pipe.hset(f"dms:task:{task}:jobs", mapping=dict.fromkeys(jobs, JobState.WAITING))
        if first:
            pipe.lpush(f"dms:task:{task}:waiting", *reversed(jobs))
        else:
            pipe.rpush(f"dms:task:{task}:waiting", *jobs)
        pipe.execute()

    def clear_waiting(self, task: str) -> None:
        self.r.delete(f"dms:task:{task}:waiting", f"dms:task:{task}:sending")

    def claim_waiting(self, task: str) -> list[str]:
        """The waiting jobs that may start now, switched to queued (see _DISPATCH); send each, then `sent`."""
        keys = [self.task_key(task), f"dms:task:{task}:jobs", f"dms:task:{task}:waiting", f"dms:task:{task}:sending"]
        return list(self._dispatch(keys=keys, args=[time.time()]))

    def sent(self, task: str, job: str) -> None:
        self.r.hdel(f"dms:task:{task}:sending", job)

    def unsent(self, task: str, older_than: float) -> list[str]:
        """Jobs claimed longer ago than ``older_than`` seconds and still not sent (their sender died); each
        is returned to one caller only, and only while it is still queued."""
        key = f"dms:task:{task}:sending"
        cutoff = time.time() - older_than
        stale = [job for job, when in self.r.hgetall(key).items() if float(when) < cutoff]
        jobs = self.jobs(task) if stale else {}
        return [job for job in stale if self.r.hdel(key, job) and jobs.get(job) == JobState.QUEUED]

    def _lease_key(self, task: str, job: str) -> str:
        return f"dms:task:{task}:lease:{job}"

    def stranded(self, task: str, job: str, queue: str, after_s: float) -> bool:
        """A queued job whose message has not been in its broker queue for ``after_s`` seconds: a worker
        took it and died before the job began (it lies in the broker's unacknowledged set until the
        visibility timeout). True for one caller only, which sends the job again."""
        key = f"dms:task:{task}:stranded:{job}"
        if self.r.llen(queue):  # its message may still be waiting there
            self.r.delete(key)
            return False
        return bool(self._stranded(keys=[key], args=[time.time(), after_s, int(after_s * 3000)]))

    def take_lease(self, task: str, job: str, owner: str, ttl_ms: int) -> bool:
        return bool(self.r.set(self._lease_key(task, job), owner, nx=True, px=ttl_ms))

    def renew_lease(self, task: str, job: str, owner: str, ttl_ms: int) -> bool:
        return bool(self._renew(keys=[self._lease_key(task, job)], args=[owner, ttl_ms]))

    def release_lease(self, task: str, job: str, owner: str) -> None:
        self._release(keys=[self._lease_key(task, job)], args=[owner])

    def leased(self, task: str, jobs: Sequence[str]) -> list[str]:
        """Those of ``jobs`` whose lease is held: running, ending, or their worker died less than a lease ago."""
        owners = self.r.mget([self._lease_key(task, job) for job in jobs]) if jobs else []
        return [job for job, owner in zip(jobs, owners, strict=True) if owner is not None]

    def register_worker(self, instance: str, name: str, ttl_s: float) -> None:
        now = str(time.time())
        pipe = self.r.pipeline(transaction=False)
        pipe.set(f"dms:instance:{instance}:worker:{name}", now, px=int(ttl_s * 1000))
        pipe.set(f"dms:instance:{instance}:seen", now)  # outlives the worker: how long the instance was alone
        pipe.execute()

    def worker_seen(self, instance: str) -> float | None:
        """When a worker of the instance last said it was alive (None: never, since Redis was last empty)."""
        seen = self.r.get(f"dms:instance:{instance}:seen")
        return float(seen) if seen else None

    def unregister_worker(self, instance: str, name: str) -> None:
        self.r.delete(f"dms:instance:{instance}:worker:{name}")

    def workers(self, instance: str) -> list[str]:
        prefix = f"dms:instance:{instance}:worker:"
        return sorted(k.removeprefix(prefix) for k in self.r.scan_iter(match=prefix + "*", count=1000))

    # -- events --------------------------------------------------------------------------------

    def add_event(self, task: str, category: str, message: str) -> None:
        """Keep an event of the task (DMS's event categories: failure, recovery, state change, ...)."""
        key = f"dms:task:{task}:events"
        event = json.dumps({"Date": time.time(), "EventCategories": [category], "Message": message})
        pipe = self.r.pipeline(transaction=False)
        pipe.rpush(key, event)
        pipe.ltrim(key, -EVENTS_KEPT, -1)
        pipe.execute()

    def events(self, task: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(f"dms:task:{task}:events", 0, -1)]

    def reclaim(self, task: str, job: str, to: JobState = JobState.QUEUED, frm: JobState = JobState.RUNNING) -> bool:
        """Switch a job in state `frm` that holds no lease to `to`; True for the one caller that wins."""
        keys = [f"dms:task:{task}:jobs", self._lease_key(task, job)]
        return bool(self._reclaim(keys=keys, args=[job, to, frm]))


def _text(value: Any) -> str:
    if isinstance(value, Position):
        return value.encode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
