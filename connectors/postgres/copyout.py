"""COPY ... TO STDOUT as an iterator of Batches: the bulk read path of the source and of validation."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from connectors.base import Batch, Endpoint, TableSchema

from .connect import classify, connect
from .copytext import decoder_for, parse_lines

COPY_TEXT = "postgres-copy-text"
COPY_BINARY = "postgres-copy-binary"  # only ever loaded as-is, into columns of the very same types


def row_decoder(schema: TableSchema, type_of: Callable[[str], str] | None = None):
    """COPY text bytes -> row dicts, with each column decoded by its type."""
    names = schema.column_names
    decoders = [decoder_for(type_of(c.name) if type_of else (c.native or c.type)) for c in schema.columns]

    def decode(data: bytes) -> list[dict[str, Any]]:
        return [dict(zip(names, values, strict=True)) for values in parse_lines(data, decoders)]

    return decode


def copy_out(ep: Endpoint, sql: str, batch_rows: int, decode, conn: Any = None) -> Iterator[Batch]:
    """COPY text, cut into batches of whole rows that decode into row dicts. ``conn``: a connection
    already in the transaction (and snapshot) to read in, else a new one."""
    return _CopyReader(ep, sql, batch_rows, decode, conn).batches()


def copy_out_binary(ep: Endpoint, sql: str, conn: Any = None) -> Iterator[Batch]:
    """COPY ... (FORMAT binary) passed through as it comes: bytes cut anywhere, never rows."""
    return _CopyReader(ep, sql, 0, None, conn).chunks()


class _CopyReader:
    """COPY ... TO STDOUT on a thread, through an OS pipe, cut into batches at row boundaries.

    psycopg2 writes every row into the pipe from C, so no Python code of ours runs per row;
    the consumer reads the pipe in large chunks and cuts each batch after its last newline (in COPY
    text a newline always ends a row: newlines inside values are escaped). The pipe blocks the
    producer when the consumer (the target) is slower, which bounds memory whatever the table size.
    It hands over one row per write: a buffer on the pipe turns those into large writes.
    """

    CHUNK = 1 << 20

    def __init__(self, ep: Endpoint, sql: str, batch_rows: int, decode, conn: Any = None) -> None:
        self.ep, self.sql, self.batch_rows, self.decode, self.conn = ep, sql, batch_rows, decode, conn
        self.error: BaseException | None = None
        self.cancelled = False

    def _run(self, conn: Any, write_fd: int) -> None:
        try:
            with open(write_fd, "wb", buffering=self.CHUNK) as sink, conn.cursor() as cur:
                if self.conn is None:  # a given connection's transaction is set already
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.copy_expert(self.sql, sink, size=self.CHUNK)
            conn.rollback()
        except BaseException as exc:  # raised by the consumer after it has read what came before
            self.error = exc if self.cancelled else classify(exc, self.ep)

    @contextlib.contextmanager
    def _pipe(self) -> Iterator[Any]:
        """The read end of a pipe that the COPY fills from a thread; closing it stops the COPY."""
        conn = self.conn or connect(self.ep)
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, self.CHUNK)
        thread = threading.Thread(target=self._run, args=(conn, write_fd), daemon=True, name="copy-out")
        thread.start()
        source = open(read_fd, "rb", buffering=0)  # noqa: SIM115  (closed in finally)
        try:
            yield source
            thread.join()
            if self.error is not None:
                raise self.error
        finally:
            source.close()  # a producer still writing gets EPIPE and ends
            if thread.is_alive():
                self.cancelled = True
                conn.cancel()
                thread.join(10)
            conn.close()

    def chunks(self) -> Iterator[Batch]:
        with self._pipe() as source:
            while chunk := source.read(self.CHUNK):
                yield Batch(0, raw=(COPY_BINARY, chunk))

    def batches(self) -> Iterator[Batch]:
        with self._pipe() as source:
            parts: list[bytes] = []
            rows = size = 0
            while chunk := source.read(self.CHUNK):
                parts.append(chunk)
                rows += chunk.count(b"\n")
                size += len(chunk)
                if rows >= self.batch_rows or size >= 16 << 20:
                    data = b"".join(parts)
                    cut = data.rfind(b"\n") + 1
                    yield Batch(rows, raw=(COPY_TEXT, data[:cut]), decode=self.decode)
                    rest = data[cut:]
                    parts, rows, size = ([rest], 0, len(rest)) if rest else ([], 0, 0)
            if size:
                yield Batch(rows, raw=(COPY_TEXT, b"".join(parts)), decode=self.decode)
