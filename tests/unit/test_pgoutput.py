"""pgoutput (protocol 1) decoding against hand-built messages."""

from __future__ import annotations

import copy
import pickle
import struct
import time

import pytest

from connectors.postgres import pgoutput as po
from connectors.postgres.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
    Origin,
    Relation,
    RelationColumn,
    Truncate,
    TypeMsg,
    Update,
    decode,
    has_unchanged,
    lsn_to_str,
    str_to_lsn,
)

PG_EPOCH = 946_684_800  # 2000-01-01T00:00:00Z in Unix seconds


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def tup(*values: object) -> bytes:
    """TupleData: None -> 'n', UNCHANGED -> 'u', str -> 't', ('b', bytes) -> 'b'."""
    out = struct.pack(">H", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        elif isinstance(v, tuple):
            out += b"b" + struct.pack(">i", len(v[1])) + v[1]
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def begin(final_lsn: int, ts_us: int, xid: int) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, ts_us, xid)


def commit(commit_lsn: int, end_lsn: int, ts_us: int, flags: int = 0) -> bytes:
    return b"C" + struct.pack(">BQQq", flags, commit_lsn, end_lsn, ts_us)


def relation(relid: int, schema: str, name: str, ident: str, cols: list[tuple[int, str, int, int]]) -> bytes:
    out = b"R" + struct.pack(">I", relid) + cstr(schema) + cstr(name) + ident.encode() + struct.pack(">H", len(cols))
    for flags, cname, oid, mod in cols:
        out += bytes([flags]) + cstr(cname) + struct.pack(">Ii", oid, mod)
    return out


# --------------------------------------------------------------------------- transactions


def test_begin() -> None:
    ts = 789_012_345_678_901  # microseconds since 2000-01-01
    m = decode(begin(0x16_B374D848, ts, 4_000_000_000))
    assert m == Begin(final_lsn=0x16_B374D848, commit_time=m.commit_time, xid=4_000_000_000)
    assert m.commit_time == pytest.approx(PG_EPOCH + ts / 1e6, abs=1e-6)
    assert abs(m.commit_time - 1_735_697_145.678901) < 1e-6


def test_begin_at_pg_epoch_and_before() -> None:
    assert decode(begin(1, 0, 1)).commit_time == PG_EPOCH
    assert decode(begin(1, -1_000_000, 1)).commit_time == PG_EPOCH - 1


def test_commit() -> None:
    m = decode(commit(0x1_00000010, 0x1_00000040, 1_000_000))
    assert m == Commit(commit_lsn=0x1_00000010, end_lsn=0x1_00000040, commit_time=PG_EPOCH + 1.0)


def test_origin() -> None:
    m = decode(b"O" + struct.pack(">Q", 0xABCDEF) + cstr("upstream"))
    assert m == Origin(commit_lsn=0xABCDEF, name="upstream")


def test_message_transactional_and_not() -> None:
    m = decode(b"M" + struct.pack(">BQ", 1, 0x42) + cstr("opendms") + struct.pack(">I", 5) + b"he\0lo")
    assert m == Message(transactional=True, lsn=0x42, prefix="opendms", content=b"he\0lo")
    m = decode(b"M" + struct.pack(">BQ", 0, 7) + cstr("p") + struct.pack(">I", 0))
    assert m == Message(transactional=False, lsn=7, prefix="p", content=b"")


# --------------------------------------------------------------------------- schema


def test_relation() -> None:
    payload = relation(
        16384,
        "public",
        "orders",
        "d",
        [(1, "id", 20, -1), (0, "amount", 1700, (12 << 16 | 2) + 4), (0, "note", 25, -1)],
    )
    m = decode(payload)
    assert m == Relation(
        relid=16384,
        schema="public",
        name="orders",
        replica_identity="d",
        columns=(
            RelationColumn("id", 20, -1, True),
            RelationColumn("amount", 1700, 786438, False),
            RelationColumn("note", 25, -1, False),
        ),
    )
    assert isinstance(m.columns, tuple)


def test_relation_empty_namespace_is_pg_catalog_and_unicode_names() -> None:
    m = decode(relation(1, "", "tâble ü", "f", [(0, "ключ", 23, -1)]))
    assert m.schema == "pg_catalog"
    assert m.name == "tâble ü"
    assert m.replica_identity == "f"
    assert m.columns == (RelationColumn("ключ", 23, -1, False),)


def test_relation_without_columns() -> None:
    assert decode(relation(5, "s", "t", "n", [])).columns == ()


def test_type() -> None:
    m = decode(b"Y" + struct.pack(">I", 16390) + cstr("public") + cstr("mood"))
    assert m == TypeMsg(type_oid=16390, schema="public", name="mood")
    assert decode(b"Y" + struct.pack(">I", 3) + cstr("") + cstr("x")).schema == "pg_catalog"


