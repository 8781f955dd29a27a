"""PostgreSQL COPY TEXT format: escaping, row parsing/formatting, and per-type value codecs.

COPY text is one line per row, columns separated by tab, ``\\N`` for NULL, and backslash escapes
for backslash, tab, newline and carriage return (plus ``\\b \\f \\v``, octal ``\\ooo`` and hex
``\\xhh`` on input). Octal and hex escapes denote *bytes* of the (UTF-8) encoding.

Value codecs turn a column's text into the plain Python values of :mod:`connectors.base`:
integers -> int, floats -> float, numeric -> Decimal, bool -> bool, bytea -> bytes, everything
else (text, temporal, json, uuid, arrays, ...) stays ``str``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = [
    "NULL",
    "decoder_for",
    "encoder_for",
    "escape",
    "format_rows",
    "format_text_rows",
    "oid_type_name",
    "parse_lines",
    "unescape",
]

NULL = "\\N"

# --------------------------------------------------------------------------- escaping

_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\b\f\v]")
_needs_escape = _NEEDS_ESCAPE.search


def escape(value: str) -> str:
    """A text value -> its COPY text field (not NULL: NULL is written ``\\N``)."""
    if _needs_escape(value) is None:
        return value
    # Chained str.replace beats str.translate by ~10x; backslash must go first.
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\b", "\\b")
        .replace("\f", "\\f")
        .replace("\v", "\\v")
    )


_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_UNESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.)|\Z)", re.DOTALL)


def _unescape_match(m: re.Match[str]) -> str:
    octal, hexa, other = m.groups()
    if other is not None:
        return _SIMPLE.get(other, other)  # any other escaped character stands for itself
    if octal is not None:
        code = int(octal, 8) & 0xFF
    elif hexa is not None:
        code = int(hexa, 16)
    else:
        return ""  # a lone trailing backslash: PostgreSQL drops it
    # Octal/hex escapes are bytes; a non-ASCII byte is carried as a surrogateescape code point
    # and the whole field re-decoded as UTF-8 afterwards.
    return chr(code) if code < 0x80 else chr(0xDC00 + code)


def unescape(field: str) -> str:
    """A COPY text field -> its value. (The caller checks for ``\\N`` = NULL first.)"""
    if "\\" not in field:
        return field
    if "\0" not in field:
        # Fast path for what PostgreSQL itself writes (it never emits octal/hex escapes): pair up
        # backslashes left to right, as the escape grammar does, parking each pair as NUL (which
        # text never contains), then the single-letter escapes.
        out = (
            field.replace("\\\\", "\0")
            .replace("\\t", "\t")
            .replace("\\n", "\n")
            .replace("\\r", "\r")
            .replace("\\b", "\b")
            .replace("\\f", "\f")
            .replace("\\v", "\v")
        )
        if "\\" not in out:
            return out.replace("\0", "\\")
    out = _UNESCAPE.sub(_unescape_match, field)
    if _ESCAPED_BYTE.search(out) is not None:
        try:
            out = out.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"COPY field {field!r}: octal/hex escapes are not valid UTF-8: {e}") from None
    return out


# --------------------------------------------------------------------------- rows


def parse_lines(data: bytes, decoders: Sequence[Callable[[str], Any]]) -> list[tuple]:
    """COPY text bytes (complete lines, each ending in newline) -> rows of decoded values."""
    if not data:
        return []
    text = data.decode("utf-8") if type(data) is bytes else bytes(data).decode("utf-8")
    if text[-1] != "\n":
        raise ValueError("COPY text data must end with a newline (incomplete last line)")
    lines = text.split("\n")
    lines.pop()  # the empty string after the final newline
    ncols = len(decoders)
    decs = tuple(decoders)
    # Only non-identity decoders run on the fast path (`str` is the identity on text).
    conv = tuple((i, d) for i, d in enumerate(decs) if d is not str)
    rows: list[tuple] = []
    append = rows.append
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            fields = line.split("\t")
            if "\\" not in line:  # no NULLs, no escapes: the fast path
                if len(fields) != ncols:
                    if ncols == 0 and line == "":
                        append(())
                        continue
                    raise _bad_line(lineno, line, ncols, len(fields))
                for i, dec in conv:
                    fields[i] = dec(fields[i])
                append(tuple(fields))
            else:
                if line == "\\.":  # end-of-data marker
                    break
                if len(fields) != ncols:
                    raise _bad_line(lineno, line, ncols, len(fields))
                append(
                    tuple(
                        None if f == NULL else dec(unescape(f) if "\\" in f else f)
                        for dec, f in zip(decs, fields, strict=True)
                    )
                )
    except (ValueError, ArithmeticError) as e:  # decimal.InvalidOperation is an ArithmeticError
        if isinstance(e, _LineError):
            raise
        raise ValueError(f"COPY text line {lineno}: {e}") from e
    return rows


class _LineError(ValueError):
    pass


def _bad_line(lineno: int, line: str, ncols: int, nfields: int) -> ValueError:
    return _LineError(f"COPY text line {lineno}: expected {ncols} column(s), found {nfields}: {line[:200]!r}")


def format_rows(rows: Iterable[Sequence[Any]], encoders: Sequence[Callable[[Any], str]]) -> bytes:
    """Rows of Python values -> COPY text bytes (``None`` -> ``\\N``)."""
    encs = tuple(encoders)
    ncols = len(encs)
    esc = escape
    lines = []
    append = lines.append
    for row in rows:
        if len(row) != ncols:
            raise ValueError(f"row has {len(row)} value(s) for {ncols} column(s): {row!r}")
        append("\t".join([NULL if v is None else esc(enc(v)) for enc, v in zip(encs, row, strict=False)]))
    if not lines:
        return b""
    lines.append("")
    return "\n".join(lines).encode("utf-8")


_SPECIAL = re.compile(r"[\\\n\r\b\f\v]").search  # escape's characters but the tab, which is counted


def format_text_rows(rows: Iterable[Mapping[str, str | None]], names: Sequence[str]) -> bytes:
    """Rows of PostgreSQL text values (by column name) -> COPY text bytes, columns in ``names``'
    order. A row's line is built and checked whole: most need no escaping and hold no NULL, and
    one join and one search per line beat work per value."""
    lines = []
    append = lines.append
    tabs = len(names) - 1
    special = _SPECIAL
    # one C call for a row's values, twice as fast as a get per value
    values_of = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    for row in rows:
        try:
            line = "\t".join(values_of(row))
        except (TypeError, KeyError):  # a NULL (None), or a missing column
            values = list(map(row.get, names))
            if len(row) != len(names):
                raise ValueError(f"row has {len(row)} value(s) for {len(names)} column(s): {row!r}") from None
            line = "\t".join([NULL if v is None else v for v in values])
        if line.count("\t") != tabs or special(line) is not None:  # NULL's \N lands here too
            line = "\t".join([NULL if v is None else escape(v) for v in map(row.get, names)])
        append(line)
    if not lines:
        return b""
    lines.append("")
    return "\n".join(lines).encode("utf-8")


# --------------------------------------------------------------------------- value codecs


def _bool(text: str) -> bool:
    if text == "t":
        return True
    if text == "f":
        return False
    low = text.strip().lower()  # the literal spellings PostgreSQL accepts on input
    if low in ("true", "yes", "on", "1", "y", "tr", "tru", "ye"):
        return True
    if low in ("false", "no", "off", "0", "n", "fa", "fal", "fals"):
        return False
    raise ValueError(f"invalid boolean text {text!r} (expected 't' or 'f')")


_BYTEA_ESC = re.compile(rb"\\(?:([0-3][0-7]{2})|(\\))")


def _bytea(text: str) -> bytes:
    """bytea output text: hex format ``\\x0a0b`` (PostgreSQL 9.0+) or the old escape format."""
    if text[:2] == "\\x":
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise ValueError(f"invalid bytea hex text {text[:60]!r}") from None
    raw = text.encode("utf-8")
    if b"\\" not in raw:
        return raw
    return _BYTEA_ESC.sub(lambda m: bytes([int(m.group(1), 8)]) if m.group(1) else b"\\", raw)


def _float_text(v: float) -> str:
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def _encode(v: Any) -> str:
    """Any plain Python value -> PostgreSQL input text (before COPY escaping)."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "t" if v else "f"
    if t is int or t is Decimal:
        return str(v)
    if t is float:
        return _float_text(v)
    if t is bytes or t is bytearray or t is memoryview:
        return "\\x" + bytes(v).hex()
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, float):
        return _float_text(float(v))
    if isinstance(v, int):
        return int.__repr__(v)
    return str(v)


