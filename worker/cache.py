"""The change cache: changes of a table that is still loading, in a Redis Stream per table.

Entry ids are the changes' positions (Position.stream_id), so the stream is ordered exactly like
the source log and a change read twice (after a restart) is refused by Redis as "already cached".
Values are JSON; Decimal and bytes are tagged so they come back as they went in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import redis

from connectors.base import Change, Op, Position, TableId

from .state import StateStore


def _default(value: Any) -> Any:
    # Row values are scalars, so a JSON list in a row can only be one of these tags.
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["b", base64.b64encode(bytes(value)).decode()]
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _untag(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row:
        for name, value in row.items():
            if type(value) is list:
                row[name] = Decimal(value[1]) if value[0] == "d" else base64.b64decode(value[1])
    return row


def encode_change(ch: Change) -> str:
    return json.dumps(
        [ch.op.value, ch.before, ch.after, ch.commit_time, ch.txid, ch.position.token, ch.text],
        default=_default, separators=(",", ":"),
    )


def decode_change(table: TableId, log: str, stream_id: str, data: str) -> Change:
    op, before, after, commit_time, txid, token, *text = json.loads(data)  # entries cached before 0.2 lack text
    major, minor = stream_id.split("-")
    position = Position(log, int(major), int(minor), token)
    return Change(table, Op(op), position, _untag(before), _untag(after), commit_time, txid, bool(text and text[0]))


class ChangeCache:
    """Changes per table in Redis Streams: the cache of loading tables, or (with ``key`` =
    StateStore.spill_key) the spill of a source transaction larger than MemoryLimitTotal."""

    def __init__(self, state: StateStore, task: str, log: str,
                 key: Callable[[str, TableId | str], str] = StateStore.cache_key) -> None:
        self.r = state.r
        self.state = state
        self.task = task
        self.log = log
        self.key = key
        self._pending: list[tuple[str, str, str]] = []

    def add(self, ch: Change) -> None:
        self._pending.append((self.key(self.task, ch.table), ch.position.stream_id, encode_change(ch)))

    def flush(self) -> int:
        """Write buffered changes; those already in the cache (ids not above the top) are skipped."""
        if not self._pending:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for key, sid, data in self._pending:
            pipe.xadd(key, {"c": data}, id=sid)
        written = 0
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, redis.ResponseError):
                if "equal or smaller" not in str(result):
                    raise result
            elif isinstance(result, Exception):
                raise result
            else:
                written += 1
        self._pending.clear()
        return written

    def read(self, table: TableId, chunk: int = 5_000, after: Position | None = None) -> Iterator[list[Change]]:
        """The table's changes in log order, in chunks; with ``after``, only those past it (the ones a
        target's checkpoint does not hold yet), skipped by Redis itself."""
        key = self.key(self.task, table)
        start = f"{after.major}-{after.minor + 1}" if after is not None else "-"
        while True:
            entries = self.r.xrange(key, min=start, count=chunk)
            if not entries:
                return
            yield [decode_change(table, self.log, sid, fields["c"]) for sid, fields in entries]
            last = entries[-1][0]
            major, minor = last.split("-")
            start = f"{major}-{int(minor) + 1}"

    def drop(self, table: TableId) -> None:
        self.r.delete(self.key(self.task, table))
