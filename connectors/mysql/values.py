"""MySQL/MariaDB values -> the common Python values (connectors/base.py), from both of a source's reads.

The full load reads rows through PyMySQL's text protocol (temporal values kept as the server's text by
``LOAD_CONVERSIONS``); change capture reads the binlog's row images through mysql-replication (datetimes,
timedeltas, sets, bit strings). Both go through the converter of the column here, so a value reads the same
whichever way it came:

- integers as ``int`` (unsigned BIGINT too; ``numeric`` columns as ``Decimal``), TINYINT(1) and BIT(1) as
  ``bool`` where the type table says BOOLEAN, BIT(n) as its big-endian bytes;
- DATE, DATETIME, TIMESTAMP and TIME as text (``2024-01-02 03:04:05.5``: fraction without trailing zeros,
  TIMESTAMP in UTC, with ``+00`` when the column is a timestamptz); a zero date (``0000-00-00``, or a date
  with a zero month or day) arrives as NULL, as DMS sends it;
- FLOAT as the shortest decimal that is the same single-precision number (the binlog holds the 4 bytes);
- SET as its members in declaration order joined by commas, ENUM and text as ``str``, JSON as its text;
- BINARY(n) padded with zero bytes to n (the binlog leaves the padding out).
"""

from __future__ import annotations

import datetime
import json
import re
import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pymysql.constants import FIELD_TYPE
from pymysql.converters import decoders

from connectors.base import Column

Convert = Callable[[Any], Any]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# PyMySQL's decoders, but temporal values stay the server's text: a zero date survives to be made NULL, a
# TIME past 24 hours keeps its spelling, and no datetime is built only to be written out again.
LOAD_CONVERSIONS = {**decoders, FIELD_TYPE.DATE: _text, FIELD_TYPE.DATETIME: _text, FIELD_TYPE.TIMESTAMP: _text,
                    FIELD_TYPE.TIME: _text, FIELD_TYPE.NEWDATE: _text, FIELD_TYPE.JSON: _text}


def base_name(native: str) -> str:
    """'int(10) unsigned' -> 'int'; "set('a','b')" -> 'set'."""
    return re.split(r"[\s(]", native.strip().lower(), maxsplit=1)[0]


def _length(native: str) -> int | None:
    found = re.search(r"\((\d+)", native)
    return int(found.group(1)) if found else None


def members(native: str) -> list[str]:
    """The members of an ENUM or SET declaration, in order: "set('a','it''s')" -> ['a', "it's"]."""
    inside = native[native.index("(") + 1:native.rindex(")")]
    return [m.replace("''", "'").replace("\\\\", "\\") for m in re.findall(r"'((?:[^']|'')*)'", inside)]


