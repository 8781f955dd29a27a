"""A task's last hour in BUCKET-second steps, for the console's graphs: CDC latencies and row throughputs.

Workers write it as they report (worker/state.py adds every throughput count to its bucket, the CDC job's
statistics its latencies), the console reads it. Each bucket is a hash ``dms:task:{task}:series:{start}``
(listed with the other keys in worker/state.py) that expires KEEP seconds after it was last written, so
nothing is kept beyond the hour and nothing needs cleaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

BUCKET = 10  # seconds per point: 360 points for the hour
KEEP = 3600 + 2 * BUCKET

# The highest latency reported in the bucket wins: a graph of the worst is what an operator watches.
_MAX = """
for i = 1, #ARGV - 1, 2 do
  local now = tonumber(redis.call('hget', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > now then redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('expire', KEYS[1], ARGV[#ARGV])
"""

# Per-second counters (worker/metrics.py's _COUNTERS) -> the throughput each one averages into.
THROUGHPUTS = {
    "FullLoadRowsSource": "FullLoadThroughputRowsSource",
    "FullLoadRowsTarget": "FullLoadThroughputRowsTarget",
    "CDCRowsSource": "CDCThroughputRowsSource",
    "CDCRowsTarget": "CDCThroughputRowsTarget",
}
LATENCIES = ("CDCLatencySource", "CDCLatencyTarget")


def key(task: str, start: int) -> str:
    return f"dms:task:{task}:series:{start}"


def _start(now: float) -> int:
    return int(now) // BUCKET * BUCKET


def add_counts(pipe: redis.client.Pipeline, task: str, now: float, counts: dict[str, int]) -> None:
    """Rows counted now, added to their bucket (queued on the caller's pipeline: no round trip of its own)."""
    name = key(task, _start(now))
    for counter, n in counts.items():
        if n:
            pipe.hincrby(name, counter, n)
    pipe.expire(name, KEEP)


def add_latencies(client: redis.Redis, task: str, now: float, fields: Mapping[str, object]) -> None:
    """CDCLatencySource/CDCLatencyTarget among a report's ``fields``; the bucket keeps the highest of each."""
    args: list[Any] = []
    for name in LATENCIES:
        if fields.get(name) is not None:
            args += [name, fields[name]]
    if args:
        client.eval(_MAX, 1, key(task, _start(now)), *args, KEEP)


def read(client: redis.Redis, task: str, now: float, seconds: int = 3600) -> list[dict[str, Any]]:
    """One point per bucket over the last ``seconds``, oldest first: ``t`` (the bucket's start, epoch
    seconds), each throughput in rows/s over the bucket, and each latency (None where none was reported).
    The current, unfinished bucket is left out, as worker/metrics.py leaves out the current second."""
    last = _start(now) - BUCKET
    starts = range(last - seconds + BUCKET, last + 1, BUCKET)
    pipe = client.pipeline(transaction=False)
    for start in starts:
        pipe.hgetall(key(task, start))
    points = []
    for start, bucket in zip(starts, pipe.execute(), strict=True):
        point: dict[str, Any] = {"t": start}
        for counter, metric in THROUGHPUTS.items():
            point[metric] = round(int(bucket.get(counter) or 0) / BUCKET, 1)
        for name in LATENCIES:
            point[name] = float(bucket[name]) if name in bucket else None
        points.append(point)
    return points