# --------------------------------------------------------------------------- changes


def test_insert_text_null_unchanged() -> None:
    m = decode(b"I" + struct.pack(">I", 16384) + b"N" + tup("1", None, "", "naïve ☃", UNCHANGED, "a\tb\nc\\"))
    assert m == Insert(relid=16384, new=("1", None, "", "naïve ☃", UNCHANGED, "a\tb\nc\\"))
    assert m.new[4] is UNCHANGED
    assert m.new[2] == "" and m.new[1] is None


def test_insert_zero_columns() -> None:
    assert decode(b"I" + struct.pack(">I", 9) + b"N" + tup()) == Insert(9, ())


def test_insert_large_value() -> None:
    big = "x" * 300_000
    assert decode(b"I" + struct.pack(">I", 1) + b"N" + tup(big)).new == (big,)


def test_update_without_old() -> None:
    m = decode(b"U" + struct.pack(">I", 7) + b"N" + tup("1", "new", UNCHANGED))
    assert m == Update(relid=7, old=None, new=("1", "new", UNCHANGED), old_is_key=False)


def test_update_with_old_key() -> None:
    m = decode(b"U" + struct.pack(">I", 7) + b"K" + tup("1", None, None) + b"N" + tup("2", "x", UNCHANGED))
    assert m == Update(relid=7, old=("1", None, None), new=("2", "x", UNCHANGED), old_is_key=True)


def test_update_with_old_full_tuple() -> None:
    m = decode(b"U" + struct.pack(">I", 7) + b"O" + tup("1", "old", None) + b"N" + tup("1", "new", None))
    assert m == Update(relid=7, old=("1", "old", None), new=("1", "new", None), old_is_key=False)


def test_delete_key_and_full() -> None:
    assert decode(b"D" + struct.pack(">I", 7) + b"K" + tup("1", None)) == Delete(7, ("1", None), True)
    assert decode(b"D" + struct.pack(">I", 7) + b"O" + tup("1", "v")) == Delete(7, ("1", "v"), False)


def test_truncate_options() -> None:
    def trunc(opts: int, *relids: int) -> bytes:
        return b"T" + struct.pack(">IB", len(relids), opts) + struct.pack(f">{len(relids)}I", *relids)

    assert decode(trunc(0, 16384)) == Truncate(relids=(16384,), cascade=False, restart_identity=False)
    assert decode(trunc(1, 1, 2, 3)) == Truncate((1, 2, 3), cascade=True, restart_identity=False)
    assert decode(trunc(2, 4)) == Truncate((4,), cascade=False, restart_identity=True)
    assert decode(trunc(3, 4_294_967_295)) == Truncate((4_294_967_295,), True, True)


def test_accepts_memoryview_and_bytearray() -> None:
    payload = b"I" + struct.pack(">I", 3) + b"N" + tup("v")
    assert decode(memoryview(payload)) == decode(bytearray(payload)) == Insert(3, ("v",))


def test_messages_are_slotted_and_values_tell_unchanged_by_type() -> None:
    m = decode(b"I" + struct.pack(">I", 3) + b"N" + tup("v"))
    assert not hasattr(m, "__dict__")  # one per change: slots, and not frozen (five times cheaper to build)
    assert not has_unchanged(m.new) and m.new == ("v",)
    u = decode(b"U" + struct.pack(">I", 3) + b"N" + struct.pack(">H", 2) + b"t" + struct.pack(">I", 1) + b"7" + b"u")
    assert has_unchanged(u.new) and u.new == ("7", UNCHANGED)


def test_unchanged_is_a_singleton() -> None:
    assert repr(UNCHANGED) == "UNCHANGED"
    assert type(UNCHANGED)() is UNCHANGED
    assert pickle.loads(pickle.dumps(UNCHANGED)) is UNCHANGED
    assert copy.deepcopy(UNCHANGED) is UNCHANGED
    assert UNCHANGED != "u" and UNCHANGED is not None


# --------------------------------------------------------------------------- bad input


def test_unknown_message_type_names_the_byte() -> None:
    with pytest.raises(ValueError, match=r"unknown message type b'Z'"):
        decode(b"Z\0\0\0\0")
    with pytest.raises(ValueError, match=r"Stream Start.*proto_version 1"):
        decode(b"S" + struct.pack(">IB", 1, 1))


def test_empty_payload() -> None:
    with pytest.raises(ValueError, match="empty"):
        decode(b"")


