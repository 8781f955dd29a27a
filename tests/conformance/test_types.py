"""Every common type's edge values, through a full load and through change capture, for every pair.

One table per pair holds a column per case below (row i has the case's i-th value, NULL past its
end, and a last row of NULLs); it is loaded in batches of 3 rows, and the same rows are inserted
into a second table after start_cdc and replicated. Each (pair, case, path) is a test of its own, so
a gap shows as exactly the values it concerns. Gaps of today's engines are strict xfails whose
reason names the gap: a fix turns them into failures until the mark goes.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import pytest

from .conftest import PAIRS
from .engines import ENGINES, PORTABLE, WORKER
from .pipeline import Pipeline

_RANDOM = random.Random(14)
BIG_TEXT = "".join(_RANDOM.choice("abcdefghij klmnö€😀\t") for _ in range(100_000))  # ~130 KB of UTF-8
BIG_BYTES = _RANDOM.randbytes(100_000)

# case -> (common type, values)
CASES: dict[str, tuple[str, list[Any]]] = {
    "bool": ("bool", [True, False]),
    "int2": ("int2", [-32768, 32767, 0, -1]),
    "int4": ("int4", [-2**31, 2**31 - 1, 0]),
    "int8": ("int8", [-2**63, 2**63 - 1, 0]),
    "float4": ("float4", [1.5, -2.25, 16777216.0, 0.0]),
    "float8": ("float8", [1.7976931348623157e308, 5e-324, 0.1, -2.5e-300, 0.30000000000000004]),
    "float8_special": ("float8", [math.inf, -math.inf, math.nan]),
    "numeric": ("numeric", [Decimal("12345678.1234"), Decimal("-0.0001"), Decimal("0"), Decimal("1.5")]),
    "numeric_wide": ("numeric_wide", [Decimal("1234567890123456789012345678.0123456789"),
                                      Decimal("-0.0000000001"), Decimal("99999999999999999999")]),
    "string": ("string", ["", "plain", "quote ' and \" and \\ backslash", "\\N", "tab\there"]),
    "text": ("text", ["", "héllo wörld ñ 中文 العربية", "😀👍🏽🇳🇱 emoji",
                      "control \t\n\r\x01\x08\x0b\x0c\x1b\x1f\x7f chars", "\\N", "\\.", BIG_TEXT]),
    "bytes": ("bytes", [b"", bytes(range(256)), b"\\N", b"\x00", BIG_BYTES]),
    "date": ("date", ["0001-01-01", "9999-12-31", "2000-02-29", "1970-01-01"]),
    "date_special": ("date", ["infinity", "-infinity", "4713-01-01 BC"]),
    "time": ("time", ["00:00:00", "23:59:59.999999", "12:34:56.5"]),
    "timestamp": ("timestamp", ["0001-01-01 00:00:00", "9999-12-31 23:59:59.999999", "2000-02-29 12:00:00.5",
                                "1970-01-01 00:00:00"]),
    "timestamptz": ("timestamptz", ["2000-01-01 00:00:00+00", "1970-01-01 00:00:00.000001+00",
                                    "9999-12-31 23:59:59.999999+00"]),
    "timestamptz_offset": ("timestamptz", ["2024-06-30 12:00:00+05:30"]),
    "json": ("json", ['{"a": [1, 2.5, null], "b": {"c": "d"}}', "[]", '"unicode ✓"']),
    "uuid": ("uuid", ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
                      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
}
ROWS = max(len(values) for _, values in CASES.values()) + 1  # the last row is all NULLs

def _gap_of(source: str, target: str, case: str) -> str | None:
    """An engine that cannot hold a value fails it as a source (the application could not store it) and as a
    target alike."""
    return (ENGINES[source].source_type_gaps.get(case) or ENGINES[source].type_gaps.get(case)
            or ENGINES[target].type_gaps.get(case))


def _params() -> list:
    out = []
    for pair in PAIRS:
        (source, target), = pair.values
        for path in ("load", "cdc"):
            for case in CASES:
                reason = _gap_of(source, target, case)
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                out.append(pytest.param(source, target, path, case, id=f"{pair.id}-{path}-{case}", marks=marks))
    return out


def _row(i: int) -> dict[str, Any]:
    row: dict[str, Any] = {"id": i + 1}
    for case, (_, values) in CASES.items():
        row[f"c_{case}"] = values[i] if i < len(values) else None
    return row


COLUMNS = [("id", "int8"), *((f"c_{case}", common) for case, (common, _) in CASES.items())]


@pytest.fixture(scope="module")
def moved(engines) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """(source, target) -> {"load": rows, "cdc": rows}: what the target holds, moved once per pair on first use."""
    done: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}

    class _Lazy(dict):
        def __missing__(self, pair: tuple[str, str]) -> dict[str, list[dict[str, Any]]]:
            done[pair] = self[pair] = _move(engines[(pair[0], "source")], engines[(pair[1], "target")])
            return done[pair]

    return _Lazy()


def _move(source, target) -> dict[str, list[dict[str, Any]]]:
    tag = f"{target.name}_{source.name}{WORKER}"
    rows = [_row(i) for i in range(ROWS)]
    source.write(loaded := source.create(f"types_load_{tag}", COLUMNS), [("insert", r) for r in rows])
    captured = source.create(f"types_cdc_{tag}", COLUMNS)
    result = {}
    pipe = Pipeline(source, target, loaded, f"types_{tag}").open()
    try:
        assert pipe.load(batch_rows=3) == ROWS
        result["load"] = pipe.target_rows()
    finally:
        pipe.close()
    pipe = Pipeline(source, target, captured, f"types_{tag}").open()
    try:
        pipe.start_cdc()
        pipe.load()
        for row in rows:  # a transaction per row: each is a change of its own
            source.write(captured, [("insert", row)])
        assert pipe.replicate(ROWS) == ROWS
        result["cdc"] = pipe.target_rows()
    finally:
        pipe.close()
        pipe.drop()
    return result


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("source", "target", "path", "case"), _params())
def test_values_arrive_unchanged(moved, source: str, target: str, path: str, case: str) -> None:
    rows = moved[(source, target)][path]
    column = f"c_{case}"
    expected = [_row(i)[column] for i in range(ROWS)]
    got = [r[column] for r in rows]
    assert [r["id"] for r in rows] == list(range(1, ROWS + 1))
    wrong = [(i, e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if not _same(e, g)]
    shown = [(i, repr(e)[:60], repr(g)[:60]) for i, e, g in wrong]
    assert not wrong, f"{case} via {path} from {source} to {target}: (row, sent, arrived) {shown}"


def test_every_common_type_is_covered() -> None:
    assert {common for common, _ in CASES.values()} == set(PORTABLE)