def _trim_fraction(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _zero(text: str) -> bool:
    """A zero date or a date with a zero month or day (which MySQL allows unless NO_ZERO_IN_DATE)."""
    return text[:4] == "0000" or text[5:7] == "00" or text[8:10] == "00"


def _date(value: Any) -> Any:
    if isinstance(value, str):
        return None if _zero(value) else value
    return value.isoformat()


def _stamp(zone: str) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return None if _zero(value) else _trim_fraction(value) + zone
        if isinstance(value, datetime.datetime):  # not strftime: it writes the year 1 as "1"
            text = f"{value.date().isoformat()} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
            if value.microsecond:
                text += f".{value.microsecond:06d}".rstrip("0")
            return text + zone
        return None if value == 0 else value
    return convert


def _timestamp_log(zone: str) -> Convert:
    """A TIMESTAMP in the binlog is seconds since the epoch: 0 is the zero timestamp, which DMS sends as NULL."""
    stamp = _stamp(zone)
    epoch = datetime.datetime(1970, 1, 1)

    def convert(value: Any) -> Any:
        return None if value == epoch else stamp(value)
    return convert


def _time(value: Any) -> Any:
    if isinstance(value, str):
        return _trim_fraction(value)
    if isinstance(value, datetime.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        sign = "-" if micros < 0 else ""
        seconds, fraction = divmod(abs(micros), 1_000_000)
        text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return text + (f".{fraction:06d}".rstrip("0") if fraction else "")
    return str(value)


def _float4(value: Any) -> Any:
    """The shortest decimal reading back as the same single-precision float (MySQL prints FLOATs so)."""
    if not isinstance(value, float) or value != value or value in (float("inf"), float("-inf")):
        return value
    single = struct.unpack("<f", struct.pack("<f", value))[0]
    for digits in range(6, 10):
        shortest = float(f"{single:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", shortest))[0] == single:
            return shortest
    return single


def _bits(native: str, as_bool: bool) -> Convert:
    size = ((_length(native) or 1) + 7) // 8

    def convert(value: Any) -> Any:
        number = int(value, 2) if isinstance(value, str) else int.from_bytes(value, "big") \
            if isinstance(value, bytes) else int(value)
        return number != 0 if as_bool else number.to_bytes(size, "big")
    return convert


def _decimal(value: Any) -> Decimal:
    return value if type(value) is Decimal else Decimal(value)


def _set(native: str) -> Convert:
    order = {m: i for i, m in enumerate(members(native))}

    def convert(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return ",".join(sorted(value, key=lambda m: order.get(m, len(order))))
        return value
    return convert


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), ensure_ascii=False)


def _plain(doc: Any) -> Any:
    """mysql-replication's JSON documents have bytes keys and strings: plain str for json.dumps."""
    if isinstance(doc, dict):
        return {_text(k): _plain(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_plain(v) for v in doc]
    return _text(doc)


def _binary(size: int | None) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            value = value.encode()
        return value.ljust(size, b"\0") if size else value
    return convert


def _uuid(value: Any) -> Any:
    """MariaDB's UUID: 16 bytes in the binlog (in the text's order, as 10.11 logs it), its text in a query."""
    # trailing zero bytes are left out of the log, as a BINARY's padding
    if isinstance(value, (bytes, bytearray)) or value == "":  # all zeros: mysql-replication gives ''
        return str(uuid.UUID(bytes=bytes(value or b"").ljust(16, b"\0")))
    return value


def _string(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def converter(column: Column, *, log: bool) -> Convert | None:
    """The column's value converter (None: values are right as they come); ``log``: for binlog row images,
    else for rows of the full load."""
    base, kind = base_name(column.native or column.type), column.type
    if base == "bit":
        return _bits(column.native, kind == "bool")
    if kind == "bool":
        return bool
    if base == "set":
        return _set(column.native)
    if base == "year":
        return (lambda v: 0 if v == 1900 else v) if log else None  # mysql-replication reads YEAR 0000 as 1900
    if kind == "numeric":
        return _decimal  # DECIMALs come as Decimal, an unsigned BIGINT as int
    if base == "float" or kind == "float4":
        return _float4
    if kind in ("timestamp", "timestamptz") or base in ("datetime", "timestamp"):
        zone = "+00" if kind == "timestamptz" else ""
        return _timestamp_log(zone) if log and base == "timestamp" else _stamp(zone)
    if kind == "date" or base == "date":
        return _date
    if kind == "time" or base == "time":
        return _time
    if kind == "json" or base == "json":
        return _json
    if base == "binary":
        return _binary(_length(column.native) or 1)
    if kind == "bytes":
        return _binary(None)
    if base == "uuid":
        return _uuid
    if kind in ("string", "text", "uuid"):
        return _string
    return None


def row_converter(columns: tuple[Column, ...], *, log: bool) -> Callable[[tuple], tuple]:
    """A function turning one row's values (in the columns' order) into common values."""
    converters = [converter(c, log=log) for c in columns]
    if not any(converters):
        return lambda row: row
    pairs = list(enumerate(converters))

    def convert(row: tuple) -> tuple:
        out = list(row)
        for i, fn in pairs:
            if fn is not None and out[i] is not None:
                out[i] = fn(out[i])
        return tuple(out)
    return convert
