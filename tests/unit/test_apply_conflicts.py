"""DMS's ApplyError*Policy without servers: resolve() must leave out exactly the changes that one-by-one
apply under the policies would, and the settings must map to the targets' three answers."""

from __future__ import annotations

import itertools
import random

import pytest

from connectors.base import Change, OnConflict, Op
from connectors.model.settings import ErrorBehavior
from connectors.net_effect import expectations, first_ops, net_effect, resolve
from tests.unit.test_net_effect import KEYS, SCHEMA, dele, ins, random_changes, upd, upd_partial

R, S, F = OnConflict.RESOLVE, OnConflict.SKIP, OnConflict.FAIL


def one_by_one(table: dict[int, dict], changes: list[Change], rules: dict[Op, OnConflict]):
    """The reference: each change against the table as it is, DMS's way."""
    table = {k: dict(v) for k, v in table.items()}
    conflicts = []
    for c in changes:
        if c.op is Op.INSERT:
            k = c.after["id"]
            if k in table and rules[Op.INSERT] is not R:
                conflicts.append(c)
                continue
            table[k] = dict(c.after)  # INSERT_RECORD: the existing row takes the insert's values
        elif c.op is Op.UPDATE:
            old = (c.before or c.after)["id"]
            if old not in table:
                if rules[Op.UPDATE] is not R:
                    conflicts.append(c)
                elif len(c.after) == len(SCHEMA.columns):  # UPDATE_RECORD: the missing row is inserted
                    table[c.after["id"]] = dict(c.after)
                continue
            row = table.pop(old)
            row.update(c.after)
            table[c.after["id"]] = row
        elif c.op is Op.DELETE:
            k = c.before["id"]
            if k not in table:
                if rules[Op.DELETE] is not R:
                    conflicts.append(c)
                continue
            del table[k]
    return table, conflicts


def apply_net(table: dict[int, dict], changes: list[Change]) -> dict[int, dict]:
    """The targets' idempotent set-based apply."""
    deletes, upserts, partial = net_effect(SCHEMA, changes)
    table = {k: dict(v) for k, v in table.items()}
    for (k,) in deletes:
        table.pop(k, None)
    for row in upserts.values():
        table[row["id"]] = dict(row)
    for (k,), values in partial.items():
        if k in table:  # UPDATE ... WHERE key: a missing row stays missing
            table[k].update(values)
    return table


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rules", [
    {Op.INSERT: S, Op.UPDATE: S, Op.DELETE: R},  # DMS's defaults
    {Op.INSERT: S, Op.UPDATE: S, Op.DELETE: S},
    {Op.INSERT: R, Op.UPDATE: S, Op.DELETE: S},
    {Op.INSERT: S, Op.UPDATE: R, Op.DELETE: R},
])
def test_resolve_then_net_effect_equals_one_by_one_under_the_policies(seed: int, rules: dict) -> None:
    rng = random.Random(seed)
    source = {k: {"id": k, "a": f"s{k}", "b": f"t{k}"} for k in KEYS if rng.random() < 0.5}
    # The target has drifted: some rows missing, some extra, so inserts, updates and deletes conflict.
    target = {k: dict(v) for k, v in source.items() if rng.random() < 0.7}
    target.pop(min(source), None)
    target.update({k: {"id": k, "a": "extra", "b": "row"} for k in KEYS if k not in source and rng.random() < 0.6})
    changes = random_changes(rng, source, 600)
    cuts = sorted(rng.sample(range(1, len(changes)), 40))
    state = target
    seen_conflicts = 0
    for lo, hi in itertools.pairwise([0, *cuts, len(changes)]):
        batch = changes[lo:hi]
        want, want_conflicts = one_by_one(state, batch, rules)
        kept, conflicts = resolve(SCHEMA, batch, [(k,) for k in state], rules)
        assert [c.change for c in conflicts] == want_conflicts
        assert all(c.change not in kept for c in conflicts)
        state = apply_net(state, kept)
        assert state == want, (seed, lo, hi)
        seen_conflicts += len(conflicts)
    if all(rule is S for rule in rules.values()):
        assert seen_conflicts > 0  # the drift made some


def test_conflicts_name_the_key_in_dms_words() -> None:
    rules = {Op.INSERT: S, Op.UPDATE: S, Op.DELETE: S}
    kept, conflicts = resolve(SCHEMA, [ins(1), upd(2), dele(3), ins(4)], [(1,)], rules)
    assert [c.change.op for c in conflicts] == [Op.INSERT, Op.UPDATE, Op.DELETE]
    assert conflicts[0].error == "duplicate key: public.t already has a row with (id)=(1)"
    assert conflicts[1].error == "0 rows affected: public.t has no row with (id)=(2) to update"
    assert conflicts[2].error == "0 rows affected: public.t has no row with (id)=(3) to delete"
    assert [c.after["id"] for c in kept] == [4]


def test_a_row_inserted_earlier_in_the_run_is_there_for_its_update() -> None:
    kept, conflicts = resolve(SCHEMA, [ins(5), upd_partial(5, a="x"), dele(5), dele(5)], [],
                              {Op.INSERT: S, Op.UPDATE: S, Op.DELETE: S})
    assert len(kept) == 3 and [c.change.op for c in conflicts] == [Op.DELETE]


def test_expectations_follow_each_keys_first_change() -> None:
    run = [ins(1), upd(1), upd(2), dele(3), upd(5, old=4), ins(5)]
    assert first_ops(SCHEMA, run) == {(1,): Op.INSERT, (2,): Op.UPDATE, (3,): Op.DELETE, (4,): Op.UPDATE,
                                      (5,): None}
    assert expectations({Op.INSERT: S, Op.UPDATE: S, Op.DELETE: R}) == {
        Op.INSERT: False, Op.UPDATE: True, Op.DELETE: None, None: None}
    assert expectations({Op.INSERT: R, Op.UPDATE: R, Op.DELETE: F}) == {
        Op.INSERT: None, Op.UPDATE: None, Op.DELETE: True, None: None}


@pytest.mark.parametrize(("settings", "rules"), [
    ({}, {Op.INSERT: S, Op.UPDATE: S, Op.DELETE: R}),
    ({"ApplyErrorInsertPolicy": "INSERT_RECORD", "ApplyErrorUpdatePolicy": "UPDATE_RECORD"},
     {Op.INSERT: R, Op.UPDATE: R, Op.DELETE: R}),
    ({"ApplyErrorInsertPolicy": "IGNORE_RECORD", "ApplyErrorUpdatePolicy": "SUSPEND_TABLE",
      "ApplyErrorDeletePolicy": "LOG_ERROR"}, {Op.INSERT: S, Op.UPDATE: F, Op.DELETE: S}),
    ({"ApplyErrorInsertPolicy": "STOP_TASK", "ApplyErrorUpdatePolicy": "IGNORE_RECORD",
      "ApplyErrorDeletePolicy": "STOP_TASK"}, {Op.INSERT: F, Op.UPDATE: S, Op.DELETE: F}),
])
def test_policies_map_to_the_targets_answers(settings: dict, rules: dict) -> None:
    assert ErrorBehavior.model_validate(settings).on_conflict() == rules


def test_a_policy_value_dms_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="ApplyErrorDeletePolicy"):
        ErrorBehavior.model_validate({"ApplyErrorDeletePolicy": "DELETE_RECORD"})
    with pytest.raises(ValueError, match="ApplyErrorInsertPolicy"):
        ErrorBehavior.model_validate({"ApplyErrorInsertPolicy": "UPDATE_RECORD"})
