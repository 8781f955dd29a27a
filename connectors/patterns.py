"""DMS wildcard patterns over (schema, table) names, indexed so that finding the rules of a table does
not look at every rule: a mapping of 10,000 rules against 10,000 tables is 10,000 look-ups, not 10^8
regex matches.

Patterns are cut into tokens (a run of plain characters, ``_``, ``%`` or a ``[...]`` set) and kept in
a trie whose plain runs are found by a dict look-up of the name's slice, one per distinct run length
at that node. ``schema.table`` is one key with a NUL between the two names, which no wildcard
crosses. A table name walks the trie once; it branches only where rules differ by a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Generic, TypeVar

T = TypeVar("T")
_SEP = "\0"


@lru_cache(maxsize=4096)
def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """DMS wildcards: % any run, _ one character, [_] a literal _, [ab] a set, [a-d] a range."""
    out = []
    for kind, text in tokens(pattern):
        out.append(".*" if kind == "%" else "." if kind == "_" else text if kind == "[" else re.escape(text))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise ValueError(f"wildcard {pattern!r} is invalid ({exc.msg})") from None


def check_wildcard(pattern: str) -> None:
    """Raises ValueError for a pattern DMS would refuse (an unclosed or invalid ``[...]``), without
    compiling anything for the usual pattern that has no set."""
    if "[" in pattern:
        wildcard_regex(pattern)


def tokens(pattern: str) -> list[tuple[str, str]]:
    """("", run) plain characters, ("_", "_"), ("%", "%"), ("[", regex class) for a set."""
    if not any(ch in pattern for ch in "%_["):
        return [("", pattern)] if pattern else []
    out: list[tuple[str, str]] = []
    i, run = 0, []
    while i < len(pattern):
        ch = pattern[i]
        if ch in "%_[":
            if run:
                out.append(("", "".join(run)))
                run = []
            if ch == "[":
                end = pattern.find("]", i + 1)
                if end < 0:
                    raise ValueError(f"wildcard {pattern!r} has an unclosed '['")
                out.append(("[", "[" + re.sub(r"([\\^\]])", r"\\\1", pattern[i + 1: end]) + "]"))
                i = end
            elif not (ch == "%" and out and out[-1][0] == "%"):  # %% is %
                out.append((ch, ch))
        else:
            run.append(ch)
        i += 1
    if run:
        out.append(("", "".join(run)))
    return out


class _Node:
    __slots__ = ("any_one", "any_run", "items", "runs", "sets")

    def __init__(self) -> None:
        self.runs: dict[int, dict[str, _Node]] = {}  # plain runs by length, then by text
        self.any_one: _Node | None = None
        self.any_run: _Node | None = None
        self.sets: dict[str, tuple[re.Pattern[str], _Node]] = {}
        self.items: list[tuple[int, object]] = []


class PatternIndex(Generic[T]):
    """Items under (schema pattern, table pattern); ``find`` gives a table's items in the order added."""

    def __init__(self) -> None:
        self._root = _Node()
        self._exact: dict[tuple[str, str], list[tuple[int, T]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, schema: str, table: str, item: T, exact: bool = False) -> None:
        """``exact``: the names are literal (DMS's explicit selection), not patterns."""
        self._count += 1
        if exact:
            self._exact.setdefault((schema, table), []).append((self._count, item))
            return
        check_wildcard(schema)
        check_wildcard(table)
        merged: list[tuple[str, str]] = []
        for kind, text in [*tokens(schema), ("", _SEP), *tokens(table)]:
            if kind == "" and merged and merged[-1][0] == "":  # the separator joins the runs around it
                merged[-1] = ("", merged[-1][1] + text)
            else:
                merged.append((kind, text))
        node = self._root
        for kind, text in merged:
            if kind == "":
                node = self._run(node, text)
            elif kind == "_":
                node.any_one = node.any_one or _Node()
                node = node.any_one
            elif kind == "%":
                node.any_run = node.any_run or _Node()
                node = node.any_run
            else:
                if text not in node.sets:
                    node.sets[text] = (re.compile(text, re.DOTALL), _Node())
                node = node.sets[text][1]
        node.items.append((self._count, item))

    @staticmethod
    def _run(node: _Node, text: str) -> _Node:
        by_text = node.runs.setdefault(len(text), {})
        child = by_text.get(text)
        if child is None:
            child = by_text[text] = _Node()
        return child

    def find(self, schema: str, table: str) -> list[T]:
        key = schema + _SEP + table
        found = list(self._exact.get((schema, table), ()))
        seen: set[tuple[int, int]] = set()
        self._walk(self._root, key, 0, len(schema), found, seen)
        found.sort(key=lambda pair: pair[0])
        return [item for _, item in found]

    def _walk(self, node: _Node, key: str, i: int, sep: int, found: list, seen: set[tuple[int, int]]) -> None:
        if (id(node), i) in seen:  # two % paths can reach the same place
            return
        seen.add((id(node), i))
        if i == len(key):
            found.extend(node.items)
        for length, by_text in node.runs.items():
            child = by_text.get(key[i: i + length])
            if child is not None:
                self._walk(child, key, i + length, sep, found, seen)
        if i < len(key) and key[i] != _SEP:
            if node.any_one is not None:
                self._walk(node.any_one, key, i + 1, sep, found, seen)
            for regex, child in node.sets.values():
                if regex.fullmatch(key[i]):
                    self._walk(child, key, i + 1, sep, found, seen)
        if node.any_run is not None:
            end = sep if i <= sep else len(key)  # % stays within its name
            for j in range(i, end + 1):
                self._walk(node.any_run, key, j, sep, found, seen)

    def items(self) -> Iterator[T]:
        for entries in self._exact.values():
            for _, item in entries:
                yield item
        stack = [self._root]
        while stack:
            node = stack.pop()
            for _, item in node.items:
                yield item
            stack.extend(c for by_text in node.runs.values() for c in by_text.values())
            stack.extend(c for c in (node.any_one, node.any_run) if c is not None)
            stack.extend(c for _, c in node.sets.values())
