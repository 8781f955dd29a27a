"""SQLite declared types <-> DMS types and the portable column types, and the values that travel between them.

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

from connectors.base import DOC_BODY, Column, TableSchema
from connectors.types import PORTABLE_DMS, FromDms, ToDms, TypeTable, common_type

_FLOATS = "SQLite has no NaN: a NaN is stored as NULL"
_DIGITS = "SQLite keeps NUMERIC as a 64-bit integer or a double: digits past the 15th are rounded"

# Declared names -> DMS type and value class. Lengths and precisions are not carried: SQLite does not
# enforce them, so a VARCHAR(10) column may hold longer text that a target enforcing 10 would refuse.
TYPES = TypeTable("sqlite", [
    ToDms(("boolean", "bool"), "BOOLEAN", "bool"),
    ToDms(("tinyint",), "INT1", "int2"),
    ToDms(("smallint", "int2"), "INT2", "int2"),
    ToDms(("mediumint", "int4"), "INT4", "int4"),
    ToDms(("int", "integer", "bigint", "int8", "unsigned big int"), "INT8", "int8"),
    ToDms(("real", "double", "double precision", "float", "float8"), "REAL8", "float8"),
    ToDms(("float4",), "REAL4", "float4"),
    ToDms(("numeric", "decimal"), "NUMERIC", "numeric", keep_params=False),
    ToDms(("text", "clob"), "NCLOB", "text"),
    ToDms(("char", "character", "varchar", "varying character", "character varying", "nchar", "native character",
           "nvarchar"), "WSTRING", "string", keep_params=False),
    ToDms(("blob", "bytea"), "BLOB", "bytes"),
    ToDms(("date",), "DATE", "date"),
    ToDms(("time",), "TIME", "time", keep_params=False),
    ToDms(("datetime", "timestamp"), "DATETIME", "timestamp", keep_params=False),
    ToDms(("timestamptz", "timestamp with time zone"), "DATETIME", "timestamptz", keep_params=False),
    ToDms(("json", "jsonb"), "NCLOB", "json"),
    ToDms(("uuid",), "STRING(36)", "uuid", keep_params=False),
], [
    FromDms("BOOLEAN", "BOOLEAN"),
    FromDms("BYTES", "BLOB"),
    FromDms("BLOB", "BLOB"),
    FromDms("DATE", "DATE"),
    FromDms("TIME", "TIME"),
    FromDms("DATETIME", "TIMESTAMP"),
    FromDms("DATETIME", "TIMESTAMPTZ", portable="timestamptz"),
    FromDms("INT1", "SMALLINT"),
    FromDms("INT2", "SMALLINT"),
    FromDms("INT4", "INTEGER"),
    FromDms("INT8", "BIGINT"),
    FromDms("UINT1", "SMALLINT"),
    FromDms("UINT2", "INTEGER"),
    FromDms("UINT4", "BIGINT"),
    FromDms("UINT8", "NUMERIC(20,0)", lossy="SQLite keeps integers in 64 bits: values over 2^63-1 become doubles, "
                                            "rounded"),
    FromDms("NUMERIC", "NUMERIC({precision},{scale})", "NUMERIC", lossy=_DIGITS, above=("precision", 15),
            unbounded_lossy=True),
    FromDms("REAL4", "REAL", lossy=_FLOATS),
    FromDms("REAL8", "REAL", lossy=_FLOATS),
    FromDms("STRING", "VARCHAR({length})", "VARCHAR"),
    FromDms("STRING", "UUID", portable="uuid"),
    FromDms("STRING", "TEXT", portable="other"),
    FromDms("WSTRING", "VARCHAR({length})", "VARCHAR"),
    FromDms("CLOB", "TEXT"),
    FromDms("NCLOB", "TEXT"),
    FromDms("NCLOB", "JSON", portable="json"),
])


def portable_type(declared: str) -> str:
    """A column's declared type -> the portable type name of connectors.base.Column."""
    name = " ".join(declared.upper().split("(")[0].split())
    known = TYPES.portable(name, "")
    if known:
        return known
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


def column(name: str, declared: str, nullable: bool) -> Column:
    """A discovered column: its value class and DMS type by the declared type (SQLite's affinity rules
    where the table does not name it)."""
    portable = portable_type(declared)
    return Column(name, portable, nullable, declared, str(TYPES.dms_type(declared, PORTABLE_DMS[portable])))


def declared_type(schema: TableSchema, column: Column) -> str:
    """The type a SQLite target declares: a SQLite source's own (none, too), else by the DMS type (TYPES)."""
    if schema.engine == "sqlite":
        return column.native
    if schema.documents and column.name == DOC_BODY:
        return "TEXT"  # a document is JSON text; SQLite has no JSON type (JSON would mean NUMERIC affinity)
    return TYPES.declare(common_type(column), column.type).native


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
