"""Redis target (keyed): a hash per row, named ``schema.table.pk``; the full load pipelined, each CDC batch
and the task's checkpoint in one MULTI/EXEC.

A batch is worked out here first, change by change as the Target contract states the result (an update
whose image lacks unchanged columns merges into the hash as it stands, read before), and then each key it
touched is written once, to its final hash or deleted, with each table's checkpoint, in one MULTI/EXEC:
Redis runs it whole or not at all, so a worker killed anywhere leaves the batch applied with its checkpoint
or not at all, and the batch read again from the source is skipped or applied once.

Control data lives beside the rows, under names DMS's rows cannot take (no dot before a colon):
``awsdms_txn_state:<task>`` (a hash, ``schema.table`` -> its last applied position) and
``awsdms_apply_exceptions`` (a list of JSON entries with the columns of DMS's table of that name).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions as rx

from connectors.base import (
    Batch,
    Change,
    Changes,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    Position,
    PrepMode,
    TableId,
    TableSchema,
    parts_of,
)
from connectors.net_effect import checking, checks, conflict_error, raise_fatal
from connectors.store_target import KeyedTarget

from . import values
from .connect import classify, client

_T = TypeVar("_T")
LOAD_ROWS = 2_000  # rows per pipelined round trip of a full load
SCAN_COUNT = 1_000
CHECK_SECONDS = 5
EXCEPTIONS = "awsdms_apply_exceptions"


def checkpoint_key(task: str) -> str:
    return f"awsdms_txn_state:{task}"


class RedisTarget(KeyedTarget):
    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.r: redis.Redis = client(endpoint)

    def _run(self, work: Callable[[redis.Redis], _T]) -> _T:
        try:
            return work(self.r)
        except rx.RedisError as exc:
            raise classify(exc, self.ep) from None

    def check(self) -> list[str]:
        """The server answers, and the user may write, read, scan and run MULTI/EXEC (a probe key, removed)."""
        probe = f"awsdms_probe:{time.time_ns()}"
        quick = client(self.ep, timeout=CHECK_SECONDS)  # a TLS port read as plain text never answers

        def work(r: redis.Redis) -> None:
            r.ping()
            with r.pipeline(transaction=True) as p:
                p.hset(probe, "probe", "1")
                p.expire(probe, 60)
                p.execute()
            r.hgetall(probe)
            r.scan(0, match="awsdms_probe:*", count=10)
            r.delete(probe)

        try:
            work(quick)
        except rx.RedisError as exc:
            return [str(classify(exc, self.ep))]
        finally:
            quick.close()
        return []

    # -- keys of a table ---------------------------------------------------------------------------

    def _keys(self, schema: TableSchema) -> Iterator[bytes]:
        yield from self._run(lambda r: list(r.scan_iter(match=values.pattern(schema), count=SCAN_COUNT)))

    def _empty(self, schema: TableSchema) -> int:
        """Delete every row of the table; the number deleted."""
        keys = list(self._keys(schema))
        for i in range(0, len(keys), SCAN_COUNT):
            self._run(lambda r, part=keys[i:i + SCAN_COUNT]: r.unlink(*part))
        return len(keys)

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """Redis has no tables: "drop" and "truncate" delete the table's keys, "keep" leaves them."""
        if mode != "keep":
            self._empty(table)

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        if mode != "truncate":
            return []
        emptied = sum(self._empty(t) > 0 for t in tables)
        return [f"TRUNCATE_BEFORE_LOAD emptied the {emptied} selected table(s) at once"]

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """Every row as its hash, pipelined LOAD_ROWS at a time (each replacing a hash of the same key). A chunk
        loaded again first deletes the rows of its key range, so rows deleted since go too."""
        if within is not None and not within.whole:
            self._drop_range(table, within)
        count = 0
        for batch in batches:
            rows = batch.rows()
            for i in range(0, len(rows), LOAD_ROWS):
                part = rows[i:i + LOAD_ROWS]

                def work(r: redis.Redis, part: list = part) -> None:
                    with r.pipeline(transaction=False) as p:
                        for row in part:
                            _overwrite(p, values.key(table, row), values.fields(table, row, full=True))
                        p.execute()

                self._run(work)
                count += len(part)
        return count

    def _drop_range(self, table: TableSchema, within: KeyRange) -> None:
        names = [c for c in table.columns if c.name in table.key]
        keys = list(self._keys(table))

        def work(r: redis.Redis) -> list:
            with r.pipeline(transaction=False) as p:
                for k in keys:
                    p.hmget(k, [c.name for c in names])
                return p.execute()

        found = self._run(work)
        by_name = {c.name: c for c in names}
        gone = []
        for k, got in zip(keys, found, strict=True):
            if None in got:
                continue
            held = dict(zip((c.name for c in names), got, strict=True))
            key = tuple(values.value(by_name[c], held[c]) for c in table.key)
            above = within.after is None or key > tuple(within.after)
            if above and (within.upto is None or key <= tuple(within.upto)):
                gone.append(k)
        if gone:
            self._run(lambda r: r.unlink(*gone))

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        checked = checking(on_conflict)
        tables: dict[TableId, tuple[TableSchema, list[Change]]] = {}
        for part in parts_of(changes):  # the whole batch first: a batch that fails to arrive writes nothing
            for schema, items in part.items():
                if items:
                    tables.setdefault(schema.table, (schema, []))[1].extend(items)
        if not tables:
            return []
        held = self._current([(s, c) for s, c in tables.values()], checked)
        conflicts: list[Conflict] = []
        final: dict[str, dict[str, str] | None] = {}
        for schema, items in tables.values():
            conflicts += _work_out(schema, items, checked, held, final, self._keys)
        raise_fatal(conflicts, checked)
        marks = {str(table): items[-1].position.encode() for table, (_, items) in tables.items()}

        def work(r: redis.Redis) -> None:
            with r.pipeline(transaction=True) as p:  # MULTI ... EXEC
                for k, row in final.items():
                    _write(p, k, row)
                p.hset(checkpoint_key(task), mapping=marks)
                p.execute()

        self._run(work)
        return conflicts

    def _current(self, tables: list[tuple[TableSchema, list[Change]]], checked: Mapping[Op, OnConflict] | None
                 ) -> dict[str, dict[str, str] | None]:
        """The hashes the batch needs as they stand: the old rows of updates without every column, and every
        row a checked change expects (or not) to find."""
        wanted: list[str] = []
        for schema, items in tables:
            names = schema.column_names
            for ch in items:
                if ch.op is Op.UPDATE and (checks(checked, ch.op) or not all(n in (ch.after or {}) for n in names)):
                    wanted.append(values.key(schema, ch.before or ch.after or {}))
                elif ch.op in (Op.INSERT, Op.DELETE) and checks(checked, ch.op):
                    wanted.append(values.key(schema, ch.after if ch.op is Op.INSERT else ch.before or {}))
        wanted = list(dict.fromkeys(wanted))
        if not wanted:
            return {}

        def work(r: redis.Redis) -> list:
            with r.pipeline(transaction=False) as p:
                for k in wanted:
                    p.hgetall(k)
                return p.execute()

        found = self._run(work)
        return {k: ({f.decode(): v.decode() for f, v in got.items()} or None)
                for k, got in zip(wanted, found, strict=True)}

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        row = change.after if change.after is not None else change.before or {}
        entry = {"TASK_NAME": task, "TABLE_OWNER": table.table.schema, "TABLE_NAME": table.table.name,
                 "ERROR_TIME": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "STATEMENT": f"{change.op.value} {values.key(table, change.before or row)} "
                              f"{json.dumps({k: None if v is None else values.text(v) for k, v in row.items()})}",
                 "ERROR": error}
        self._run(lambda r: r.rpush(EXCEPTIONS, json.dumps(entry, ensure_ascii=False)))

    def applied(self, task: str) -> dict[TableId, Position]:
        got = self._run(lambda r: r.hgetall(checkpoint_key(task)))
        return {TableId.parse(k.decode()): Position.decode(v.decode()) for k, v in got.items()}

    def forget(self, task: str) -> list[str]:
        self._run(lambda r: r.delete(checkpoint_key(task)))
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The table's rows in key order. Keys under the table's prefix that are not one of its rows (a table
        whose name continues this one's after a dot) are left out."""
        keys = list(self._keys(table))
        rows: list[tuple[tuple, dict[str, Any]]] = []
        for i in range(0, len(keys), LOAD_ROWS):
            part = keys[i:i + LOAD_ROWS]

            def work(r: redis.Redis, part: list = part) -> list:
                with r.pipeline(transaction=False) as p:
                    for k in part:
                        p.hgetall(k)
                    return p.execute()

            for k, got in zip(part, self._run(work), strict=True):
                row = values.row(table, got)
                if got and None not in (row[c] for c in table.key) and values.key(table, row) == k.decode():
                    rows.append((tuple(row[c] for c in table.key), row))
        rows.sort(key=lambda item: item[0])
        ordered = [row for _, row in rows]
        for i in range(0, len(ordered), max(1, batch_rows)):
            yield ordered[i:i + batch_rows]

    def close(self) -> None:
        self.r.close()


def _write(p: Any, key: str, row: Mapping[str, str | None] | None) -> None:
    """Queue the key's final state: deleted, or exactly this hash (fields of NULLs left out)."""
    p.delete(key)
    present = {f: v for f, v in (row or {}).items() if v is not None}
    if present:
        p.hset(key, mapping=present)


def _overwrite(p: Any, key: str, fields: Mapping[str, str | None]) -> None:
    """Queue a full row over whatever hash the key holds: its values set, its NULLs' fields removed (one
    command for a row without NULLs, where a delete and a write would be two)."""
    present = {f: v for f, v in fields.items() if v is not None}
    if present:
        p.hset(key, mapping=present)
    if len(present) < len(fields):
        p.hdel(key, *(f for f, v in fields.items() if v is None))


def _work_out(schema: TableSchema, items: Sequence[Change], checked: Mapping[Op, OnConflict] | None,
              held: Mapping[str, dict[str, str] | None], final: dict[str, dict[str, str] | None],
              table_keys: Callable[[TableSchema], Iterable[bytes]]) -> list[Conflict]:
    """The table's changes one by one onto ``final`` (key -> hash, None: deleted), reading ``held`` for a
    key the batch has not touched yet; the conflicts of checked ops (their changes left out)."""
    conflicts: list[Conflict] = []
    names = schema.column_names
    truncated = False

    def current(k: str) -> dict[str, str | None] | None:
        if k in final:
            return final[k]
        return None if truncated else held.get(k)

    for ch in items:
        if ch.op is Op.TRUNCATE:
            mine = values.prefix(schema)
            for k in [*(k.decode() for k in table_keys(schema)), *(k for k in final if k.startswith(mine))]:
                final[k] = None
            truncated = True
            continue
        if ch.op is Op.DDL:
            continue
        if ch.op is Op.DELETE:
            k = values.key(schema, ch.before or {})
            if current(k) is None and checks(checked, ch.op):
                conflicts.append(Conflict(schema, ch, conflict_error(schema, ch, _key_tuple(schema, ch.before))))
                continue
            final[k] = None
            continue
        after = ch.after or {}
        new_k = values.key(schema, after)
        old_k = values.key(schema, ch.before) if ch.before else new_k
        now = current(old_k)
        if (now is not None) != (ch.op is Op.UPDATE) and checks(checked, ch.op):
            conflicts.append(Conflict(schema, ch, conflict_error(schema, ch, _key_tuple(schema, ch.before or after))))
            continue
        full = all(n in after for n in names)
        if ch.op is Op.INSERT or now is None:
            if ch.op is Op.UPDATE and not full:
                continue  # an update of a missing row without its unchanged columns: nothing to insert
            row = values.fields(schema, after, full=True)
        else:
            row = {**now, **values.fields(schema, after, full=False)}
        if old_k != new_k:
            final[old_k] = None
        final[new_k] = row
    return conflicts


def _key_tuple(schema: TableSchema, row: Mapping[str, Any] | None) -> tuple:
    return tuple((row or {}).get(c) for c in schema.key)
