"""The console's hour of a task (worker/series.py), written and read on the tests' real Redis."""

from __future__ import annotations

import secrets
import time

import pytest

from worker import series
from worker.cdc.stats import Statistics

pytestmark = pytest.mark.integration


def test_counts_and_latencies_land_in_their_buckets(state):
    task = f"series-{secrets.token_hex(3)}"
    now = time.time()
    earlier = now - 5 * series.BUCKET
    pipe = state.r.pipeline(transaction=False)
    series.add_counts(pipe, task, earlier, {"FullLoadRowsTarget": 500, "CDCRowsTarget": 0})
    pipe.execute()
    series.add_latencies(state.r, task, earlier, {"CDCLatencySource": 1.5, "CDCLatencyTarget": 2.0})
    series.add_latencies(state.r, task, earlier, {"CDCLatencySource": 0.5, "CDCLatencyTarget": 3.25})
    state.count(task, CDCRowsTarget=40)  # through the state store, as the workers count: this bucket, unfinished

    points = series.read(state.r, task, now)
    assert len(points) == 3600 // series.BUCKET
    assert points[-1]["t"] == int(now) // series.BUCKET * series.BUCKET - series.BUCKET
    by_time = {p["t"]: p for p in points}
    point = by_time[int(earlier) // series.BUCKET * series.BUCKET]
    assert point["FullLoadThroughputRowsTarget"] == 500 / series.BUCKET
    assert point["CDCThroughputRowsTarget"] == 0
    assert point["CDCLatencySource"] == 1.5 and point["CDCLatencyTarget"] == 3.25  # the highest of the bucket
    assert sum(p["CDCThroughputRowsTarget"] for p in points) == 0  # the current bucket is not shown yet
    later = series.read(state.r, task, now + series.BUCKET)
    assert sum(p["CDCThroughputRowsTarget"] for p in later) == 40 / series.BUCKET
    assert all(p["CDCLatencySource"] is None for p in points if p is not point)
    assert 0 < state.r.ttl(series.key(task, point["t"])) <= series.KEEP


def test_cdc_reports_write_the_latency_series(state):
    task = f"series-{secrets.token_hex(3)}"
    stats = Statistics(state, task)
    now = time.time()
    stats.report(in_memory=3, cached=0, last=None, caught_up=False, last_commit_read=now - 4, oldest=now - 6,
                 now=now)
    bucket = {}  # the report's bucket: this one, or the one before if it just ended
    for when in (now, time.time()):
        bucket.update(state.r.hgetall(series.key(task, int(when) // series.BUCKET * series.BUCKET)))
    assert 3.9 < float(bucket["CDCLatencySource"]) < 5 and 5.9 < float(bucket["CDCLatencyTarget"]) < 7
