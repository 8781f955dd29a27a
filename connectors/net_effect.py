"""How a target applies a batch of changes as set operations: the batch collapsed per key.

Every target applies the same way: cut the batch where a change must stand alone (a TRUNCATE, or a
key change whose new image lacks unchanged TOAST columns), and collapse each run between the cuts
into deletes, full-row upserts and partial updates.

Under DMS's apply-error policies a change may also be checked against what the target holds:
``first_ops`` says what each key expects, ``resolve`` plays a run one change at a time against the
keys found, so a conflicting change is left out exactly where one-by-one apply would meet it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from connectors.base import Change, Conflict, OnConflict, Op, Row, TableSchema
from connectors.errors import ApplyConflict

# Op's members as module names: on the per-change paths below, Op.X costs ten times a global.
_INSERT, _UPDATE, _DELETE, _TRUNCATE = Op.INSERT, Op.UPDATE, Op.DELETE, Op.TRUNCATE


def segments(schema: TableSchema, changes: Sequence[Change]) -> Iterator[list[Change] | Change]:
    """Runs to collapse with net_effect (lists), and the changes to apply alone, in order."""
    run: list[Change] = []
    for ch in changes:
        if ch.op is _TRUNCATE or (ch.before and ch.op is _UPDATE and rekeys_partially(schema, ch)):
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


def net_effect(schema: TableSchema, changes: Sequence[Change], firsts: dict[tuple, Op | None] | None = None
               ) -> tuple[list[tuple], dict[tuple, dict[str, Any]], dict[tuple, dict[str, Any]]]:
    """Collapse a run of changes (no TRUNCATE inside) into deletes (keys), full-row upserts and
    partial updates (each by key).

    Applying them as deletes, then upserts, then partial updates gives the same table as applying
    the changes one by one. A partial update (unchanged TOAST columns absent) is a plain UPDATE:
    its row is missing only when a later change deletes or re-keys it anyway. With ``firsts``, each
    key's first op is noted there on the way: what the run takes the target to hold before it, a row
    for an update or a delete, none for an insert; a key that a re-keying update moves onto first
    is None (nothing is expected of it). The rows returned may be the changes' own: read them only.
    """
    key = schema.key
    full = len(schema.columns)
    deletes: dict[tuple, None] = {}
    upserts: dict[tuple, dict[str, Any]] = {}
    partial: dict[tuple, dict[str, Any]] = {}
    noting = firsts is not None
    single = key[0] if len(key) == 1 else None  # most keys are one column: a 1-tuple is 5 times cheaper to make
    for ch in changes:
        op = ch.op
        if op is _INSERT or op is _UPDATE:
            after = ch.after or {}
            before = ch.before
            if single is not None:
                new_k = (after.get(single),)
                old_k = (before.get(single),) if before else new_k
            else:
                new_k = tuple(map(after.get, key))
                old_k = tuple(map(before.get, key)) if before else new_k
            if noting and old_k not in firsts:
                firsts[old_k] = op
            if old_k is not new_k and old_k != new_k:
                if noting and new_k not in firsts:
                    firsts[new_k] = None
                upserts.pop(old_k, None)
                partial.pop(old_k, None)
                deletes[old_k] = None
            if len(after) >= full:
                if deletes:  # mostly empty: no call then
                    deletes.pop(new_k, None)
                if partial:
                    partial.pop(new_k, None)
                upserts[new_k] = after  # the change's own row: never changed in place, only replaced
            elif new_k in upserts:
                upserts[new_k] = {**upserts[new_k], **after}
            else:
                partial.setdefault(new_k, {}).update(after)
        elif op is _DELETE:
            k = tuple(map((ch.before or {}).get, key))
            if noting and k not in firsts:
                firsts[k] = op
            upserts.pop(k, None)
            partial.pop(k, None)
            deletes[k] = None
    return list(deletes), upserts, partial


def key_of(schema: TableSchema, row: Row | None) -> tuple:
    return tuple(map((row or {}).get, schema.key))


def first_ops(schema: TableSchema, changes: Sequence[Change]) -> dict[tuple, Op | None]:
    """Each key's first op in a run (see net_effect)."""
    firsts: dict[tuple, Op | None] = {}
    net_effect(schema, changes, firsts)
    return firsts


