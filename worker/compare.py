"""Row-by-row validation: source and target read in key order and compared in one streaming pass.

Both sides are read in the same key order, so a row missing on one side waits in a small dict
until its partner arrives or the table ends: memory grows with the differences, not the table.
`dms task validate` (scheduler/validate.py) compares on demand; the validation job (worker/validation.py) runs the same
comparison for ValidationSettings, with its failure limits and re-check.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.base import Row, Source, TableSchema, Target
from connectors.model.states import ValidationState
from connectors.model.tablemap import TableMap

MAX_LISTED = 20


@dataclass
class TableResult:
    table: str
    source_rows: int = 0
    target_rows: int = 0
    missing_in_target: list[Any] = field(default_factory=list)
    missing_in_source: list[Any] = field(default_factory=list)
    different: list[Any] = field(default_factory=list)
    cut: list[Any] = field(default_factory=list)  # records that differ only where a LOB setting cut the source's
    mismatches: int = 0
    cut_count: int = 0  # of the mismatches, those of ``cut``
    cut_cause: str = ""  # "LimitedSizeLobMode cut values over LobMaxSize=32 KB"
    seconds: float = 0.0
    keys: set[tuple] = field(default_factory=set)  # mismatching keys, as many as compare() was asked to keep
    stopped: bool = False  # compare() stopped reading at its limit: the rest of the table was not compared

    @property
    def equal(self) -> bool:
        return self.mismatches == 0

    def note(self, bucket: list[Any], key: Any) -> None:
        self.mismatches += 1
        if bucket is self.cut:
            self.cut_count += 1
        if len(bucket) < MAX_LISTED:
            bucket.append(list(key) if isinstance(key, tuple) else key)

    def to_json(self) -> dict[str, Any]:
        schema, _, name = self.table.partition(".")
        return {
            "SchemaName": schema, "TableName": name,
            "ValidationState": ValidationState.VALIDATED if self.equal else ValidationState.MISMATCHED_RECORDS,
            "SourceRows": self.source_rows, "TargetRows": self.target_rows,
            "ValidationFailedRecords": self.mismatches,
            "MissingInTarget": self.missing_in_target, "MissingInSource": self.missing_in_source,
            "Different": self.different, "Seconds": round(self.seconds, 3),
            **({"CutBySettings": self.cut_count, "CutBySettingsReason": self.cut_note, "Cut": self.cut}
               if self.cut_count else {}),
        }

    @property
    def cut_note(self) -> str:
        """"2 rows differ because LimitedSizeLobMode cut values over LobMaxSize=32 KB", or ""."""
        if not self.cut_count:
            return ""
        return f"{self.cut_count} {'row differs' if self.cut_count == 1 else 'rows differ'} because {self.cut_cause}"

    def details(self) -> list[tuple[str, list[Any]]]:
        """The listed keys of each kind of mismatch, labelled."""
        return [(label, keys) for label, keys in (
            ("missing in target", self.missing_in_target), ("missing in source", self.missing_in_source),
            ("different", self.different), (self.cut_note, self.cut)) if keys]


def _same(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)  # NaN (float or Decimal) equals NaN here, as in PostgreSQL


def _document(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        return value


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # infinity, a BC date: compared as text
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def _by_value(kind: str) -> Callable[[Any, Any], bool]:
    """Equality of two values of a column as values, not as text: engines spell the same value differently (a
    JSON document's spacing and key order, a timestamp's fraction and offset: 12:00:00.5 and 12:00:00.500000,
    +00 and +00:00, or 17:30+05:30 and 12:00+00 for one instant)."""
    parse = {"json": _document, "timestamptz": _instant, "timestamp": _instant, "date": _instant,
             "time": lambda v: _instant(f"2000-01-01 {v}") if isinstance(v, str) else v}.get(kind)
    if parse is None:
        return _same
    return lambda a, b: _same(a, b) or (a is not None and b is not None and _same(parse(a), parse(b)))


class _Enough(Exception):
    """More mismatches than the caller's limit: stop reading."""


