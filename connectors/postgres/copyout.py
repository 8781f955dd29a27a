"""COPY ... TO STDOUT as an iterator of Batches: the bulk read path of the source and of validation."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from connectors.base import Batch, Endpoint, TableSchema

from .connect import classify, connect
from .copytext import decoder_for, parse_lines

COPY_TEXT = "postgres-copy-text"


def row_decoder(schema: TableSchema, type_of: Callable[[str], str] | None = None):
    """COPY text bytes -> row dicts, with each column decoded by its type."""
    names = schema.column_names
    decoders = [decoder_for(type_of(c.name) if type_of else (c.native or c.type)) for c in schema.columns]

    def decode(data: bytes) -> list[dict[str, Any]]:
        return [dict(zip(names, values, strict=True)) for values in parse_lines(data, decoders)]

    return decode


def copy_out(ep: Endpoint, sql: str, batch_rows: int, decode) -> Iterator[Batch]:
    return _CopyReader(ep, sql, batch_rows, decode).batches()


class _CopyReader:
    """COPY ... TO STDOUT on a thread, cut into batches at row boundaries, through a small queue.

    The queue bounds memory to a few batches whatever the table size.
    """

    def __init__(self, ep: Endpoint, sql: str, batch_rows: int, decode) -> None:
        self.ep, self.sql, self.batch_rows, self.decode = ep, sql, batch_rows, decode
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=4)
        self.cancelled = False
        self.parts: list[bytes] = []
        self.rows = 0
        self.size = 0

    def write(self, data: Any) -> None:  # called by psycopg2 once per row
        if self.cancelled:
            raise RuntimeError("snapshot cancelled")
        self.parts.append(bytes(data))
        self.rows += 1
        self.size += len(data)
        if self.rows >= self.batch_rows or self.size >= 16 << 20:
            self._emit()

    def _emit(self) -> None:
        if self.rows:
            self.queue.put(Batch(self.rows, raw=(COPY_TEXT, b"".join(self.parts)), decode=self.decode))
        self.parts, self.rows, self.size = [], 0, 0

    def _run(self, conn: Any) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.copy_expert(self.sql, self, size=1 << 20)
            conn.rollback()
            self._emit()
            self.queue.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self.queue.put(exc if self.cancelled else classify(exc, self.ep))

    def batches(self) -> Iterator[Batch]:
        conn = connect(self.ep)
        thread = threading.Thread(target=self._run, args=(conn,), daemon=True, name="copy-out")
        thread.start()
        try:
            while (item := self.queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if thread.is_alive():
                self.cancelled = True
                conn.cancel()
                while thread.is_alive():  # unblock a producer waiting on a full queue
                    try:
                        self.queue.get(timeout=0.1)
                    except queue.Empty:
                        pass
            conn.close()
