"""worker/cdc/batching.py and stats.py without servers: when a batch is cut, and the figures of a flush."""

from __future__ import annotations

from cdc_parts import T, settings, table_map

from connectors.base import Change, Conflict, Op, Position
from worker.cdc.batching import FLUSH_SECONDS, MAX_BATCH, MIN_FLUSH_SECONDS, Batching
from worker.cdc.stats import Tally, backlog


def test_default_batches_cut_at_a_quarter_second_at_most_and_as_soon_as_nothing_more_is_read() -> None:
    b = Batching.of(settings())
    assert (b.min_flush, b.flush_seconds, b.max_batch) == (MIN_FLUSH_SECONDS, FLUSH_SECONDS, MAX_BATCH)
    assert b.max_transaction == 1024 * 500 and b.streams()  # MemoryLimitTotal 1024 MB
    assert b.due(MAX_BATCH, 0.0, False)  # full
    assert b.due(1, FLUSH_SECONDS, False)  # waited long enough
    assert b.due(1, MIN_FLUSH_SECONDS, True) and not b.due(1, MIN_FLUSH_SECONDS, False)  # idle: low latency
    assert not b.due(1, 0.0, True)


def test_batch_apply_gathers_at_least_its_minimum_and_small_memory_spills_instead_of_streaming() -> None:
    b = Batching.of(settings(TargetMetadata={"BatchApplyEnabled": True},
                             ChangeProcessingTuning={"BatchApplyTimeoutMin": 1, "BatchApplyTimeoutMax": 30,
                                                     "BatchSplitSize": 1000, "MemoryLimitTotal": 1}))
    assert (b.min_flush, b.flush_seconds, b.max_batch, b.max_transaction) == (1.0, 1.0, 1000, 500)
    assert not b.due(1, 0.5, True) and b.due(1, 1.0, False)
    assert not b.streams()
    assert Batching.of(settings(ChangeProcessingTuning={"CommitTimeout": 1})).flush_seconds == FLUSH_SECONDS


def _ch(op: Op, i: int, t: float | None) -> Change:
    return Change(T, op, Position("log", 7, i), None, {"id": i, "s": "x"}, t, "7")


def test_a_tally_counts_per_source_table_and_takes_skipped_conflicts_off() -> None:
    m = table_map()
    changes = [_ch(Op.INSERT, 1, 20.0), _ch(Op.INSERT, 2, 20.0), _ch(Op.UPDATE, 3, 21.0), _ch(Op.DELETE, 4, None)]
    tally = Tally({m.target.table: m}).add({m.target: changes}).add({m.target: [_ch(Op.TRUNCATE, 5, 10.0)]})
    assert tally.counts == {"public.t": {"Inserts": 2, "Updates": 1, "Deletes": 1, "Ddls": 1}}
    assert tally.applied == 5 and tally.oldest == 10.0 and tally.last == {T: Position("log", 7, 5)}
    tally.skip([Conflict(m.target, changes[0], "duplicate key")])
    assert tally.counts["public.t"]["Inserts"] == 1 and tally.applied == 4


def test_backlog_figures_of_a_flush() -> None:
    busy = backlog(in_memory=3, cached=4, last=Position("log", 9, 1), caught_up=False, last_commit_read=90.0,
                   oldest=80.0, now=100.0)
    assert busy == {"CDCChangesMemoryTarget": 3, "CDCChangesDiskTarget": 4, "CDCIncomingChanges": 7,
                    "cdc_reported": 100.0, "cdc_read": Position("log", 9, 1), "CDCLatencySource": 10.0,
                    "CDCLatencyTarget": 20.0}
    idle = backlog(in_memory=0, cached=0, last=None, caught_up=True, last_commit_read=90.0, oldest=None, now=100.0)
    assert idle["CDCLatencySource"] == idle["CDCLatencyTarget"] == 0.0 and "cdc_read" not in idle
