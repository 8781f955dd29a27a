"""When the changes read are cut into an apply batch, and how many may be held in memory.

Batches are cut only at a source transaction's end, so the target never shows part of one: when the
batch is full, when its oldest change has waited long enough, or as soon as nothing more is read yet
(low latency while changes trickle in, big batches while a backlog is read).
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.model.settings import TaskSettings

FLUSH_SECONDS = 0.25  # longest a read change waits before it is applied or cached
MIN_FLUSH_SECONDS = 0.02  # shortest gap between two flushes while changes trickle in
MAX_BATCH = 20_000  # changes per apply transaction, cut at a source transaction's end
# MemoryLimitTotal (MB) -> changes held before the rest of a source transaction spills to Redis. A
# change of a narrow row takes about 650 bytes in memory; 2 KB leaves room for wide ones.
CHANGES_PER_MB = 500


@dataclass(frozen=True)
class Batching:
    min_flush: float  # seconds between two flushes at least, unless the batch is full
    flush_seconds: float  # seconds between two flushes at most
    max_batch: int  # changes per apply batch (BatchSplitSize)
    max_transaction: int  # changes of one source transaction held in memory before they spill

    @classmethod
    def of(cls, settings: TaskSettings) -> Batching:
        tuning = settings.tuning
        if settings.target_metadata.BatchApplyEnabled:
            # DMS's batch apply: batches gather at least BatchApplyTimeoutMin (unless full), and wait
            # at most BatchApplyTimeoutMax, which OpenDMS caps at FLUSH_SECONDS for latency's sake.
            min_flush = float(tuning.BatchApplyTimeoutMin)
            flush_seconds = max(min_flush, min(FLUSH_SECONDS, float(tuning.BatchApplyTimeoutMax)))
        else:
            min_flush = MIN_FLUSH_SECONDS
            flush_seconds = min(FLUSH_SECONDS, float(tuning.CommitTimeout))
        return cls(min_flush, flush_seconds, tuning.BatchSplitSize or MAX_BATCH,
                   tuning.MemoryLimitTotal * CHANGES_PER_MB)

    def due(self, pending: int, waited: float, idle: bool) -> bool:
        """At a transaction's end: flush now? (``waited``: seconds since the last flush; ``idle``:
        everything read so far has been handed on.)"""
        return pending >= self.max_batch or waited >= self.flush_seconds or (waited >= self.min_flush and idle)

    def streams(self) -> bool:
        """A transaction larger than a batch may stream; else (MemoryLimitTotal below a batch) it spills."""
        return self.max_batch <= self.max_transaction
