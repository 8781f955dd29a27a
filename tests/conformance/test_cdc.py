"""Change data capture for every (source, target) pair: what the stream sends, what the target ends with,
and where the target's checkpoint stands, through load, changes, stops, replays and validation.

Each test has a table and a task of its own; the expected rows are what the application wrote.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import Op

from .conftest import PAIRS
from .engines import Engine, key_tuple, names
from .pipeline import Pipeline

COLUMNS = [("id", "int8"), ("name", "text"), ("qty", "int4"), ("price", "numeric"), ("data", "bytes"),
           ("flag", "bool")]
_names = names()


def item(i: int, **values: Any) -> dict[str, Any]:
    row = {"id": i, "name": f"item {i}", "qty": i * 10, "price": Decimal(i) / 4, "data": bytes([i % 256]) * 3,
           "flag": i % 2 == 0}
    return {**row, **values}


class Case:
    """One test's table on the pair's source, its pipeline, and the rows the application expects."""

    def __init__(self, source: Engine, target: Engine, columns: list[tuple[str, str]] = COLUMNS,
                 key: tuple[str, ...] = ("id",)) -> None:
        n = next(_names)
        self.source, self.key = source, key
        self.table = source.create(f"t{n}_{target.name}", columns, key)
        self.pipe = Pipeline(source, target, self.table, f"conf{n}_{target.name}")
        self.rows: dict[tuple, dict[str, Any]] = {}

    def write(self, *ops: tuple) -> None:
        """One source transaction; the expected rows follow it."""
        self.source.write(self.table, ops)
        for op, *args in ops:
            if op == "insert":
                self.rows[self.key_of(args[0])] = dict(args[0])
            elif op == "update":
                new = {**self.rows.pop(key_tuple(args[0])), **args[1]}
                self.rows[self.key_of(new)] = new
            elif op == "delete":
                self.rows.pop(key_tuple(args[0]), None)
            else:
                self.rows.clear()

    def key_of(self, row: dict[str, Any]) -> tuple:
        return tuple(row[k] for k in self.key)

    def expected(self) -> list[dict[str, Any]]:
        return [self.rows[k] for k in sorted(self.rows)]

    def assert_converged(self) -> None:
        assert self.pipe.target_rows() == self.expected()
        result = self.pipe.validate()
        assert result.equal, result.to_json()


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, engines) -> tuple[Engine, Engine]:
    source, target = request.param
    if reason := engines[(target, "target")].cannot.get(request.function.__name__):
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    return engines[(source, "source")], engines[(target, "target")]


@pytest.fixture
def case(pair: tuple[Engine, Engine]) -> Iterator[Case]:
    made = Case(*pair)
    yield made
    made.pipe.close()
    made.pipe.drop()


def _loaded(case: Case, rows: int = 5) -> Pipeline:
    """The table with ``rows`` rows, capture started, loaded onto the target."""
    case.write(*(("insert", item(i)) for i in range(1, rows + 1)))
    pipe = case.pipe.open()
    pipe.start_cdc()
    assert pipe.load() == rows
    return pipe


def test_insert_update_delete(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("insert", item(6)))
    case.write(("update", 2, {"name": "renamed ✓", "qty": None, "data": b""}))
    case.write(("delete", 3))
    case.write(("insert", item(7)), ("update", 7, {"price": Decimal("-1.5")}), ("update", 4, {"flag": None}),
               ("delete", 5))
    txns = pipe.read(7)
    assert [c.op for changes, _ in txns for c in changes] == [
        Op.INSERT, Op.UPDATE, Op.DELETE, Op.INSERT, Op.UPDATE, Op.UPDATE, Op.DELETE]
    # A boundary ends a source transaction (not necessarily every one: SQLite's log marks only where it read to).
    cuts = list(itertools.accumulate(len(changes) for changes, _ in txns))
    assert set(cuts) <= {1, 2, 3, 7}
    positions = [p for changes, end in txns for p in [*(c.position for c in changes), end]]
    assert positions == sorted(positions) and positions[0] > pipe.p0
    assert pipe.apply(txns) == 7
    case.assert_converged()
    assert pipe.checkpoint() == txns[-1][0][-1].position


def test_primary_key_change(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("update", 1, {"id": 100}))
    case.write(("update", 2, {"id": 200, "name": "moved"}), ("insert", item(2, name="new row on an old key")))
    case.write(("update", 100, {"id": 101}), ("update", 101, {"id": 1, "qty": 7}))  # back where it started
    assert pipe.replicate(5) == 5
    case.assert_converged()


def test_truncate(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("truncate",))
    case.write(("insert", item(9)), ("insert", item(1, name="after the truncate")))
    txns = pipe.read(7 if case.source.truncate_as_deletes else 2)  # SQLite's capture sees a delete per row
    kinds = {c.op for changes, _ in txns for c in changes}
    assert kinds == ({Op.DELETE, Op.INSERT} if case.source.truncate_as_deletes else {Op.TRUNCATE, Op.INSERT})
    pipe.apply(txns)
    case.assert_converged()


def test_a_change_made_during_the_load_converges(case: Case) -> None:
    case.write(*(("insert", item(i)) for i in range(1, 9)))
    pipe = case.pipe.open()
    pipe.start_cdc()
    case.write(("update", 8, {"name": "changed after capture started, before the snapshot"}))
    pipe.target.prepare(pipe.schema, "drop")
    batches = pipe.source.snapshot(pipe.schema, batch_rows=2, ordered=True)
    first = next(batches)  # the load is under way
    case.write(("update", 1, {"name": "changed during the load"}), ("delete", 6), ("insert", item(20)))
    case.write(("update", 2, {"id": 21}))
    loaded = pipe.target.load(pipe.schema, itertools.chain([first], batches))
    assert loaded in (8, 9)  # the snapshot may or may not see the changes made while it is read
    pipe.replicate(5)  # the cached changes, applied after the load from P0
    case.assert_converged()


def test_stop_and_resume_from_the_checkpoint(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("insert", item(6)))
    assert pipe.replicate(1) == 1
    case.write(("update", 6, {"name": "applied, never acknowledged"}))
    applied = pipe.read(1)
    pipe.apply(applied, ack=False)  # the worker dies after the commit, before acknowledging the source
    checkpoint = pipe.checkpoint()
    assert checkpoint == applied[-1][0][-1].position
    pipe.close()
    case.write(("insert", item(7)), ("delete", 1))  # while stopped
    case.write(("update", 7, {"qty": 71}))  # a change (MySQL logs no row for an update to the same value)
    pipe.open()  # resumed: a new stream from its last acknowledgement, as the worker opens it
    txns = pipe.read(3)
    # Sent again: what the source was never told was applied, and at most the last transaction it was told
    # was (PostgreSQL: an acknowledgement at a commit's LSN leaves that commit to be decoded again).
    again = [c for changes, _ in txns for c in changes if not c.position > checkpoint]
    assert all(c.position.major >= pipe.acked.major for c in again)
    assert pipe.apply(txns) == 3  # exactly the changes made while stopped: no gap, nothing twice
    case.assert_converged()


def test_replaying_an_applied_batch_changes_nothing(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("update", 1, {"id": 11}), ("insert", item(1, name="reused key")), ("delete", 2))
    case.write(("update", 3, {"qty": 33}), ("insert", item(6)), ("update", 6, {"name": "six"}))
    txns = pipe.read(6)
    batch = pipe.batch(txns)
    pipe.target.apply(pipe.task, batch)
    after_once = pipe.target_rows()
    # A worker killed after the commit reads the batch again; applied again as it is, it must change nothing.
    pipe.target.apply(pipe.task, batch)
    assert pipe.target_rows() == after_once == case.expected()
    assert pipe.checkpoint() == txns[-1][0][-1].position


def test_a_batch_interrupted_midway_leaves_nothing(case: Case) -> None:
    pipe = _loaded(case)
    before = pipe.checkpoint()
    case.write(("update", 1, {"name": "first part"}), ("delete", 2), ("insert", item(6)))
    txns = pipe.read(3)
    batch = pipe.batch(txns)
    (schema, changes), = batch.items()

    def parts() -> Iterator[dict]:
        yield {schema: changes[:2]}  # a transaction too big for memory, read in parts
        raise ConnectionError("the worker died mid-batch")

    with pytest.raises(ConnectionError):
        pipe.target.apply(pipe.task, parts())
    assert pipe.target_rows() == [item(i) for i in range(1, 6)]
    assert pipe.checkpoint() == before
    pipe.apply(txns)
    case.assert_converged()


def test_delete_of_a_missing_row_is_harmless(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("delete", 4))
    case.write(("insert", item(8)))
    txns = pipe.read(2)
    batch = pipe.batch(txns)
    (schema, changes), = batch.items()
    pipe.target.apply(pipe.task, {schema: changes[:1]})
    pipe.target.apply(pipe.task, batch)  # the delete again, with the insert after it: its row is gone already
    case.assert_converged()
    assert pipe.checkpoint() == txns[-1][0][-1].position


def test_validation_finds_equal_and_differing_tables(case: Case) -> None:
    pipe = _loaded(case)
    assert pipe.validate().equal
    case.write(("update", 2, {"qty": 999}), ("delete", 3), ("insert", item(9)))  # not replicated
    result = pipe.validate()
    assert (result.different, result.missing_in_source, result.missing_in_target) == ([[2]], [[3]], [[9]])
    assert (result.mismatches, result.source_rows, result.target_rows) == (3, 5, 5)
    pipe.replicate(3)
    case.assert_converged()


def test_unchanged_large_values_survive_updates_and_key_changes(case: Case) -> None:
    big = "".join(chr(0x41 + (i * 7919) % 900) for i in range(60_000))  # stays out of line, compressed or not
    case.write(*(("insert", item(i)) for i in range(1, 4)), ("insert", item(4, name=big, data=big.encode()[:70_000])))
    pipe = case.pipe.open()
    pipe.start_cdc()
    pipe.load()
    case.write(("update", 4, {"qty": 44}))  # PostgreSQL sends the large values as "unchanged"
    case.write(("update", 4, {"id": 40, "flag": None}))  # and again with a key change: the old row moves
    case.write(("update", 40, {"qty": 400}), ("delete", 1))
    txns = pipe.read(4)
    if case.source.name == "postgres":  # the case this test is for: images without the unchanged values
        assert all("name" not in c.after for changes, _ in txns for c in changes if c.op is Op.UPDATE)
    assert pipe.apply(txns) == 4
    if case.source.name == "postgres" and not pipe.dst_engine.keeps_unsent_values:
        # The gap, asserted so that closing it shows: an image without the values leaves them NULL.
        assert [r["name"] for r in pipe.target_rows() if r["id"] == 40] == [None]
        return
    case.assert_converged()


def test_a_key_of_two_columns(pair: tuple[Engine, Engine]) -> None:
    case = Case(*pair, columns=[("region", "string"), ("id", "int4"), ("name", "text")], key=("region", "id"))
    try:
        case.write(*(("insert", {"region": r, "id": i, "name": f"{r}{i}"}) for r in ("east", "west") for i in (1, 2)))
        pipe = case.pipe.open()
        pipe.start_cdc()
        assert pipe.load(batch_rows=3) == 4
        case.write(("update", ("east", 1), {"region": "west", "id": 3}), ("update", ("west", 2), {"name": "w2"}))
        case.write(("delete", ("east", 2)), ("insert", {"region": "east", "id": 2, "name": "again"}))
        case.write(("update", ("west", 1), {"id": 9}))
        assert pipe.replicate(5) == 5
        case.assert_converged()
    finally:
        case.pipe.close()
        case.pipe.drop()


MANY_TYPES_COLUMNS = [("k_text", "text"), ("k_num", "numeric"), ("k_ts", "timestamp"), ("k_uuid", "uuid"),
                      ("k_bytes", "bytes"), ("k_date", "date"), ("v", "int4")]
MANY_TYPES_KEY = ("k_text", "k_num", "k_ts", "k_uuid", "k_bytes", "k_date")


def keys_of_many_types(case: Case) -> None:
    """Rows keyed by six columns of six types loaded, then updated (one moving its key) and deleted by key."""

    def row(i: int, text: str, num: str) -> dict[str, Any]:
        return {"k_text": text, "k_num": Decimal(num), "k_ts": f"2024-02-29 12:00:0{i}.25",
                "k_bytes": bytes([i, 0, 255]), "k_uuid": f"0000000{i}-0000-4000-8000-00000000000{i}",
                "k_date": f"200{i}-01-01", "v": i}

    rows = [row(1, "é ünïcode ☃", "1.5"), row(2, "tab\there", "-0.0001"), row(3, "", "12345678.1234"),
            row(4, "plain", "0")]
    try:
        case.write(*(("insert", r) for r in rows))
        pipe = case.pipe.open()
        pipe.start_cdc()
        pipe.load()
        case.write(("update", case.key_of(rows[0]), {"v": 10}), ("delete", case.key_of(rows[1])))
        case.write(("update", case.key_of(rows[2]), {"k_num": Decimal("2.25"), "v": 30}))
        assert pipe.replicate(3) == 3
        case.assert_converged()
    finally:
        case.pipe.close()
        case.pipe.drop()


def test_keys_of_many_types_find_their_rows(pair: tuple[Engine, Engine]) -> None:
    keys_of_many_types(Case(*pair, columns=MANY_TYPES_COLUMNS, key=MANY_TYPES_KEY))


def test_an_acknowledged_heartbeat_sends_nothing_again(case: Case) -> None:
    pipe = _loaded(case)
    case.write(("insert", item(6)))
    txns = pipe.read(1)
    pipe.apply(txns, ack=False)
    heartbeat = pipe.idle()  # the worker flushes at a heartbeat and acknowledges it (worker/cdc/replicator.py)
    assert heartbeat > txns[-1][1]
    pipe.ack(heartbeat)
    pipe.close()
    case.write(("update", 6, {"name": "after the restart"}))
    pipe.open()
    again = pipe.read(1)
    assert [c.op for changes, _ in again for c in changes] == [Op.UPDATE]  # nothing from before the heartbeat
    assert all(c.position > heartbeat for changes, _ in again for c in changes)
    pipe.apply(again)
    case.assert_converged()


def test_a_load_in_chunks_with_changes_between_them_converges(case: Case) -> None:
    case.write(*(("insert", item(i)) for i in range(1, 21)))
    pipe = case.pipe.open()
    pipe.start_cdc()
    pipe.target.prepare(pipe.schema, "drop")
    ranges = pipe.source.split(pipe.schema, 6)  # one range where the source does not split (SQLite)
    writes = iter([[("update", 2, {"name": "in a loaded chunk"}), ("update", 19, {"name": "in a chunk to come"})],
                   [("delete", 3), ("insert", item(25))], [("update", 20, {"id": 30})]])
    made = 0
    for i, chunk in enumerate(ranges):
        pipe.target.load(pipe.schema, pipe.source.snapshot(pipe.schema, within=chunk, batch_rows=4))
        ops = next(writes, [("update", 1, {"qty": i})])
        case.write(*ops)
        made += len(ops)
    if len(ranges) > 1:  # the first chunk's job ran again (its worker lost after the commit): it replaces its rows
        pipe.target.load(pipe.schema, pipe.source.snapshot(pipe.schema, within=ranges[0]), within=ranges[0])
    case.write(("delete", 1))
    assert pipe.replicate(made + 1) == made + 1  # the cached changes, from P0
    case.assert_converged()