def compare(schema: TableSchema, source_rows: Iterator[list[Row]], target_rows: Iterator[list[Row]], *,
            limit: int | None = None, keep: int = 0, only: set[tuple] | None = None,
            cut: Callable[[Row, Row], bool] | None = None) -> TableResult:
    """Compare two key-ordered row streams.

    ``limit``: stop reading once more than this many records mismatch (``stopped``). ``keep``: remember
    up to this many mismatching keys in ``keys``. ``only``: count only mismatches of these keys (a re-check).
    ``cut(source_row, target_row)``: the rows differ only where a setting cut the source's values; such
    records still mismatch, listed apart (``cut``).
    """
    result = TableResult(str(schema.table))
    names = schema.column_names
    checks = [(c.name, _by_value(c.type)) for c in schema.columns]
    key_names = schema.key or names  # a keyless table is compared as a multiset of whole rows

    def key_of(row: Row) -> tuple:
        return tuple(row.get(k) for k in key_names)

    waiting_src: dict[tuple, list[Row]] = {}
    waiting_tgt: dict[tuple, list[Row]] = {}

    def mismatch(bucket: list[Any], k: tuple) -> None:
        if only is not None and k not in only:
            return
        result.note(bucket, k)
        if len(result.keys) < keep:
            result.keys.add(k)
        if limit is not None and result.mismatches > limit:
            raise _Enough

    def take(rows: list[Row], mine: dict, theirs: dict, counter: str) -> None:
        setattr(result, counter, getattr(result, counter) + len(rows))
        from_source = counter == "source_rows"
        for row in rows:
            k = key_of(row)
            partners = theirs.get(k)
            if partners:
                other = partners.pop()
                if not partners:
                    del theirs[k]
                if any(not same(row.get(n), other.get(n)) for n, same in checks):
                    pair = (row, other) if from_source else (other, row)
                    mismatch(result.cut if cut is not None and cut(*pair) else result.different, k)
            else:
                mine.setdefault(k, []).append(row)

    try:
        for src, tgt in itertools.zip_longest(source_rows, target_rows, fillvalue=[]):
            take(src, waiting_src, waiting_tgt, "source_rows")
            take(tgt, waiting_tgt, waiting_src, "target_rows")
        for k, rows in waiting_src.items():
            for _ in rows:
                mismatch(result.missing_in_target, k)
        for k, rows in waiting_tgt.items():
            for _ in rows:
                mismatch(result.missing_in_source, k)
    except _Enough:
        result.stopped = True
    return result


def cut_by_lob_limit(mapped: TableMap) -> Callable[[Row, Row], bool] | None:
    """For a table whose LOBs are cut: do a source row (whole) and a target row differ only where the cut
    left the target the first LobMaxSize of the source's value?"""
    limit = mapped.lob_limit
    lobs = {o.name for o in mapped.lob_columns}
    if limit is None or not lobs:
        return None
    names = mapped.copied.column_names

    def cut(src: Row, tgt: Row) -> bool:
        for n in names:
            a, b = src.get(n), tgt.get(n)
            if _same(a, b):
                continue
            if n not in lobs or not isinstance(a, str | bytes) or len(a) <= limit or not _same(a[:limit], b):
                return False
        return True

    return cut


def compare_table(source: Source, target: Target, mapped: TableMap, check: Callable[[], None] | None = None,
                  **options: Any) -> TableResult:
    """One table's source rows (through its rules, LOBs whole) against the target's, in one pass; options as
    compare()'s. Records the table's LOB setting cut are told apart from other mismatches.

    ``check`` runs before each batch (a job's stop check)."""
    started = time.monotonic()
    batches = source.snapshot(mapped.read, ordered=True, where=mapped.filters)

    def source_rows() -> Iterator[list[Row]]:
        for batch in batches:
            if check is not None:
                check()
            yield mapped.target_rows(batch.rows(), whole=True)  # what the source holds, not what a cut made

    src = source_rows()
    tgt = target.read(mapped.load)
    try:
        result = compare(mapped.copied, src, tgt, cut=cut_by_lob_limit(mapped), **options)
    finally:  # a comparison stopped at its limit leaves both reads unfinished
        for reader in (src, batches, tgt):
            if isinstance(reader, Generator):  # a plain iterator holds nothing to release
                reader.close()
    result.table = str(mapped.source.table)
    result.cut_cause = mapped.lob_setting.cause if mapped.lob_setting else ""
    result.seconds = time.monotonic() - started
    return result
