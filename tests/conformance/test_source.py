"""What every source promises whatever the target: DMS filters read the same rows on every engine, a
projection reads only its columns, ordered snapshots come in key order, a split covers the table once,
keyless tables are refused for CDC, a dropped capture is PositionLost, and a start position past the log or
misspelt is refused."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import Condition, Filter, KeyRange, Position, TableRule
from connectors.errors import ConfigError, PositionLost

from .engines import SOURCES, names

COLUMNS = [("id", "int8"), ("n", "numeric"), ("s", "string"), ("d", "date"), ("flag", "bool")]
ROWS = [
    {"id": i, "n": None if i % 7 == 0 else Decimal(i) / 2, "s": None if i % 5 == 0 else "abc"[i % 3],
     "d": f"{1990 + i}-06-15", "flag": None if i % 4 == 0 else i % 2 == 0}
    for i in range(1, 31)
]
_names = names()

# case -> (filters, which rows pass)
FILTERS: dict[str, tuple[list[Filter], Any]] = {
    "numeric_between": ([Filter("n", (Condition("between", "1", "2.5"),))],
                        lambda r: r["n"] is not None and 1 <= r["n"] <= Decimal("2.5")),
    "text_eq_or_null": ([Filter("s", (Condition("eq", "b"), Condition("null")))],
                        lambda r: r["s"] in ("b", None)),
    "date_gte": ([Filter("d", (Condition("gte", "2010-01-01"),))], lambda r: r["d"] >= "2010-01-01"),
    "int_notbetween_and_numeric_noteq": (
        [Filter("id", (Condition("notbetween", "3", "20"),)), Filter("n", (Condition("noteq", "1.5"),))],
        lambda r: not 3 <= r["id"] <= 20 and r["n"] is not None and r["n"] != Decimal("1.5")),
    "numeric_lte_notnull": ([Filter("n", (Condition("lte", "4"),)), Filter("s", (Condition("notnull"),))],
                            lambda r: r["n"] is not None and r["n"] <= 4 and r["s"] is not None),
    "bool_eq_true": ([Filter("flag", (Condition("eq", "true"),))], lambda r: r["flag"] is True),
}
GAPS: dict[tuple[str, str], str] = {}  # (engine, case) -> the gap, a strict xfail


@pytest.fixture(scope="module")
def tables(engines) -> dict[str, Any]:
    """engine -> (engine, table id) of the module's table, made on first use."""
    class _Lazy(dict):
        def __missing__(self, name: str) -> Any:
            engine = engines[(name, "source")]
            table = engine.create(f"src{next(_names)}", COLUMNS)
            engine.write(table, [("insert", r) for r in ROWS])
            self[name] = (engine, table)
            return self[name]

    return _Lazy()


def _open(tables, name: str):
    engine, table = tables[name]
    source = engine.open_source()
    (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
    return source, schema


def _filter_params() -> list:
    return [pytest.param(e, case, id=f"{e}-{case}",
                         marks=[pytest.mark.xfail(reason=GAPS[(e, case)], strict=True)] if (e, case) in GAPS else [])
            for e in SOURCES for case in FILTERS]


@pytest.mark.parametrize(("engine", "case"), _filter_params())
def test_filters_read_the_same_rows(tables, engine: str, case: str) -> None:
    source, schema = _open(tables, engine)
    filters, passes = FILTERS[case]
    try:
        got = [r["id"] for b in source.snapshot(schema, where=filters, ordered=True) for r in b.rows()]
    finally:
        source.close()
    assert got == [r["id"] for r in ROWS if passes(r)]


@pytest.mark.parametrize("engine", SOURCES)
def test_a_projection_in_key_order(tables, engine: str) -> None:
    source, schema = _open(tables, engine)
    try:
        narrow = type(schema)(schema.table, tuple(c for c in schema.columns if c.name in ("id", "s")), schema.key,
                              schema.engine)
        rows = [r for b in source.snapshot(narrow, ordered=True, batch_rows=7) for r in b.rows()]
    finally:
        source.close()
    assert rows == [{"id": r["id"], "s": r["s"]} for r in ROWS]


@pytest.mark.parametrize("engine", SOURCES)
def test_a_split_covers_the_table_once(tables, engine: str) -> None:
    source, schema = _open(tables, engine)
    try:
        ranges = source.split(schema, 8)
        assert ranges[0].after is None and ranges[-1].upto is None
        assert all(a.upto == b.after for a, b in itertools.pairwise(ranges))  # consecutive, no gap, no overlap
        chunks = [[r["id"] for b in source.snapshot(schema, within=k, ordered=True) for r in b.rows()] for k in ranges]
    finally:
        source.close()
    assert sorted(itertools.chain(*chunks)) == [r["id"] for r in ROWS]
    assert ranges == [KeyRange()] or all(chunks)


@pytest.mark.parametrize("engine", SOURCES)
def test_keyless_tables_are_refused_for_cdc_and_a_dropped_capture_is_lost(engines, engine: str) -> None:
    side = engines[(engine, "source")]
    source = side.open_source()
    try:
        table = side.create(f"keyed{next(_names)}", COLUMNS)
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        keyless = type(schema)(schema.table, schema.columns, (), schema.engine)
        with pytest.raises(ConfigError, match="primary key"):
            source.start_cdc(f"keyless{next(_names)}", [keyless])
        task = f"dropped{next(_names)}"
        p0 = source.start_cdc(task, [schema])
        source.drop_cdc(task)
        if side.drops_capture:
            with pytest.raises(PositionLost, match="reload the task"):
                next(iter(source.stream(task, p0, [schema])))
        else:  # nothing was dropped: the log still serves the task
            beat = next(iter(source.stream(task, p0, [schema])))
            assert type(beat) is Position and beat.minor == 0 and not beat < p0
    finally:
        source.close()


@pytest.mark.parametrize("engine", SOURCES)
def test_start_positions_past_the_log_or_misspelt_are_refused_and_a_dropped_capture_says_so(engines,
                                                                                           engine: str) -> None:
    side = engines[(engine, "source")]
    source = side.open_source()
    try:
        assert "CDC start position 'garbage' is not" in type(source).position_error("garbage")
        table = side.create(f"positions{next(_names)}", COLUMNS)
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        task = f"positions{next(_names)}"
        p0 = source.start_cdc(task, [schema])
        assert source.check_position(task, p0) is None and source.capture_lost(task) is None
        far = Position(p0.log, p0.major + 2**40, 0, "far")
        assert "CDC start position far is ahead of" in source.check_position(task, far)
        source.drop_cdc(task)
        assert task in source.capture_lost(task) if side.drops_capture else source.capture_lost(task) is None
    finally:
        source.close()