def _encode_int(v: Any) -> str:
    return int.__repr__(v) if type(v) is int else _encode(v)


_INT = (
    "int2",
    "int4",
    "int8",
    "smallint",
    "integer",
    "bigint",
    "int",
    "oid",
    "smallserial",
    "serial",
    "bigserial",
    "serial2",
    "serial4",
    "serial8",
)
_FLOAT = ("float4", "float8", "real", "double precision", "float")
_NUMERIC = ("numeric", "decimal")
_BOOL = ("bool", "boolean")

_DECODERS: dict[str, Callable[[str], Any]] = {}
_DECODERS.update(dict.fromkeys(_INT, int))
_DECODERS.update(dict.fromkeys(_FLOAT, float))  # float() reads NaN, Infinity, -Infinity
_DECODERS.update(dict.fromkeys(_NUMERIC, Decimal))
_DECODERS.update(dict.fromkeys(_BOOL, _bool))
_DECODERS["bytea"] = _DECODERS["bytes"] = _bytea  # "bytes": the portable name in base.Column

_ENCODERS: dict[str, Callable[[Any], str]] = dict.fromkeys(_INT, _encode_int)


def _base_name(type_name: str) -> tuple[str, bool]:
    """``format_type()`` / typname spelling -> (base name, is array)."""
    name = type_name.strip().lower()
    is_array = name.endswith("]") or name.startswith("_")
    paren = name.find("(")
    if paren >= 0:
        close = name.find(")", paren)
        name = name[:paren] + name[close + 1 :] if close >= 0 else name[:paren]
    bracket = name.find("[")
    if bracket >= 0:
        name = name[:bracket]
    name = " ".join(name.replace('"', "").split())
    if name.startswith("pg_catalog."):
        name = name[len("pg_catalog.") :]
    return name, is_array


