"""Every target's batch collapse: net_effect must equal applying changes one by one."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from connectors.base import Change, Column, Op, Position, TableId, TableSchema
from connectors.net_effect import net_effect, rekeys_partially, segments

T = TableId("public", "t")
SCHEMA = TableSchema(T, (Column("id", "int4", False), Column("a", "text"), Column("b", "text")), ("id",))
_seq = itertools.count(1)


def ch(op: Op, before: dict | None = None, after: dict | None = None) -> Change:
    n = next(_seq)
    return Change(T, op, Position("L", n, 1), before, after)


def ins(i: int, a: Any = "a", b: Any = "b") -> Change:
    return ch(Op.INSERT, None, {"id": i, "a": a, "b": b})


def upd(i: int, a: Any = "a2", b: Any = "b2", old: int | None = None) -> Change:
    return ch(Op.UPDATE, None if old is None else {"id": old}, {"id": i, "a": a, "b": b})


def upd_partial(i: int, **cols: Any) -> Change:
    return ch(Op.UPDATE, None, {"id": i, **cols})


def dele(i: int) -> Change:
    return ch(Op.DELETE, {"id": i}, None)


def net(*changes: Change) -> tuple[list, list, dict]:
    deletes, upserts, partial = net_effect(SCHEMA, list(changes))
    return deletes, list(upserts.values()), partial


def test_insert() -> None:
    assert net(ins(1, "x", "y")) == ([], [{"id": 1, "a": "x", "b": "y"}], {})


def test_insert_then_update_merges_into_upsert() -> None:
    assert net(ins(1), upd(1, "p", "q")) == ([], [{"id": 1, "a": "p", "b": "q"}], {})


def test_full_update_is_an_upsert() -> None:
    assert net(upd(4, "p", None)) == ([], [{"id": 4, "a": "p", "b": None}], {})


def test_partial_update_goes_to_partial_only() -> None:
    deletes, upserts, partial = net(upd_partial(2, a="new"))
    assert deletes == [] and upserts == []
    assert partial == {(2,): {"id": 2, "a": "new"}}


def test_partial_updates_of_one_row_accumulate() -> None:
    _, _, partial = net(upd_partial(2, a="1"), upd_partial(2, b="2"), upd_partial(2, a="3"))
    assert partial == {(2,): {"id": 2, "a": "3", "b": "2"}}


def test_partial_update_after_insert_merges_into_upsert() -> None:
    assert net(ins(1, "x", "big-toast"), upd_partial(1, a="y")) == (
        [], [{"id": 1, "a": "y", "b": "big-toast"}], {})


def test_full_update_after_partial_replaces_it() -> None:
    assert net(upd_partial(1, a="y"), upd(1, "p", "q")) == ([], [{"id": 1, "a": "p", "b": "q"}], {})


def test_delete_after_insert_is_only_a_delete() -> None:
    assert net(ins(1), upd_partial(1, a="z"), dele(1)) == ([(1,)], [], {})


def test_delete_after_partial_drops_the_partial() -> None:
    assert net(upd_partial(1, a="z"), dele(1)) == ([(1,)], [], {})


def test_insert_after_delete_is_only_an_upsert() -> None:
    assert net(dele(1), ins(1, "n", "m")) == ([], [{"id": 1, "a": "n", "b": "m"}], {})


def test_key_change_with_full_image() -> None:
    assert net(upd(2, "x", "y", old=1)) == ([(1,)], [{"id": 2, "a": "x", "b": "y"}], {})


def test_key_change_of_a_row_inserted_in_the_batch() -> None:
    assert net(ins(1, "x", "y"), upd(2, "x", "y", old=1)) == ([(1,)], [{"id": 2, "a": "x", "b": "y"}], {})


def test_chained_key_changes() -> None:
    deletes, upserts, partial = net(upd(2, "x", "y", old=1), upd(3, "x2", "y2", old=2))
    assert sorted(deletes) == [(1,), (2,)]
    assert upserts == [{"id": 3, "a": "x2", "b": "y2"}]
    assert partial == {}


def test_key_swap_back() -> None:
    deletes, upserts, _ = net(upd(2, "x", "y", old=1), upd(1, "p", "q", old=2))
    assert deletes == [(2,)]
    assert upserts == [{"id": 1, "a": "p", "b": "q"}]


def test_delete_of_a_key_never_seen() -> None:
    assert net(dele(99)) == ([(99,)], [], {})


def test_delete_uses_the_before_image_key_only() -> None:
    full_before = ch(Op.DELETE, {"id": 5, "a": "x", "b": "y"}, None)
    assert net(full_before) == ([(5,)], [], {})


def test_update_with_unchanged_key_in_before_image() -> None:
    assert net(upd(3, "x", "y", old=3)) == ([], [{"id": 3, "a": "x", "b": "y"}], {})


def test_composite_key() -> None:
    schema = TableSchema(T, (Column("k1", "int4"), Column("k2", "text"), Column("v", "text")), ("k1", "k2"))
    changes = [
        ch(Op.INSERT, None, {"k1": 1, "k2": "a", "v": "x"}),
        ch(Op.UPDATE, {"k1": 1, "k2": "a"}, {"k1": 1, "k2": "b", "v": "y"}),
        ch(Op.UPDATE, None, {"k1": 7, "k2": "z", "v": "w"}),
    ]
    deletes, upserts, partial = net_effect(schema, changes)
    upserts = list(upserts.values())
    assert deletes == [(1, "a")]
    assert upserts == [{"k1": 1, "k2": "b", "v": "y"}, {"k1": 7, "k2": "z", "v": "w"}]
    assert partial == {}


def testrekeys_partially() -> None:
    assert rekeys_partially(SCHEMA, ch(Op.UPDATE, {"id": 1}, {"id": 2, "a": "x"}))
    assert not rekeys_partially(SCHEMA, ch(Op.UPDATE, {"id": 1}, {"id": 2, "a": "x", "b": "y"}))  # full image
    assert not rekeys_partially(SCHEMA, ch(Op.UPDATE, {"id": 1}, {"id": 1, "a": "x"}))  # same key
    assert not rekeys_partially(SCHEMA, ch(Op.UPDATE, None, {"id": 1, "a": "x"}))  # no before image
    assert not rekeys_partially(SCHEMA, ch(Op.INSERT, None, {"id": 1, "a": "x"}))
    assert not rekeys_partially(SCHEMA, ch(Op.DELETE, {"id": 1}, None))


# --- property: net effect == one by one ---------------------------------------------------------

KEYS = range(8)


def random_changes(rng: random.Random, start: dict[int, dict], n: int) -> list[Change]:
    """A change stream a real database could produce from ``start`` (partial images never re-key)."""
    table = {k: dict(v) for k, v in start.items()}
    out: list[Change] = []

    def value() -> Any:
        return rng.choice([None, "", "x", "y", "z", 1, 2.5]) if rng.random() < 0.3 else f"v{rng.randrange(1000)}"

    while len(out) < n:
        present = sorted(table)
        absent = [k for k in KEYS if k not in table]
        kind = rng.choice(["insert", "full", "partial", "partial", "rekey", "delete"])
        if kind == "insert" and absent:
            k = rng.choice(absent)
            row = {"id": k, "a": value(), "b": value()}
            table[k] = row
            out.append(ch(Op.INSERT, None, dict(row)))
        elif kind == "full" and present:
            k = rng.choice(present)
            row = {"id": k, "a": value(), "b": value()}
            before = rng.choice([None, {"id": k}, dict(table[k])])  # replica identity default / full
            table[k] = row
            out.append(ch(Op.UPDATE, before, dict(row)))
        elif kind == "partial" and present:
            k = rng.choice(present)
            cols = rng.choice([("a",), ("b",), ()])  # the others are unchanged TOAST
            after = {"id": k, **{c: value() for c in cols}}
            table[k].update(after)
            out.append(ch(Op.UPDATE, None, after))
        elif kind == "rekey" and present and absent:
            old, new = rng.choice(present), rng.choice(absent)
            row = {"id": new, "a": value(), "b": value()}
            del table[old]
            table[new] = row
            out.append(ch(Op.UPDATE, {"id": old}, dict(row)))
        elif kind == "delete" and present:
            k = rng.choice(present)
            del table[k]
            out.append(ch(Op.DELETE, rng.choice([{"id": k}, {"id": k, "a": "ignored"}]), None))
    return out


def apply_one_by_one(table: dict[int, dict], changes: list[Change]) -> dict[int, dict]:
    table = {k: dict(v) for k, v in table.items()}
    for c in changes:
        if c.op is Op.DELETE:
            del table[c.before["id"]]
        elif c.op is Op.INSERT:
            assert c.after["id"] not in table
            table[c.after["id"]] = dict(c.after)
        else:
            old = (c.before or c.after)["id"]
            row = table.pop(old)
            row.update(c.after)
            table[c.after["id"]] = row
    return table


def apply_net(table: dict[int, dict], changes: list[Change]) -> dict[int, dict]:
    deletes, by_key, partial = net_effect(SCHEMA, changes)
    upserts = list(by_key.values())
    up_keys = [(u["id"],) for u in upserts]
    assert len(set(deletes)) == len(deletes) and len(set(up_keys)) == len(up_keys)
    assert not set(deletes) & set(up_keys)
    assert not set(partial) & (set(deletes) | set(up_keys))
    table = {k: dict(v) for k, v in table.items()}
    for (k,) in deletes:
        table.pop(k, None)  # DELETE ... WHERE key IN (...): a missing row is fine
    for row in upserts:
        assert set(row) == {"id", "a", "b"}  # an upsert always carries every column
        table[row["id"]] = dict(row)  # INSERT ... ON CONFLICT DO UPDATE
    for (k,), values in partial.items():
        assert k in table, f"partial update of row {k}, which is not there"
        table[k].update(values)  # UPDATE ... FROM (VALUES ...) WHERE key matches
    return table


@pytest.mark.parametrize("seed", range(4))
def test_net_effect_equals_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    start = {k: {"id": k, "a": f"s{k}", "b": f"t{k}"} for k in KEYS if rng.random() < 0.5}
    changes = random_changes(rng, start, 2_000)
    expected_final = apply_one_by_one(start, changes)
    assert apply_net(start, changes) == expected_final  # the whole stream as one batch
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(changes)), rng.randrange(1, 200)))
        state = start
        for lo, hi in itertools.pairwise([0, *cuts, len(changes)]):
            batch = changes[lo:hi]
            want = apply_one_by_one(state, batch)
            state = apply_net(state, batch)
            assert state == want, (seed, lo, hi)
        assert state == expected_final


def test_random_streams_exercise_every_path() -> None:
    rng = random.Random(0)
    changes = random_changes(rng, {}, 2_000)
    kinds = {(c.op, bool(c.before) and c.after is not None and c.before["id"] != c.after["id"],
              c.after is not None and len(c.after) < 3) for c in changes}
    assert (Op.UPDATE, True, False) in kinds  # re-key, full image
    assert (Op.UPDATE, False, True) in kinds  # partial
    assert (Op.INSERT, False, False) in kinds and (Op.DELETE, False, False) in kinds
    assert not any(rekeys_partially(SCHEMA, c) for c in changes)


def test_segments_cut_at_truncates_and_partial_rekeys() -> None:
    a, b = ins(1), upd(1)
    truncate = ch(Op.TRUNCATE)
    rekey = ch(Op.UPDATE, {"id": 1}, {"id": 2, "a": "x"})  # new image without column b
    c = ins(3)
    assert list(segments(SCHEMA, [a, b, truncate, rekey, c])) == [[a, b], truncate, rekey, [c]]
    assert list(segments(SCHEMA, [truncate])) == [truncate]
    assert list(segments(SCHEMA, [])) == []
