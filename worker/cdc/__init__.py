"""The CDC job: read the source's change stream, cache or apply each change, acknowledge the source.

One job per task, single owner by lease. For each change:

- its table is live: it joins the next apply batch (skipped if the target's checkpoint for that
  table is already at or past it, as after a restart);
- its table is still loading: it goes to the table's change cache in Redis;
- when a table's load has finished ("loaded"), its cache is applied from the start, in order,
  through the same idempotent apply, and the table goes live.

Positions move only after durability: a batch is applied together with its checkpoint in one
target transaction, and the source is acknowledged only up to what is applied while no table is
still caching (until then the source keeps its log from P0, so nothing rests on Redis alone).

Its parts, each driven on its own by tests/unit/test_cdc_*.py:

- reader.py: the source's stream, read ahead on a thread of its own;
- router.py: each change to the batch, the change cache of a loading table, or nowhere;
- batching.py: when a batch is cut (BatchApplyEnabled, BatchSplitSize, MemoryLimitTotal);
- applier.py: a batch mapped for the target and applied with its checkpoint, one in flight;
- policies.py: ErrorBehavior when changes do not apply (conflicts, data errors, escalation);
- large.py: a source transaction larger than a batch, streamed into one target transaction or spilled;
- stats.py: statistics, backlog and latencies;
- replicator.py: the job's loop that drives them, stop hooks and acknowledgements.
"""

from .replicator import run_cdc

__all__ = ["run_cdc"]