def decoder_for(type_name: str) -> Callable[[str], Any]:
    """PostgreSQL type name -> function from its text output to the plain Python value."""
    name, is_array = _base_name(type_name)
    if is_array:
        return str
    return _DECODERS.get(name, str)  # `str` is the identity on text


def encoder_for(type_name: str) -> Callable[[Any], str]:
    """PostgreSQL type name -> function from a plain Python value to its input text (unescaped)."""
    name, is_array = _base_name(type_name)
    if is_array:
        return _encode
    return _ENCODERS.get(name, _encode)


# --------------------------------------------------------------------------- type OIDs

_OID_NAMES: dict[int, str] = {
    16: "bool",
    17: "bytea",
    18: "char",
    19: "name",
    20: "int8",
    21: "int2",
    23: "int4",
    25: "text",
    26: "oid",
    114: "json",
    142: "xml",
    700: "float4",
    701: "float8",
    790: "money",
    829: "macaddr",
    869: "inet",
    650: "cidr",
    1042: "bpchar",
    1043: "varchar",
    1082: "date",
    1083: "time",
    1114: "timestamp",
    1184: "timestamptz",
    1186: "interval",
    1266: "timetz",
    1560: "bit",
    1562: "varbit",
    1700: "numeric",
    2950: "uuid",
    3802: "jsonb",
    # arrays
    199: "json[]",
    1000: "bool[]",
    1001: "bytea[]",
    1005: "int2[]",
    1007: "int4[]",
    1009: "text[]",
    1014: "bpchar[]",
    1015: "varchar[]",
    1016: "int8[]",
    1021: "float4[]",
    1022: "float8[]",
    1115: "timestamp[]",
    1182: "date[]",
    1185: "timestamptz[]",
    1231: "numeric[]",
    2951: "uuid[]",
    3807: "jsonb[]",
}


def oid_type_name(oid: int) -> str | None:
    """A built-in type OID -> its name (arrays as ``elem[]``); None when not known here."""
    return _OID_NAMES.get(oid)
