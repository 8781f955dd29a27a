"""COPY TEXT escaping, row parsing/formatting and the per-type value codecs."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from connectors.postgres.copytext import (
    decoder_for,
    encoder_for,
    escape,
    format_rows,
    format_text_rows,
    oid_type_name,
    parse_lines,
    unescape,
)

NASTY = [
    "",
    " ",
    "plain",
    "\\",
    "\\\\",
    "\\N",
    "N",
    "\\.",
    ".",
    "tab\there",
    "\t",
    "line\nbreak",
    "\n",
    "\r\n",
    "cr\ronly",
    "back\\slash\\t not a tab",
    "\\n literally",
    "ends with backslash\\",
    "\b\f\v bells",
    "naïve café ☃ 日本語 🎉",
    "\x01\x7f",
    "a\\\tb\\\nc\\\\\rd",
    "x" * 10_000 + "\t\\",
]


@pytest.mark.parametrize("value", NASTY)
def test_escape_round_trip(value: str) -> None:
    field = escape(value)
    for ch in "\t\n\r":
        assert ch not in field
    assert unescape(field) == value
    assert field != "\\N"


def test_escape_exact() -> None:
    assert escape("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
    assert escape("plain") == "plain"
    assert escape("\\N") == "\\\\N"


def test_unescape_all_simple_escapes() -> None:
    assert unescape(r"\b\f\n\r\t\v\\") == "\b\f\n\r\t\v\\"
    assert unescape(r"\a\.\N\ \"") == 'a.N "'  # any other escaped character is itself
    assert unescape("trailing\\") == "trailing"  # PostgreSQL drops a lone trailing backslash


def test_unescape_octal() -> None:
    assert unescape(r"\101\102C") == "ABC"
    assert unescape(r"\1012") == "A2"  # at most three digits
    assert unescape(r"\7") == "\x07"
    assert unescape(r"\08") == "\x008"
    assert unescape(r"\303\251t\303\251") == "été"  # octal escapes are UTF-8 bytes
    assert unescape(r"\342\230\203") == "☃"


def test_unescape_hex() -> None:
    assert unescape(r"\x41\x4a\x4") == "AJ\x04"
    assert unescape(r"\x414") == "A4"  # at most two digits
    assert unescape(r"\xc3\xa9") == "é"
    assert unescape(r"\xZ") == "xZ"  # \x without a hex digit is a plain x
    assert unescape(r"\\x41") == "\\x41"


def test_unescape_mixed_with_fast_path_escapes() -> None:
    assert unescape(r"\\\t\101\n\\") == "\\\tA\n\\"


def test_unescape_invalid_utf8_bytes() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        unescape(r"\377")


def test_unescape_untouched_without_backslash() -> None:
    s = "no escapes here"
    assert unescape(s) is s


# --------------------------------------------------------------------------- rows

TYPES = ["int8", "text", "numeric(12,2)", "bool", "bytea", "jsonb", "timestamptz", "int4[]", "float8"]


def test_parse_lines_fast_and_slow_paths() -> None:
    data = (
        b'1\thello\t12.50\tt\t\\\\x00ff\t{"a": 1}\t2024-01-02 03:04:05+00\t{1,2}\t1.5\n'
        b"2\t\\N\t\\N\tf\t\\N\t\\N\t\\N\t\\N\tNaN\n"
        b"3\ttab\\there\\\\\t-0.01\tt\t\\\\x\t[]\t-infinity\t{}\t-Infinity\n"
    )
    rows = parse_lines(data, [decoder_for(t) for t in TYPES])
    assert rows[0] == (
        1,
        "hello",
        Decimal("12.50"),
        True,
        b"\x00\xff",
        '{"a": 1}',
        "2024-01-02 03:04:05+00",
        "{1,2}",
        1.5,
    )
    assert rows[1][:8] == (2, None, None, False, None, None, None, None)
    assert math.isnan(rows[1][8])
    assert rows[2] == (3, "tab\there\\", Decimal("-0.01"), True, b"", "[]", "-infinity", "{}", -math.inf)
    assert all(type(r) is tuple for r in rows)


def test_parse_lines_empty_string_vs_null() -> None:
    assert parse_lines(b"\t\\N\n", [str, str]) == [("", None)]
    assert parse_lines(b"\\\\N\n", [str]) == [("\\N",)]


def test_parse_lines_edge_cases() -> None:
    assert parse_lines(b"", [str]) == []
    assert parse_lines(b"a\n\\.\n", [str]) == [("a",)]  # end-of-data marker
    assert parse_lines(memoryview(b"x\n"), [str]) == [("x",)]
    assert parse_lines(b"\n\n", []) == [(), ()]


def test_parse_lines_errors() -> None:
    with pytest.raises(ValueError, match="newline"):
        parse_lines(b"1\t2", [int, int])
    with pytest.raises(ValueError, match=r"line 2: expected 2 column\(s\), found 3"):
        parse_lines(b"1\t2\n1\t2\t3\n", [int, int])
    with pytest.raises(ValueError, match="line 1: expected 2"):
        parse_lines(b"1\\t\n", [str, str])
    with pytest.raises(ValueError, match="line 2"):
        parse_lines(b"1\nx\n", [int])
    with pytest.raises(ValueError, match="line 1"):
        parse_lines(b"abc\n", [decoder_for("numeric")])
    with pytest.raises(ValueError):
        parse_lines(b"\xff\n", [str])


def test_format_rows_and_back() -> None:
    rows = [
        (1, "hello", Decimal("12.50"), True, b"\x00\xff", '{"a": 1}', "2024-01-02 03:04:05+00", "{1,2}", 1.5),
        (2, None, None, False, None, None, None, None, math.inf),
        (-3, "\\N", Decimal("-0.01"), True, b"", "\t\n\r\\", "x", "{}", -math.inf),
        (4, "", Decimal("NaN"), False, b"\\", "☃", "", "{NULL}", 0.1),
    ]
    data = format_rows(rows, [encoder_for(t) for t in TYPES])
    assert data.endswith(b"\n") and data.count(b"\n") == len(rows)
    assert data.split(b"\n")[1] == b"2\t\\N\t\\N\tf\t\\N\t\\N\t\\N\t\\N\tInfinity"
    back = parse_lines(data, [decoder_for(t) for t in TYPES])
    assert back[0] == rows[0] and back[1] == rows[1] and back[3][:2] == rows[3][:2]
    assert back[2] == rows[2]
    assert back[3][2].is_nan() and back[3][3:] == rows[3][3:]


@pytest.mark.parametrize("value", NASTY)
def test_format_parse_round_trip_nasty(value: str) -> None:
    data = format_rows([(value, None, value)], [encoder_for("text")] * 3)
    assert parse_lines(data, [decoder_for("text")] * 3) == [(value, None, value)]


def test_format_rows_edge_cases() -> None:
    assert format_rows([], [str]) == b""
    assert format_rows([()], []) == b"\n"
    assert format_rows(iter([("a",), ("b",)]), [encoder_for("text")]) == b"a\nb\n"
    with pytest.raises(ValueError, match="2 value"):
        format_rows([("a", "b")], [encoder_for("text")])


# --------------------------------------------------------------------------- value codecs


@pytest.mark.parametrize("name", ["int2", "int4", "int8", "smallint", "integer", "bigint", "oid"])
def test_int_decoders(name: str) -> None:
    dec = decoder_for(name)
    assert dec("42") == 42 and dec("-9223372036854775808") == -9223372036854775808
    assert type(dec("0")) is int


@pytest.mark.parametrize("name", ["float4", "float8", "real", "double precision"])
def test_float_decoders(name: str) -> None:
    dec = decoder_for(name)
    assert dec("1.5") == 1.5 and dec("-1e+30") == -1e30
    assert math.isnan(dec("NaN"))
    assert dec("Infinity") == math.inf and dec("-Infinity") == -math.inf


@pytest.mark.parametrize("name", ["numeric", "numeric(12,2)", "decimal(5)"])
def test_numeric_decoder(name: str) -> None:
    dec = decoder_for(name)
    assert dec("12.50") == Decimal("12.50") and str(dec("12.50")) == "12.50"
    assert dec("-0.000000000000000000001") == Decimal("-1E-21")
    assert dec("NaN").is_nan() and dec("Infinity") == Decimal("Infinity")
    assert type(dec("1")) is Decimal


@pytest.mark.parametrize("name", ["bool", "boolean"])
def test_bool_decoder(name: str) -> None:
    dec = decoder_for(name)
    assert dec("t") is True and dec("f") is False
    with pytest.raises(ValueError, match="boolean"):
        dec("maybe")


def test_bytea_decoder() -> None:
    dec = decoder_for("bytea")
    assert dec("\\x") == b""
    assert dec("\\x00ff10") == b"\x00\xff\x10"
    assert dec("\\xDEADbeef") == b"\xde\xad\xbe\xef"
    assert dec("ab\\\\c\\000\\377") == b"ab\\c\x00\xff"  # legacy bytea_output=escape
    with pytest.raises(ValueError, match="bytea"):
        dec("\\xabc")


@pytest.mark.parametrize(
    "name",
    [
        "text",
        "varchar",
        "character varying(20)",
        "char(3)",
        "date",
        "timestamp",
        "timestamptz",
        "timestamp(3) with time zone",
        "time without time zone",
        "interval",
        "json",
        "jsonb",
        "uuid",
        "int4[]",
        "integer[]",
        "_int4",
        "numeric(10,2)[]",
        "bool[]",
        "bytea[]",
        "inet",
        "money",
        "some_enum",
    ],
)
def test_text_like_decoders_are_identity(name: str) -> None:
    dec = decoder_for(name)
    for s in ["", "2024-01-01", "{1,2,3}", '{"a": [1]}', "\\x00"]:
        assert dec(s) == s and type(dec(s)) is str


def test_decoder_name_normalisation() -> None:
    assert decoder_for(" INT8 ") is int
    assert decoder_for("pg_catalog.int4") is int
    assert decoder_for("int8[]") is str
    assert decoder_for("numeric(12,2)")("1.10") == Decimal("1.10")


def test_encoders() -> None:
    enc = encoder_for("text")
    assert enc(True) == "t" and enc(False) == "f"
    assert enc(b"\x00\xff") == "\\x00ff" and enc(bytearray(b"a")) == "\\x61" and enc(b"") == "\\x"
    assert enc(Decimal("12.50")) == "12.50" and enc(Decimal("NaN")) == "NaN"
    assert enc(7) == "7" and enc(-(2**63)) == "-9223372036854775808"
    assert enc(0.1) == "0.1" and enc(1e300) == "1e+300"
    assert enc(math.nan) == "NaN" and enc(math.inf) == "Infinity" and enc(-math.inf) == "-Infinity"
    assert enc("as is\t\\") == "as is\t\\"  # escaping is format_rows' job
    assert enc(object.__new__(_Thing)) == "thing"


class _Thing:
    def __str__(self) -> str:
        return "thing"


@pytest.mark.parametrize("name", ["int8", "bool", "bytea", "numeric", "float8", "jsonb", "int4[]", "uuid"])
def test_encoder_decoder_round_trip(name: str) -> None:
    samples = {
        "int8": [0, -1, 2**62],
        "bool": [True, False],
        "bytea": [b"", b"\x00\\\t\n"],
        "numeric": [Decimal("0"), Decimal("-1.250"), Decimal("1E+5")],
        "float8": [0.1, -2.5e-300, math.inf],
        "jsonb": ['{"k": "v\\n"}'],
        "int4[]": ["{1,NULL,3}"],
        "uuid": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    }[name]
    enc, dec = encoder_for(name), decoder_for(name)
    for v in samples:
        assert dec(unescape(escape(enc(v)))) == v


def test_bool_subclass_and_int_encoders() -> None:
    assert encoder_for("int4")(5) == "5"
    assert encoder_for("int4")(Decimal("5")) == "5"
    assert encoder_for("bool")(True) == "t"


def test_oid_type_names() -> None:
    expected = {
        16: "bool",
        17: "bytea",
        20: "int8",
        21: "int2",
        23: "int4",
        25: "text",
        114: "json",
        700: "float4",
        701: "float8",
        1043: "varchar",
        1082: "date",
        1114: "timestamp",
        1184: "timestamptz",
        1700: "numeric",
        2950: "uuid",
        3802: "jsonb",
        1000: "bool[]",
        1005: "int2[]",
        1007: "int4[]",
        1016: "int8[]",
        1009: "text[]",
        1015: "varchar[]",
    }
    for oid, name in expected.items():
        assert oid_type_name(oid) == name
    assert oid_type_name(999_999) is None
    assert oid_type_name(0) is None
    assert decoder_for(oid_type_name(20)) is int
    assert decoder_for(oid_type_name(1007)) is str


@pytest.mark.parametrize("row", [
    ["1", "plain", "2024-01-01 00:00:00+00", '{"k": 5}'],
    ["2", "tab\there", None, "x"],
    ["3", "back\\slash", "", "new\nline\r\b\f\v"],
    [None, None, None, None],
])
def test_text_rows_are_written_exactly_as_value_by_value_escaping(row: list) -> None:
    by_value = "\t".join("\\N" if v is None else escape(v) for v in row) + "\n"
    names = ("a", "b", "c", "d")
    assert format_text_rows([dict(zip(names, row, strict=True))], names) == by_value.encode()
    # the columns' order is the names', whatever the row's
    assert format_text_rows([dict(reversed(list(zip(names, row, strict=True))))], names) == by_value.encode()
    with pytest.raises(ValueError):
        format_text_rows([dict(zip(names[:3], row[:3], strict=True))], names)
