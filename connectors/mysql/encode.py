"""Values from OpenDMS's plain Python values into a MySQL/MariaDB target: what statements bind, the text LOAD
DATA reads, and what a read-back of the target gives (validation, the conformance suite).

Temporal values travel as text (connectors/base.py) in one spelling on every engine: a fraction without
trailing zeros (``12:00:00.5``), a timestamp with time zone ending in its offset (``+00``). MySQL's DATETIME
has no zone, so such a value is stored as its UTC wall-clock time and read back with ``+00``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.base import Column, Row, TableSchema
from connectors.errors import DataError

from .types import declared_type
from .values import row_converter


def utc_text(value: str) -> str:
    """``2024-06-30 12:00:00+05:30`` -> ``2024-06-30 06:30:00`` (MySQL's DATETIME keeps no zone)."""
    if value.endswith("+00"):  # PostgreSQL's spelling in a UTC session: the common case, at no cost
        return value[:-3]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DataError(f"{value!r} is not a timestamp with time zone MySQL can store") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(" ")


def _decimal(v: Any) -> Any:
    if type(v) is Decimal:
        if not v.is_finite():
            raise DataError(f"{v} cannot be stored in MySQL's DECIMAL (no NaN or infinity)")
        return format(v, "f")  # never 1E+3: MySQL would read a double
    return v


def _float(v: Any) -> Any:
    if type(v) is float and (v != v or v in (float("inf"), float("-inf"))):
        return None  # MySQL has none of them (types.py names it lossy, as SQLite's NaN)
    return v


def _special(v: Any) -> bool:
    """PostgreSQL's infinite and BC dates, which no MySQL DATE or DATETIME holds."""
    return type(v) is str and (v in ("infinity", "-infinity") or v.endswith(" BC"))


def _date(v: Any) -> Any:
    return None if _special(v) else v


def _bool(v: Any) -> Any:
    return int(v) if type(v) is bool else v


def _zone(v: Any) -> Any:
    if _special(v):
        return None
    return utc_text(v) if type(v) is str else v


# value class -> conversion of a non-NULL value before it is bound or written out
_BIND: dict[str, Callable[[Any], Any]] = {
    "numeric": _decimal, "float4": _float, "float8": _float, "bool": _bool, "timestamptz": _zone,
    "date": _date, "timestamp": _date,
}


def row_binder(schema: TableSchema, names: Sequence[str]) -> Callable[[Row], tuple]:
    """A row (mapping) -> the tuple PyMySQL binds for ``names``."""
    by_name = {c.name: c for c in schema.columns}
    convert = [(i, _BIND[by_name[n].type]) for i, n in enumerate(names) if by_name[n].type in _BIND]
    names = tuple(names)

    def bind(row: Row) -> tuple:
        values = [row.get(n) for n in names]
        for i, fn in convert:
            if values[i] is not None:
                values[i] = fn(values[i])
        return tuple(values)

    return bind


def bind_value(column: Column, value: Any) -> Any:
    fn = _BIND.get(column.type)
    return fn(value) if fn is not None and value is not None else value


# -- LOAD DATA's text: tab-separated, backslash escapes, \N for NULL; bytes in hex (UNHEX on the server) --------

_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))


def _text(v: Any) -> str:
    s = v if type(v) is str else str(v)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s or "\0" in s:
        for a, b in _ESCAPES:
            s = s.replace(a, b)
    return s


def _hex(v: Any) -> str:
    return bytes(v).hex()


def _field(column: Column) -> Callable[[Any], str]:
    """A non-NULL value -> its field in LOAD DATA's text ("\\N" when the conversion made it NULL)."""
    convert = _BIND.get(column.type)
    if column.type == "bytes":
        return _hex
    if column.type == "bool":
        return lambda v: "1" if v else "0"
    if column.type in ("int2", "int4", "int8"):
        return str
    if column.type == "numeric":
        return lambda v: _decimal(v) if type(v) is Decimal else _text(v)
    if convert is None:
        return _text
    if column.type in ("float4", "float8"):
        return lambda v: "\\N" if (v := convert(v)) is None else repr(v)
    return lambda v: "\\N" if (v := convert(v)) is None else _text(v)


def load_encoder(schema: TableSchema) -> Callable[[Sequence[Row]], bytes]:
    """Rows -> LOAD DATA's text for the table's columns, in their order."""
    fields = [(c.name, _field(c)) for c in schema.columns]

    def encode(rows: Sequence[Row]) -> bytes:
        if not rows:
            return b""
        lines = ["\t".join(["\\N" if (v := row.get(name)) is None else fn(v) for name, fn in fields])
                 for row in rows]
        lines.append("")
        return "\n".join(lines).encode("utf-8", "surrogatepass")

    return encode


# -- reading back ---------------------------------------------------------------------------------------------

def select_list(schema: TableSchema, quote: Callable[[str], str]) -> str:
    """The columns as a read-back selects them: a FLOAT widened to a double first (MySQL prints a FLOAT with
    six digits; values.py then finds the shortest decimal of the same single-precision value)."""
    return ", ".join(f"{quote(c.name)} + 0e0" if declared_type(schema, c).lower().startswith("float")
                     else quote(c.name) for c in schema.columns)


def row_decoder(schema: TableSchema) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Values as a read-back gets them (values.LOAD_CONVERSIONS) -> a row of common values, converted as the
    source side converts the same MySQL types (values.py), by the types the target declared."""
    declared = tuple(replace(c, native=declared_type(schema, c)) for c in schema.columns)
    convert = row_converter(declared, log=False)
    numeric = [i for i, c in enumerate(schema.columns) if c.type == "numeric"]  # BIGINT UNSIGNED: an int
    names = schema.column_names

    def decode(values: Sequence[Any]) -> dict[str, Any]:
        out = list(convert(tuple(values)))
        for i in numeric:
            if type(out[i]) is int:
                out[i] = Decimal(out[i])
        return dict(zip(names, out, strict=True))

    return decode
