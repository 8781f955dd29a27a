"""Streaming row comparison used by `dms task validate`."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from connectors.base import Column, TableId, TableSchema
from worker.compare import MAX_LISTED, compare

KEYED = TableSchema(TableId("public", "t"), (Column("id", "int4"), Column("v", "text")), ("id",))
KEYLESS = TableSchema(TableId("s", "log"), (Column("a", "int4"), Column("b", "text")), ())


def rows(*ids: int, v: str = "x") -> list[dict]:
    return [{"id": i, "v": v} for i in ids]


def batches(all_rows: list[dict], size: int) -> Iterator[list[dict]]:
    for i in range(0, len(all_rows), size):
        yield all_rows[i : i + size]


def test_equal_tables() -> None:
    data = rows(*range(100))
    r = compare(KEYED, batches(data, 7), batches([dict(x) for x in data], 13))
    assert r.equal and r.mismatches == 0
    assert (r.source_rows, r.target_rows) == (100, 100)
    assert r.missing_in_target == r.missing_in_source == r.different == []


def test_empty_tables() -> None:
    r = compare(KEYED, iter([]), iter([]))
    assert r.equal and (r.source_rows, r.target_rows) == (0, 0)


def test_missing_in_target() -> None:
    r = compare(KEYED, iter([rows(1, 2, 3, 4)]), iter([rows(1, 3)]))
    assert r.missing_in_target == [[2], [4]]
    assert r.missing_in_source == [] and r.different == []
    assert r.mismatches == 2 and not r.equal
    assert (r.source_rows, r.target_rows) == (4, 2)


def test_missing_in_source() -> None:
    r = compare(KEYED, iter([rows(2)]), iter([rows(1, 2), rows(3)]))
    assert r.missing_in_source == [[1], [3]]
    assert r.missing_in_target == []
    assert r.mismatches == 2


def test_different_values() -> None:
    src = rows(1, 2, 3)
    tgt = [{"id": 1, "v": "x"}, {"id": 2, "v": "changed"}, {"id": 3, "v": None}]
    r = compare(KEYED, iter([src]), iter([tgt]))
    assert r.different == [[2], [3]]
    assert r.mismatches == 2
    assert r.missing_in_source == r.missing_in_target == []


def test_equal_values_of_different_python_spelling() -> None:
    r = compare(KEYED, iter([[{"id": 1, "v": Decimal("1.50")}]]), iter([[{"id": 1, "v": Decimal("1.5")}]]))
    assert r.equal


def test_keyless_table_is_a_multiset() -> None:
    a, b = {"a": 1, "b": "x"}, {"a": 2, "b": None}
    same = compare(KEYLESS, iter([[a, a, b]]), iter([[b], [dict(a), dict(a)]]))
    assert same.equal and (same.source_rows, same.target_rows) == (3, 3)
    r = compare(KEYLESS, iter([[a, a, b]]), iter([[a, b]]))
    assert r.missing_in_target == [[1, "x"]]
    assert r.mismatches == 1 and r.different == []
    r = compare(KEYLESS, iter([[a]]), iter([[a, a, a]]))
    assert r.missing_in_source == [[1, "x"], [1, "x"]]
    assert r.mismatches == 2
    r = compare(KEYLESS, iter([[a]]), iter([[{"a": 1, "b": "y"}]]))  # no key: a changed row is one missing each way
    assert r.missing_in_target == [[1, "x"]] and r.missing_in_source == [[1, "y"]] and r.different == []


def test_batches_of_different_sizes_and_counts() -> None:
    src = rows(*range(1000))
    tgt = [dict(x) for x in src if x["id"] % 97] + [{"id": 5000, "v": "x"}]
    tgt[10]["v"] = "y"
    r = compare(KEYED, batches(src, 1000), batches(tgt, 3))
    assert r.missing_in_target == [[i] for i in range(0, 1000, 97)]
    assert r.missing_in_source == [[5000]]
    assert r.different == [[tgt[10]["id"]]]
    assert r.mismatches == len(range(0, 1000, 97)) + 2
    assert (r.source_rows, r.target_rows) == (1000, len(tgt))
    # the same outcome whichever side has the big batches
    r2 = compare(KEYED, batches(src, 1), batches(tgt, 500))
    assert r2.to_json() | {"Seconds": 0} == r.to_json() | {"Seconds": 0}


def test_composite_key_is_listed_as_a_list() -> None:
    schema = TableSchema(TableId("public", "c"), (Column("k1", "int4"), Column("k2", "text"), Column("v", "text")),
                         ("k1", "k2"))
    r = compare(schema, iter([[{"k1": 1, "k2": "a", "v": 1}]]), iter([[{"k1": 1, "k2": "a", "v": 2}]]))
    assert r.different == [[1, "a"]]


def test_to_json() -> None:
    r = compare(KEYED, iter([rows(1, 2)]), iter([rows(2, 3)]))
    r.seconds = 1.23456
    assert r.to_json() == {
        "SchemaName": "public", "TableName": "t", "ValidationState": "Mismatched records",
        "SourceRows": 2, "TargetRows": 2, "ValidationFailedRecords": 2,
        "MissingInTarget": [[1]], "MissingInSource": [[3]], "Different": [], "Seconds": 1.235,
    }
    ok = compare(KEYED, iter([rows(1)]), iter([rows(1)])).to_json()
    assert ok["ValidationState"] == "Validated" and ok["ValidationFailedRecords"] == 0


def test_listing_is_capped_but_counting_is_not() -> None:
    n = MAX_LISTED * 3
    src = rows(*range(n))
    tgt = rows(*range(n), v="other") + rows(*range(n, n + MAX_LISTED + 5))
    r = compare(KEYED, batches(src, 11), batches(tgt, 17))
    assert len(r.different) == MAX_LISTED
    assert len(r.missing_in_source) == MAX_LISTED
    assert r.missing_in_target == []
    assert r.mismatches == n + MAX_LISTED + 5
    assert r.to_json()["ValidationFailedRecords"] == n + MAX_LISTED + 5


def test_nan_equals_nan() -> None:
    schema = TableSchema(TableId("public", "t"), (Column("id", "int8"), Column("f", "float8"), Column("n", "numeric")),
                         ("id",))
    rows = [{"id": 1, "f": float("nan"), "n": Decimal("NaN")}]
    result = compare(schema, iter([rows]), iter([[dict(rows[0])]]))
    assert result.equal, result.to_json()


def test_limit_stops_reading_once_exceeded() -> None:
    src = [rows(i) for i in range(10)]
    tgt = [rows(i, v="changed") for i in range(10)]
    read = []

    def source() -> Iterator[list[dict]]:
        for batch in src:
            read.append(batch)
            yield batch

    r = compare(KEYED, source(), iter(tgt), limit=3)
    assert r.stopped and r.mismatches == 4 and len(read) == 4  # the 4th mismatch is one too many
    assert compare(KEYED, iter(src), iter(tgt), limit=10).stopped is False


def test_keep_remembers_a_bounded_number_of_keys() -> None:
    r = compare(KEYED, iter([rows(1, 2, 3, 4)]), iter([rows(1)]), keep=2)
    assert r.mismatches == 3 and len(r.keys) == 2 and r.keys <= {(2,), (3,), (4,)}


def test_only_counts_the_keys_being_rechecked() -> None:
    r = compare(KEYED, iter([rows(1, 2, 3)]), iter([rows(2, v="y") + rows(3)]), only={(2,), (9,)})
    assert r.mismatches == 1 and r.different == [[2]] and r.missing_in_target == []


def test_values_compare_as_values_not_as_their_text() -> None:
    """Another engine spells the same value otherwise: a JSON document's spacing and key order, a timestamp's
    fraction, an instant's offset. Those are equal; other values are not."""
    cols = (Column("id", "int4"), Column("j", "json"), Column("tz", "timestamptz"), Column("ts", "timestamp"),
            Column("t", "time"), Column("n", "numeric"))
    schema = TableSchema(TableId("public", "t"), cols, ("id",))
    source = [{"id": 1, "j": '{"b": [1, 2], "a": "x"}', "tz": "2024-06-30 12:00:00+05:30",
               "ts": "2000-02-29 12:00:00.5", "t": "12:34:56.5", "n": Decimal("1.5")},
              {"id": 2, "j": '{"a": 1}', "tz": "2024-06-30 12:00:00+00", "ts": "2000-01-01 00:00:00", "t": None,
               "n": Decimal("2")}]
    target = [{"id": 1, "j": '{"a":"x","b":[1,2]}', "tz": "2024-06-30 06:30:00+00",
               "ts": "2000-02-29 12:00:00.500000", "t": "12:34:56.500000", "n": Decimal("1.5000")},
              {"id": 2, "j": '{"a": 2}', "tz": "2024-06-30 12:00:01+00", "ts": "2000-01-01 00:00:00", "t": "00:00:00",
               "n": 2}]
    r = compare(schema, iter([source]), iter([target]))
    assert r.different == [[2]] and r.mismatches == 1