def conflict_error(schema: TableSchema, ch: Change, key: tuple) -> str:
    """DMS's wording in awsdms_apply_exceptions, with the key that conflicted."""
    where = f"({', '.join(schema.key)})=({', '.join(str(v) for v in key)})" if schema.key else \
        f"every column equal to {dict(ch.before or ch.after or {})}"
    if ch.op is Op.INSERT:
        return f"duplicate key: {schema.table} already has a row with {where}"
    verb = "update" if ch.op is Op.UPDATE else "delete"
    return f"0 rows affected: {schema.table} has no row with {where} to {verb}"


def resolve(schema: TableSchema, changes: Sequence[Change], existing: Iterable[tuple],
            on_conflict: Mapping[Op, OnConflict]) -> tuple[list[Change], list[Conflict]]:
    """Play a run (no TRUNCATE inside) one change at a time against the keys the target holds:
    the changes to apply idempotently, and the conflicts of the ops to SKIP or FAIL, which are
    left out. Applying the kept changes then equals DMS's one-by-one apply under its policies."""
    present = dict.fromkeys(existing, True)
    kept: list[Change] = []
    conflicts: list[Conflict] = []
    for ch in changes:
        if ch.op is Op.INSERT:
            k = key_of(schema, ch.after)
            found, gone = present.get(k, False), None
        elif ch.op is Op.UPDATE:
            k = key_of(schema, ch.before) if ch.before else key_of(schema, ch.after)
            new_k = key_of(schema, ch.after)
            found, gone = present.get(k, False), (k if k != new_k else None)
        elif ch.op is Op.DELETE:
            k = key_of(schema, ch.before)
            found, gone = present.get(k, False), k
        else:
            kept.append(ch)
            continue
        expected = ch.op is not Op.INSERT
        if found != expected and checks(on_conflict, ch.op):
            conflicts.append(Conflict(schema, ch, conflict_error(schema, ch, k)))
            continue
        kept.append(ch)
        if gone is not None:
            present[gone] = False
        if ch.op is not Op.DELETE:
            # A partial update of a missing row inserts nothing: the row stays missing.
            full = ch.after is not None and len(ch.after) >= len(schema.columns)
            new_k = key_of(schema, ch.after)
            present[new_k] = present.get(new_k, False) or found or full
    return kept, conflicts


def checking(on_conflict: Mapping[Op, OnConflict] | None) -> Mapping[Op, OnConflict] | None:
    """The policies if any op is to be checked against the target; None when all resolve (no check)."""
    if on_conflict and any(checks(on_conflict, op) for op in on_conflict):
        return on_conflict
    return None


def checks(on_conflict: Mapping[Op, OnConflict] | None, op: Op) -> bool:
    """Whether changes of this op are checked against the target (their policy does not resolve)."""
    return bool(on_conflict) and on_conflict.get(op, OnConflict.RESOLVE) is not OnConflict.RESOLVE


def missed(schema: TableSchema, ch: Change, touched: int, on_conflict: Mapping[Op, OnConflict] | None
           ) -> list[Conflict]:
    """A change applied alone (a re-keying update with a partial image): its conflict, if it is checked
    and found no row."""
    if touched == 0 and checks(on_conflict, ch.op):
        return [Conflict(schema, ch, conflict_error(schema, ch, key_of(schema, ch.before)))]
    return []


def raise_fatal(conflicts: Sequence[Conflict], on_conflict: Mapping[Op, OnConflict] | None) -> None:
    """ApplyConflict for the conflicts whose policy fails the batch (the target then rolls it back)."""
    fatal = [c for c in conflicts if on_conflict and on_conflict.get(c.change.op) is OnConflict.FAIL]
    if fatal:
        raise ApplyConflict(fatal[0].error, fatal)


def expectations(on_conflict: Mapping[Op, OnConflict]) -> dict[Op | None, bool | None]:
    """What a key expects of the target before its run, by its first op (see net_effect): True, its
    row is there; False, it is not; None, nothing is checked (the op resolves, or nothing is expected)."""
    return {Op.INSERT: False if checks(on_conflict, Op.INSERT) else None,
            Op.UPDATE: True if checks(on_conflict, Op.UPDATE) else None,
            Op.DELETE: True if checks(on_conflict, Op.DELETE) else None, None: None}
