"""Positions in a source's logs: ``Position``, one point in one log, and ``Positions``, a checkpoint of a
source with one or many logs (re-exported by connectors/base.py, where the rest of the vocabulary is)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


@functools.total_ordering
@dataclass(slots=True)  # not frozen, as Change; never changed once made, so hashable all the same
class Position:
    """A point in ONE source log. Positions of different logs never compare.

    ``major`` orders transactions (a commit point), ``minor`` orders changes inside one (from 1);
    a heartbeat has minor 0. ``token`` is the engine's own spelling, shown to users.
    """

    log: str
    major: int
    minor: int = 0
    token: str = field(default="", compare=False)

    def __lt__(self, other: Position) -> bool:
        if self.log != other.log:
            raise ValueError(f"cannot order {self.log} against {other.log}")
        return (self.major, self.minor) < (other.major, other.minor)

    def __gt__(self, other: Position) -> bool:
        return other < self

    def __hash__(self) -> int:
        return hash((self.log, self.major, self.minor))

    @property
    def stream_id(self) -> str:
        """A Redis Stream id: two 64-bit integers, ordered exactly like the position."""
        return f"{self.major}-{self.minor}"

    def encode(self) -> str:
        return f"{self.log}|{self.major}|{self.minor}|{self.token}"

    @classmethod
    def decode(cls, text: str) -> Position:
        log, major, minor, token = text.split("|", 3)
        return cls(log, int(major), int(minor), token)


class Positions(Mapping[str, Position]):
    """A checkpoint of a source with one or many logs (shards, partitions): ``Position.log`` -> the last
    position reached in that log. Positions order only within their own log, so a checkpoint is a map,
    never one point; a single-log source's checkpoint has one entry. Immutable: ``advanced`` makes another.
    """

    __slots__ = ("_by_log",)

    def __init__(self, positions: Iterable[Position] = ()) -> None:
        by_log: dict[str, Position] = {}
        for p in positions:
            held = by_log.get(p.log)
            if held is None or held < p:
                by_log[p.log] = p
        self._by_log = by_log

    def __getitem__(self, log: str) -> Position:
        return self._by_log[log]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_log))

    def __len__(self) -> int:
        return len(self._by_log)

    def __repr__(self) -> str:
        return f"Positions({', '.join(self[log].token or self[log].encode() for log in self)})"

    def covers(self, position: Position) -> bool:
        """The position is at or before this checkpoint in its own log: it was reached (a change to skip)."""
        held = self._by_log.get(position.log)
        return held is not None and not held < position

    def advanced(self, *positions: Position) -> Positions:
        """This checkpoint moved forward to the given positions (a position behind its log's entry changes
        nothing; a log not seen before is added)."""
        return Positions([*self._by_log.values(), *positions])

    def single(self) -> Position:
        """The one position of a single-log checkpoint (ValueError for none or several)."""
        if len(self._by_log) != 1:
            raise ValueError(f"a checkpoint of {len(self._by_log)} logs has no single position")
        return next(iter(self._by_log.values()))

    def encode(self) -> str:
        return json.dumps([self[log].encode() for log in self])

    @classmethod
    def decode(cls, text: str) -> Positions:
        return cls(Position.decode(item) for item in json.loads(text))
