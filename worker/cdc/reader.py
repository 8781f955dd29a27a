"""The change stream, read on a thread of its own: decoding the next changes overlaps applying the last ones."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator

from connectors.base import Change, Position

from .batching import MAX_BATCH


class Reader:
    """The change stream, read on a thread of its own: decoding the next changes overlaps applying
    the last ones. Items travel in lists (a transaction's end closes one); the reader may run up to
    AHEAD items ahead of the applier, so it keeps reading while a batch is in the target."""

    LIST = 2_000
    AHEAD = 3 * MAX_BATCH

    def __init__(self, stream: Iterator[Change | Position]) -> None:
        self.stream = stream
        self.lists: collections.deque = collections.deque()
        self.held = 0  # items in self.lists
        self.ready = threading.Condition()
        self.stopping = threading.Event()
        self.left = 0  # items of the current list not handed on yet
        self.thread = threading.Thread(target=self._read, daemon=True, name="cdc-reader")
        self.thread.start()

    def _read(self) -> None:
        items: list = []
        try:
            for item in self.stream:
                items.append(item)
                if type(item) is Position or len(items) >= self.LIST:
                    self._put(items, len(items))
                    items = []
                    if self.stopping.is_set():
                        return
        except BaseException as exc:  # raised on the applier's thread, after what was read before it
            self._put(exc, 0)
        finally:
            self.stream.close()

    def _put(self, what: object, size: int) -> None:
        with self.ready:
            while self.held and self.held + size > self.AHEAD and not self.stopping.is_set():
                self.ready.wait(0.2)
            self.lists.append(what)
            self.held += size
            self.ready.notify_all()

    def __iter__(self) -> Iterator[Change | Position]:
        while True:
            with self.ready:
                while not self.lists:
                    self.ready.wait()
                what = self.lists.popleft()
                if isinstance(what, BaseException):
                    raise what
                self.held -= len(what)
                self.ready.notify_all()
            # self.left counts down as each item goes: the loop target itself, no statement per item
            for self.left, item in zip(range(len(what) - 1, -1, -1), what, strict=True):
                yield item

    def idle(self) -> bool:
        """Everything read so far has been handed on."""
        return self.left == 0 and not self.lists

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
