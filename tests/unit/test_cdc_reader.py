"""worker/cdc/reader.py: the change stream read ahead on a thread, without servers."""

from __future__ import annotations

import threading
import time

import pytest
from cdc_parts import SCHEMA, Memory, T

from connectors.base import Change, Op, Position
from worker.cdc.reader import Reader


def _change(txn: int, i: int) -> Change:
    return Change(T, Op.INSERT, Position("log", txn, i), None, {"id": i, "s": "x"}, None, str(txn))


def test_items_come_out_in_order_and_idle_says_when_all_read_were_handed_on() -> None:
    items = [_change(1, 1), _change(1, 2), Position("log", 1, 2), _change(2, 1), Position("log", 2, 1)]
    reader = Reader(item for item in items)  # a generator, as sources give: it has close()
    try:
        out = []
        for item in reader:
            out.append(item)
            if len(out) == len(items):
                break
        assert out == items
        deadline = time.monotonic() + 5
        while not reader.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.idle()
    finally:
        reader.close()


def test_a_memory_source_stream_through_the_reader() -> None:
    mem = Memory()
    try:
        mem.src_db.insert(T, {"id": 1, "s": "a"}, {"id": 2, "s": "b"})
        mem.src_db.update(T, (1,), {"s": "c"})
        reader = Reader(mem.source.stream(mem.task, mem.p0, [SCHEMA]))
        seen: list = []
        for item in reader:
            seen.append(item)
            if isinstance(item, Position) and item.minor == 0:
                break  # the heartbeat after both transactions: the source is idle
        reader.close()
        changes = [i for i in seen if isinstance(i, Change)]
        assert [(c.op, c.after) for c in changes] == [(Op.INSERT, {"id": 1, "s": "a"}),
                                                      (Op.INSERT, {"id": 2, "s": "b"}),
                                                      (Op.UPDATE, {"id": 1, "s": "c"})]
        ends = [i for i in seen if isinstance(i, Position) and i.minor]
        assert ends == [changes[1].position, changes[2].position]  # each transaction's end follows it
    finally:
        mem.close()


def test_an_error_of_the_stream_comes_out_after_what_was_read_before_it() -> None:
    def stream():
        yield _change(1, 1)
        yield Position("log", 1, 1)
        raise RuntimeError("source went away")

    reader = Reader(stream())
    out = []
    with pytest.raises(RuntimeError, match="source went away"):
        for item in reader:
            out.append(item)
    reader.close()
    assert out == [_change(1, 1), Position("log", 1, 1)]


def test_the_reader_stops_ahead_of_the_applier_and_close_ends_its_thread() -> None:
    produced = 0
    closed = threading.Event()

    def endless():
        nonlocal produced
        try:
            while True:
                produced += 1
                yield _change(produced, 1)
        finally:
            closed.set()

    reader = Reader(endless())
    time.sleep(0.5)
    assert produced <= Reader.AHEAD + Reader.LIST + 1  # held back: at most AHEAD items wait for the applier
    reader.close()
    assert closed.wait(5) and not reader.thread.is_alive()