@pytest.mark.parametrize(
    "payload",
    [
        begin(1, 2, 3)[:-1],
        commit(1, 2, 3)[:10],
        b"I" + struct.pack(">I", 3),
        b"I" + struct.pack(">I", 3) + b"N" + tup("abc")[:-1],  # text value cut short
        b"I" + struct.pack(">I", 3) + b"N" + struct.pack(">H", 2) + b"n",  # missing column
        b"R" + struct.pack(">I", 1) + b"public",  # unterminated string
        b"T" + struct.pack(">IB", 2, 0) + struct.pack(">I", 1),
        b"M" + struct.pack(">BQ", 1, 1) + cstr("p") + struct.pack(">I", 10) + b"short",
        b"U" + struct.pack(">I", 7) + b"K" + tup("1"),  # old tuple but no new one
    ],
)
def test_truncated_messages(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode(payload)


def test_trailing_bytes_rejected() -> None:
    with pytest.raises(ValueError, match="trailing"):
        decode(begin(1, 2, 3) + b"\0")


def test_bad_tuple_kinds() -> None:
    with pytest.raises(ValueError, match=r"Insert expects.*'K'"):
        decode(b"I" + struct.pack(">I", 3) + b"K" + tup("1"))
    with pytest.raises(ValueError, match=r"Update expects"):
        decode(b"U" + struct.pack(">I", 3) + b"X" + tup("1"))
    with pytest.raises(ValueError, match=r"Delete expects"):
        decode(b"D" + struct.pack(">I", 3) + b"N" + tup("1"))
    with pytest.raises(ValueError, match=r"value kind b'x'"):
        decode(b"I" + struct.pack(">I", 3) + b"N" + struct.pack(">H", 1) + b"x")


def test_binary_values_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        decode(b"I" + struct.pack(">I", 3) + b"N" + tup(("b", b"\x00\x01")))


def test_invalid_utf8_text_value() -> None:
    with pytest.raises(ValueError):
        decode(b"I" + struct.pack(">I", 3) + b"N" + struct.pack(">H", 1) + b"t" + struct.pack(">i", 1) + b"\xff")


# --------------------------------------------------------------------------- LSNs


@pytest.mark.parametrize(
    ("lsn", "text"),
    [
        (0, "0/0"),
        (0x16_B374D848, "16/B374D848"),
        (0x1_00000000, "1/0"),
        (0xFFFFFFFF, "0/FFFFFFFF"),
        (0xFFFFFFFF_FFFFFFFF, "FFFFFFFF/FFFFFFFF"),
        (0x0A_0000000B, "A/B"),
    ],
)
def test_lsn_round_trip(lsn: int, text: str) -> None:
    assert lsn_to_str(lsn) == text
    assert str_to_lsn(text) == lsn
    assert str_to_lsn(text.lower()) == lsn
    assert str_to_lsn(lsn_to_str(lsn)) == lsn


def test_lsn_parse_tolerates_padding() -> None:
    assert str_to_lsn("00000016/0B374D84") == 0x16_0B374D84
    assert str_to_lsn(" 1/2 ") == (1 << 32) | 2


@pytest.mark.parametrize(
    "bad",
    ["", "16", "16/", "/B3", "16/B374D848/1", "G/1", "123456789/0", "0/123456789", "-1/0", "1 / 2", "0x1/2"],
)
def test_bad_lsn_text(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid LSN"):
        str_to_lsn(bad)


def test_bad_lsn_values() -> None:
    with pytest.raises(ValueError, match="out of range"):
        lsn_to_str(-1)
    with pytest.raises(ValueError, match="out of range"):
        lsn_to_str(1 << 64)
    with pytest.raises(TypeError):
        str_to_lsn(5)  # type: ignore[arg-type]


def test_public_names() -> None:
    for name in po.__all__:
        assert hasattr(po, name)


def test_decoder_is_fast_enough() -> None:
    """A loose floor (the real figure is several hundred thousand per second), in this process's CPU time:
    tests run in parallel, and wall time on a busy machine says nothing of the decoder."""
    payload = b"I" + struct.pack(">I", 16384) + b"N" + struct.pack(">H", 9)
    for v in [b"1", b"hello", b"12.50", b"t", b"\\x00ff", b'{"a": 1}', b"2024-01-01 00:00:00+00", b"{1}"]:
        payload += b"t" + len(v).to_bytes(4, "big") + v
    payload += b"u"
    start = time.process_time()
    for _ in range(20_000):
        decode(payload)
    assert 20_000 / max(time.process_time() - start, 1e-9) > 20_000


# --------------------------------------------------------------------------- straight into rows

NAMES = ("id", "v", "w")


@pytest.mark.parametrize("payload, expected", [
    (b"I" + struct.pack(">I", 7) + b"N" + tup("1", None, "a\tb"), (ord("I"), None, False, {"id": "1", "v": None,
                                                                                       "w": "a\tb"})),
    (b"U" + struct.pack(">I", 7) + b"N" + tup("1", "new", UNCHANGED), (ord("U"), None, False, {"id": "1", "v": "new"})),
    (b"U" + struct.pack(">I", 7) + b"K" + tup("1", None, None) + b"N" + tup("2", "x", UNCHANGED),
     (ord("U"), {"id": "1", "v": None, "w": None}, True, {"id": "2", "v": "x"})),
    (b"U" + struct.pack(">I", 7) + b"O" + tup("1", "old", None) + b"N" + tup("1", "new", None),
     (ord("U"), {"id": "1", "v": "old", "w": None}, False, {"id": "1", "v": "new", "w": None})),
    (b"D" + struct.pack(">I", 7) + b"K" + tup("1", None, None),
     (ord("D"), {"id": "1", "v": None, "w": None}, True, None)),
    (b"D" + struct.pack(">I", 7) + b"O" + tup("1", "v", UNCHANGED), (ord("D"), {"id": "1", "v": "v"}, False, None)),
    # fewer values than names, and more: the server sends a Relation before changes of new columns
    (b"I" + struct.pack(">I", 7) + b"N" + tup("1", "x"), (ord("I"), None, False, {"id": "1", "v": "x"})),
    (b"I" + struct.pack(">I", 7) + b"N" + tup("1", "x", "y", "z"), (ord("I"), None, False,
                                                                     {"id": "1", "v": "x", "w": "y"})),
])
def test_row_change_reads_rows_as_decode_reads_messages(payload: bytes, expected: tuple) -> None:
    assert po.relid(payload) == 7
    assert po.row_change(payload, NAMES) == expected
    m = decode(payload)  # the same message, the same values
    for values, row in ((getattr(m, "old", None), expected[1]), (getattr(m, "new", None), expected[3])):
        assert (values is None) == (row is None)
        if row is not None:
            assert row == {n: v for n, v in zip(NAMES, values, strict=False) if v is not UNCHANGED}


@pytest.mark.parametrize("payload, error", [
    (b"U" + struct.pack(">I", 7), "truncated"),
    (b"I" + struct.pack(">I", 7) + b"N" + tup("1", "x")[:-1], "truncated"),
    (b"I" + struct.pack(">I", 7) + b"K" + tup("1"), "Insert expects a new tuple"),
    (b"U" + struct.pack(">I", 7) + b"X" + tup("1"), "Update expects a new tuple"),
    (b"D" + struct.pack(">I", 7) + b"N" + tup("1"), "Delete expects an old tuple"),
    (b"I" + struct.pack(">I", 7) + b"N" + tup("1") + b"!", "trailing bytes"),
    (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">H", 1) + b"q", "unknown tuple value kind"),
    (b"B" + struct.pack(">I", 7) + b"N" + tup("1"), "not an Insert, Update or Delete"),
    (b"I\0\0", "truncated"),
])
def test_row_change_rejects_what_decode_rejects(payload: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        po.relid(payload)
        po.row_change(payload, NAMES)


def test_a_text_change_decodes_each_column_by_its_type_and_keeps_the_text_change() -> None:
    from decimal import Decimal

    from connectors.base import Change, Column, Op, Position, TableId, TableSchema
    from connectors.postgres.source import PostgresSource

    schema = TableSchema(TableId("public", "t"), (
        Column("id", "int8", False, native="bigint"), Column("n", "numeric", native="numeric(12,2)"),
        Column("b", "bool", native="boolean"), Column("raw", "bytes", native="bytea"),
        Column("ts", "timestamptz", native="timestamp with time zone"), Column("tags", "text", native="integer[]")),
        ("id",))
    source = object.__new__(PostgresSource)  # decode needs no connection
    source._decoders = {}
    before = {"id": "1"}
    after = {"id": "2", "n": "12.50", "b": "t", "raw": "\\x00ff", "ts": "2026-12-07 01:02:03+00", "tags": "{1,2}",
             "late": "7", "gone": None}  # "late": a column the schema does not know yet; "raw" present, "x" absent
    ch = Change(schema.table, Op.UPDATE, Position("log", 9, 1, "0/9"), before, after, 1.5, "77", True)
    out = source.decode(schema, ch)
    assert out.after == {"id": 2, "n": Decimal("12.50"), "b": True, "raw": b"\x00\xff",
                         "ts": "2026-12-07 01:02:03+00", "tags": "{1,2}", "late": "7", "gone": None}
    assert list(out.after) == list(after) and out.before == {"id": 1}
    assert (out.table, out.op, out.position, out.commit_time, out.txid, out.text) == (
        ch.table, ch.op, ch.position, 1.5, "77", False)
    assert ch.after["id"] == "2" and ch.text  # the change read keeps its text (a failed batch decodes it again)
    assert source.decode(schema, out) is out
