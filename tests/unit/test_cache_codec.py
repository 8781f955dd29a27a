"""Change-cache values and table-plan JSON survive the trip through Redis text."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from connectors.base import Change, Column, Op, Position, TableId, TableSchema
from connectors.model.states import DONE_STAGES, TableStage
from worker.cache import decode_change, encode_change
from worker.state import schema_from_json, schema_to_json

T = TableId("sales", "orders")
LOG = "pg:7300000000000000001:dms_task"


def round_trip(ch: Change) -> Change:
    text = encode_change(ch)
    json.loads(text)  # plain JSON text
    return decode_change(ch.table, ch.position.log, ch.position.stream_id, text)


def assert_same(got: Change, want: Change) -> None:
    assert got == want
    assert got.position.token == want.position.token
    for a, b in ((got.before, want.before), (got.after, want.after)):
        if a is not None:
            for name in a:
                assert type(a[name]) is type(b[name]), name


ROW = {
    "id": 7,
    "price": Decimal("12.3400"),
    "huge": Decimal("-123456789012345678901234567890.000000001"),
    "blob": b"\x00\xff\x80binary\n",
    "empty_blob": b"",
    "note": None,
    "doc": '{"$d": "1.5", "$b": "AA==", "nested": {"a": [1, 2, {"b": null}]}}',
    "text": "naïve café — 東京 \U0001f600 \u0000 tab\t",
    "flag": True,
    "ratio": 0.1,
    "big": 2**63 - 1,
}


@pytest.mark.parametrize("op", list(Op))
def test_every_op_round_trips(op: Op) -> None:
    before = {"id": 7, "price": Decimal("1.0")} if op in (Op.UPDATE, Op.DELETE) else None
    after = dict(ROW) if op in (Op.INSERT, Op.UPDATE) else None
    ch = Change(T, op, Position(LOG, 0x16B3748, 3, "0/16B3748"), before, after, 1_700_000_000.123456, "7781")
    got = round_trip(ch)
    assert_same(got, ch)
    assert got.op is op


def test_values_keep_their_types() -> None:
    ch = Change(T, Op.INSERT, Position(LOG, 1, 1), None, dict(ROW))
    after = round_trip(ch).after
    assert after == ROW
    assert isinstance(after["price"], Decimal) and str(after["price"]) == "12.3400"  # scale kept
    assert isinstance(after["blob"], bytes) and after["blob"] == ROW["blob"]
    assert isinstance(after["doc"], str) and after["doc"] == ROW["doc"]  # JSON text stays text


def test_special_decimals() -> None:
    values = {"nan": Decimal("NaN"), "inf": Decimal("-Infinity"), "exp": Decimal("1E+3"), "zero": Decimal("-0.00")}
    after = round_trip(Change(T, Op.INSERT, Position(LOG, 1, 1), None, values)).after
    assert after["nan"].is_nan()
    assert [str(after[k]) for k in ("inf", "exp", "zero")] == ["-Infinity", "1E+3", "-0.00"]


def test_bytearray_and_memoryview_come_back_as_bytes() -> None:
    ch = Change(T, Op.INSERT, Position(LOG, 1, 1), None, {"a": bytearray(b"ab"), "b": memoryview(b"cd")})
    assert round_trip(ch).after == {"a": b"ab", "b": b"cd"}


def test_missing_column_stays_missing() -> None:
    partial = {"id": 7, "price": Decimal("2")}  # "doc" unchanged TOAST: absent, not None
    ch = Change(T, Op.UPDATE, Position(LOG, 5, 2), None, partial)
    got = round_trip(ch)
    assert got.after == partial and "doc" not in got.after
    assert got.before is None


def test_position_is_rebuilt_from_the_stream_id() -> None:
    ch = Change(T, Op.DELETE, Position(LOG, 2**40 + 5, 17, "tok|with|pipes"), {"id": 1}, None)
    text = encode_change(ch)
    got = decode_change(T, LOG, "1099511627781-17", text)
    assert (got.position.log, got.position.major, got.position.minor) == (LOG, 2**40 + 5, 17)
    assert got.position.token == "tok|with|pipes"
    assert got.table == T
    other = decode_change(T, LOG, "9-1", text)  # the id, not the payload, decides the position
    assert (other.position.major, other.position.minor) == (9, 1)


def test_heartbeat_minor_zero_and_no_times() -> None:
    ch = Change(T, Op.TRUNCATE, Position(LOG, 42, 0))
    got = round_trip(ch)
    assert got.position == Position(LOG, 42, 0)
    assert (got.commit_time, got.txid, got.before, got.after) == (None, None, None, None)


def test_unsupported_value_is_refused() -> None:
    ch = Change(T, Op.INSERT, Position(LOG, 1, 1), None, {"when": object()})
    with pytest.raises(TypeError, match="cannot cache"):
        encode_change(ch)


def test_row_with_a_column_named_like_a_tag() -> None:
    ch = Change(T, Op.INSERT, Position(LOG, 1, 1), None, {"$b": "hello"})
    assert round_trip(ch).after == {"$b": "hello"}


def test_schema_json_round_trip() -> None:
    schema = TableSchema(
        TableId("public", "orders"),
        (
            Column("id", "int8", False, "bigint"),
            Column("amount", "numeric", True, "numeric(12,2)"),
            Column("payload", "json", True, "jsonb"),
            Column("naïve \"quoted\" name", "text"),
        ),
        ("id",),
        "postgres",
        1_234_567,
    )
    text = schema_to_json(schema)
    assert schema_from_json(text) == schema
    assert schema_from_json(schema_to_json(schema_from_json(text))) == schema
    keyless = TableSchema(TableId("s", "t.with.dots"), (Column("a", "int4"),), ())
    assert schema_from_json(schema_to_json(keyless)) == keyless


def test_schema_json_without_engine() -> None:
    d = json.loads(schema_to_json(TableSchema(T, (Column("id", "int4"),), ("id",), "postgres")))
    del d["engine"]
    assert schema_from_json(json.dumps(d)).engine == ""


def test_schema_json_of_an_earlier_plan_has_no_row_estimate() -> None:
    d = json.loads(schema_to_json(TableSchema(T, (Column("id", "int4"),), ("id",), "postgres", 42)))
    assert d["rows_estimate"] == 42
    del d["rows_estimate"]
    assert schema_from_json(json.dumps(d)).rows_estimate == 0


def test_table_states() -> None:
    assert {s.value for s in TableStage} == {"pending", "loading", "loaded", "live", "completed", "failed"}
    assert TableStage("pending").shown == "Before load" and TableStage("failed").shown == "Table error"
    assert set(DONE_STAGES) <= set(TableStage)
