"""SQLite declared types <-> the portable column types, and the values that travel between them.

SQLite stores any value in any column; a declared type only gives the column an affinity. So a
declared type is mapped by its well-known names first (BOOLEAN, DATE, NUMERIC(10,2), VARCHAR(20), ...)
and otherwise by SQLite's affinity rules. Values are turned into the plain Python values of
:mod:`connectors.base` only where SQLite's differ: booleans are stored as 0/1, and NUMERIC values
come back as int or float (so they travel as Decimal, as from PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import Column, TableSchema

_BY_NAME = {
    "BOOLEAN": "bool", "BOOL": "bool",
    "TINYINT": "int2", "SMALLINT": "int2", "INT2": "int2",
    "MEDIUMINT": "int4", "INT4": "int4",
    "INT": "int8", "INTEGER": "int8", "BIGINT": "int8", "INT8": "int8", "UNSIGNED BIG INT": "int8",
    "REAL": "float8", "DOUBLE": "float8", "DOUBLE PRECISION": "float8", "FLOAT": "float8", "FLOAT8": "float8",
    "FLOAT4": "float4",
    "NUMERIC": "numeric", "DECIMAL": "numeric",
    "TEXT": "text", "CLOB": "text",
    "CHAR": "string", "CHARACTER": "string", "VARCHAR": "string", "VARYING CHARACTER": "string",
    "CHARACTER VARYING": "string", "NCHAR": "string", "NATIVE CHARACTER": "string", "NVARCHAR": "string",
    "BLOB": "bytes", "BYTEA": "bytes",
    "DATE": "date", "TIME": "time", "DATETIME": "timestamp", "TIMESTAMP": "timestamp",
    "TIMESTAMPTZ": "timestamptz", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "json", "JSONB": "json", "UUID": "uuid",
}

# Portable type -> declared type on a SQLite target, for tables whose source is another engine.
# JSON, UUID and the temporal names keep the type for the way back; SQLite keeps such values as text.
_DECLARED = {
    "bool": "BOOLEAN", "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "REAL",
    "float8": "REAL", "numeric": "NUMERIC", "string": "VARCHAR", "text": "TEXT", "bytes": "BLOB",
    "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "json": "JSON",
    "uuid": "UUID", "array": "TEXT", "other": "TEXT",
}


def portable_type(declared: str) -> str:
    """A column's declared type -> the portable type name of connectors.base.Column."""
    name = " ".join(declared.upper().split("(")[0].split())
    if name in _BY_NAME:
        return _BY_NAME[name]
    if not name:
        return "other"  # no declared type: any value (BLOB affinity)
    if "INT" in name:  # SQLite's affinity rules, in their order
        return "int8"
    if "CHAR" in name or "CLOB" in name or "TEXT" in name:
        return "text"
    if "BLOB" in name:
        return "bytes"
    if "REAL" in name or "FLOA" in name or "DOUB" in name:
        return "float8"
    return "numeric"


def declared_type(schema: TableSchema, column: Column) -> str:
    """The type a SQLite target declares: a SQLite source's own, else the portable type's SQLite name."""
    if schema.engine == "sqlite":
        return column.native
    return _DECLARED.get(column.type, "TEXT")


def _bool(v: Any) -> Any:
    return bool(v) if type(v) is int else v


def _numeric(v: Any) -> Any:
    t = type(v)
    if t is int:
        return Decimal(v)
    if t is float:
        return Decimal(repr(v))  # the shortest text that reads back as the same double
    if t is str:
        try:
            return Decimal(v)
        except InvalidOperation:
            return v
    return v


def _float(v: Any) -> Any:
    return float(v) if type(v) is int else v


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "bool": _bool, "numeric": _numeric, "float4": _float, "float8": _float,
}


def row_decoder(names: Sequence[str], types: Sequence[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Values as SQLite returns them -> a row of portable values (converting only the columns that need it)."""
    convert = [(i, _DECODERS[t]) for i, t in enumerate(types) if t in _DECODERS]
    names = tuple(names)

    def decode(values: Sequence[Any]) -> dict[str, Any]:
        if convert:
            values = list(values)
            for i, fn in convert:
                v = values[i]
                if v is not None:
                    values[i] = fn(v)
        return dict(zip(names, values, strict=True))

    return decode


def schema_decoder(schema: TableSchema) -> Callable[[Sequence[Any]], dict[str, Any]]:
    return row_decoder(schema.column_names, [c.type for c in schema.columns])


_INT64 = (-(1 << 63), (1 << 63) - 1)


def bind(v: Any) -> Any:
    """A portable value -> one sqlite3 binds; only Decimal needs it (an integral one stays exact)."""
    if type(v) is Decimal:
        if v.is_finite() and v == v.to_integral_value() and _INT64[0] <= v <= _INT64[1]:
            return int(v)
        return float(v)
    return v


def row_encoder(schema: TableSchema, names: Sequence[str]) -> Callable[[Any], tuple]:
    """A portable row (a mapping) -> the tuple of values to bind for ``names``."""
    numeric = {c.name for c in schema.columns if c.type == "numeric"}
    idx = [i for i, n in enumerate(names) if n in numeric]
    names = tuple(names)
    if not idx:
        return lambda row: tuple([row.get(n) for n in names])

    def encode(row: Any) -> tuple:
        values = [row.get(n) for n in names]
        for i in idx:
            values[i] = bind(values[i])
        return tuple(values)

    return encode
