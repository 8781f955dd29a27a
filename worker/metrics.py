"""A task's figures under DMS's CloudWatch names, read from live state; and their Prometheus endpoint.

Throughputs are rows per second averaged over the last WINDOW whole seconds, from per-second
counts that every worker adds to in Redis. Latencies and backlogs are the CDC job's latest report.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

from connectors.model.states import Status

from .app import redis_client
from .state import StateStore


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    meaning: str


# Throughput averages over this many whole seconds (the current, unfinished second is left out).
WINDOW = 5
# A running CDC job reports at least twice a second, idle or not (the source sends heartbeats); a
# report older than this means nothing is read or applied now.
STALE_SECONDS = float(os.environ.get("DMS_CDC_STALE_SECONDS", "5"))
LATENCIES = ("CDCLatencySource", "CDCLatencyTarget")

METRICS = (
    Metric("CDCLatencySource", "seconds",
           "from the source commit of the last change captured to now; 0 when capture is caught up and idle; "
           "grows with wall time while nothing is read (no live worker, source or target away)"),
    Metric("CDCLatencyTarget", "seconds",
           "from the source commit of the oldest change not yet applied to the target, to when it was applied; "
           "includes the source latency; 0 when caught up and idle; grows with wall time while nothing is applied"),
    Metric("CDCIncomingChanges", "changes",
           "changes read from the source and waiting to be applied to the target now (a backlog, not a rate)"),
    Metric("CDCChangesMemoryTarget", "changes",
           "changes held in the CDC job's memory, waiting for the next target commit"),
    Metric("CDCChangesDiskTarget", "changes",
           "changes parked in the change cache (Redis, append-only on disk) while their tables load"),
    Metric("FullLoadThroughputRowsSource", "rows/s", "rows read from the source by full-load jobs"),
    Metric("FullLoadThroughputRowsTarget", "rows/s", "rows written to the target by full-load jobs"),
    Metric("CDCThroughputRowsSource", "rows/s", "changes read from the source's log"),
    Metric("CDCThroughputRowsTarget", "rows/s", "changes applied to the target"),
)

# Per-second counters behind each throughput.
_COUNTERS = {
    "FullLoadThroughputRowsSource": "FullLoadRowsSource",
    "FullLoadThroughputRowsTarget": "FullLoadRowsTarget",
    "CDCThroughputRowsSource": "CDCRowsSource",
    "CDCThroughputRowsTarget": "CDCRowsTarget",
}
_GAUGES = ("CDCLatencySource", "CDCLatencyTarget", "CDCIncomingChanges", "CDCChangesMemoryTarget",
           "CDCChangesDiskTarget")


def cdc_silence(info: dict[str, str], now: float) -> float:
    """Seconds the running CDC job of a task (its live state ``info``) has not reported, once past
    STALE_SECONDS; 0 while it reports as it should, or when the task is not replicating."""
    replicating = info.get("MigrationType") in ("cdc", "full-load-and-cdc") and info.get("ValidationOnly") != "true"
    if info.get("Status") != Status.RUNNING or not replicating:
        return 0.0
    # Before its first report, the job has read nothing since the task started.
    last = max(float(info.get("cdc_reported") or 0), float(info.get("StartDate") or 0))
    silent = now - last if last else 0.0
    return silent if silent > STALE_SECONDS else 0.0


def cdc_latency(info: dict[str, str], now: float) -> dict[str, float]:
    """CDCLatencySource and CDCLatencyTarget now: the last report, plus the time since it once it is stale."""
    silent = cdc_silence(info, now)
    return {name: round(float(info.get(name) or 0) + silent, 3) for name in LATENCIES}


def task_metrics(state: StateStore, task: str, now: float | None = None) -> dict[str, float]:
    """Every figure of METRICS for one task, in METRICS order."""
    now = time.time() if now is None else now
    info = state.task(task)
    last = int(now) - 1
    seconds = WINDOW
    started = info.get("StartDate")
    if started:  # a task younger than the window: average over the whole seconds it has run
        seconds = max(1, min(WINDOW, last - int(float(started)) + 1))
    counted = state.counted(task, last - seconds + 1, last)
    running = info.get("Status") == Status.RUNNING
    latency = cdc_latency(info, now)
    figures: dict[str, float] = {}
    for m in METRICS:
        if m.name in latency:
            figures[m.name] = latency[m.name] if running else 0.0
        elif m.name in _COUNTERS:
            figures[m.name] = round(counted.get(_COUNTERS[m.name], 0) / seconds, 1)
        else:  # reported by the CDC job; nothing waits and nothing lags once the task is not running
            figures[m.name] = float(info.get(m.name) or 0) if running else 0.0
    return figures


def collect(state: StateStore, instance: str) -> Iterator[tuple[Metric, str, float]]:
    """(metric, task, value) for every active task of the instance."""
    for task in sorted(state.active_tasks()):
        if state.task(task).get("instance") != instance:
            continue
        figures = task_metrics(state, task)
        for m in METRICS:
            yield m, task, figures[m.name]


def process_memory() -> int:
    """This process's resident memory in bytes (DMS's MemoryUsage, per worker)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best the standard library knows
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def serve(port: int, address: str, instance: str, worker: str) -> None:
    """Prometheus text format on http://address:port/metrics: the instance's task figures and this worker's."""
    # Imported here: `dms task start` and `describe` read the figures above, and prometheus_client (with
    # its HTTP server) cost every such command's start about 0.08 s of CPU.
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.process_collector import ProcessCollector

    class _Collector:
        def collect(self):
            state = StateStore(redis_client())
            families = {m.name: GaugeMetricFamily(m.name, f"{m.meaning} ({m.unit})",
                                                  labels=["ReplicationInstanceIdentifier", "ReplicationTaskIdentifier"])
                        for m in METRICS}
            for m, task, value in collect(state, instance):
                families[m.name].add_metric([instance, task], value)
            yield from families.values()
            memory = GaugeMetricFamily("MemoryUsage", "resident memory of this worker process (bytes)",
                                       labels=["ReplicationInstanceIdentifier", "worker"])
            memory.add_metric([instance, worker], process_memory())
            yield memory

    registry = CollectorRegistry()
    registry.register(_Collector())
    ProcessCollector(registry=registry)
    start_http_server(port, addr=address, registry=registry)
