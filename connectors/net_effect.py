"""How a target applies a batch of changes as set operations: the batch collapsed per key.

Every target applies the same way: cut the batch where a change must stand alone (a TRUNCATE, or a
key change whose new image lacks unchanged TOAST columns), and collapse each run between the cuts
into deletes, full-row upserts and partial updates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from connectors.base import Change, Op, TableSchema


def segments(schema: TableSchema, changes: Sequence[Change]) -> Iterator[list[Change] | Change]:
    """Runs to collapse with net_effect (lists), and the changes to apply alone, in order."""
    run: list[Change] = []
    for ch in changes:
        if ch.op is Op.TRUNCATE or rekeys_partially(schema, ch):
            if run:
                yield run
                run = []
            yield ch
        else:
            run.append(ch)
    if run:
        yield run


def rekeys_partially(schema: TableSchema, ch: Change) -> bool:
    """A key change whose new image lacks unchanged TOAST columns: only the old row has them."""
    if ch.op is not Op.UPDATE or not ch.before or ch.after is None or len(ch.after) >= len(schema.columns):
        return False
    return any(ch.before.get(k) != ch.after.get(k) for k in schema.key)


def net_effect(schema: TableSchema, changes: Sequence[Change]):
    """Collapse a run of changes (no TRUNCATE inside) into deletes, full-row upserts and partial updates.

    Applying them as deletes, then upserts, then partial updates gives the same table as applying
    the changes one by one. A partial update (unchanged TOAST columns absent) is a plain UPDATE:
    its row is missing only when a later change deletes or re-keys it anyway.
    """
    key = schema.key
    full = len(schema.columns)
    deletes: dict[tuple, None] = {}
    upserts: dict[tuple, dict[str, Any]] = {}
    partial: dict[tuple, dict[str, Any]] = {}
    for ch in changes:
        if ch.op is Op.INSERT or ch.op is Op.UPDATE:
            after = ch.after or {}
            new_k = tuple(after.get(k) for k in key)
            old_k = tuple(ch.before.get(k) for k in key) if ch.before else new_k
            if old_k != new_k:
                upserts.pop(old_k, None)
                partial.pop(old_k, None)
                deletes[old_k] = None
            if len(after) >= full:
                deletes.pop(new_k, None)
                partial.pop(new_k, None)
                upserts[new_k] = dict(after)
            elif new_k in upserts:
                upserts[new_k].update(after)
            else:
                partial.setdefault(new_k, {}).update(after)
        elif ch.op is Op.DELETE:
            k = tuple((ch.before or {}).get(k) for k in key)
            upserts.pop(k, None)
            partial.pop(k, None)
            deletes[k] = None
    return list(deletes), list(upserts.values()), partial
