"""MySQL's and MariaDB's types <-> AWS DMS's types, as data (connectors/types.py).

Native -> DMS follows DMS's "Source data types for MySQL" (the page covers MariaDB too): unsigned integers
as UINT1..UINT8, BIT(1) as BOOLEAN and BIT(n) as BYTES((n+7)/8), YEAR as INT2, ENUM and SET as WSTRING of
their longest value, JSON as a document. Where OpenDMS carries more than DMS: TIME stays TIME (DMS sends a
string), FLOAT is REAL4, TIMESTAMP travels as a timestamp with time zone (MySQL stores it as UTC), and
DECIMAL keeps its precision up to 65.

DMS -> native follows "Target data types for MySQL", with what InnoDB's limits ask for: a VARCHAR is at
most 16383 utf8mb4 characters (one row holds at most 65535 bytes), longer text becomes TEXT types; a text
or bytes column in a key becomes VARCHAR/VARBINARY of what an index can hold (3072 bytes), see
``declared_type``. A MySQL source keeps its own declaration exactly (connectors/types.TypeTable.target_type).
"""

from __future__ import annotations

import functools
import re

from connectors.base import Column, TableSchema
from connectors.types import PORTABLE_DMS, DmsType, FromDms, Mapped, ToDms, TypeTable, common_type, split_native

VARCHAR_MAX = 16383  # utf8mb4 characters a VARCHAR may hold (65535 bytes a row, 4 bytes a character)
VARBINARY_MAX = 65532
INDEX_BYTES = 3072  # InnoDB's longest index key (DYNAMIC rows)
_LENGTHED = re.compile(r"^(varchar|varbinary)\((\d+)\)$")

_MICROSECONDS = "MySQL keeps microseconds: fraction digits past the 6th are rounded"
_ZONE = ("MySQL's DATETIME has no time zone: the instant is kept as its UTC wall-clock time, the offset "
         "is dropped")
_FLOAT_SPECIAL = "MySQL has no NaN or infinity in FLOAT/DOUBLE: such a value is stored as NULL"
_AS_TEXT = ("MySQL has no such type (a PostgreSQL range, interval, network address, bit string or geometric value): "
            "the values arrive as their text")
_ARRAY = "MySQL has no arrays: a PostgreSQL array arrives as its text ({1,2,3}) in a LONGTEXT"
_NO_INFINITY = "MySQL has no infinite or BC dates: PostgreSQL's infinity, -infinity and BC dates are stored as NULL"
_DECIMAL = ("MySQL's DECIMAL holds at most 65 digits, 30 after the point: a NUMERIC without precision or wider "
            "becomes DECIMAL(65,30) (or its scale 30); values with more digits fail the row, or are rounded past "
            "the 30th after the point")

# Integer families: signed and unsigned (MySQL spells "int(10) unsigned", "tinyint unsigned zerofill").
_INTEGERS = (("tinyint", "INT1", "int2", "UINT1", "int2"),
             ("smallint", "INT2", "int2", "UINT2", "int4"),
             ("mediumint", "INT4", "int4", "UINT4", "int4"),
             ("int", "INT4", "int4", "UINT4", "int8"),
             ("integer", "INT4", "int4", "UINT4", "int8"),
             ("bigint", "INT8", "int8", "UINT8", "numeric"))


def _integer_rows() -> list[ToDms]:
    rows = []
    for name, signed, value, unsigned, uvalue in _INTEGERS:
        rows.append(ToDms((name, f"{name} signed", f"{name} zerofill"), signed, value, keep_params=False))
        rows.append(ToDms((f"{name} unsigned", f"{name} unsigned zerofill"), unsigned, uvalue, keep_params=False))
    return rows


class _MysqlTypes(TypeTable):
    """The table, with what no row of it can say: a DECIMAL is at most (65,30), and a VARCHAR or VARBINARY
    longer than one column may hold is the LOB type."""

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - tables live as long as the process
    def declare(self, dms: DmsType, portable: str = "") -> Mapped:
        mapped = super().declare(dms, portable)
        if dms.name == "NUMERIC" and dms.precision is not None and (dms.precision > 65 or (dms.scale or 0) > 30):
            return Mapped(f"decimal(65,{min(dms.scale or 0, 30)})", _DECIMAL)
        found = _LENGTHED.match(mapped.native)
        if found and int(found.group(2)) > (VARCHAR_MAX if found.group(1) == "varchar" else VARBINARY_MAX):
            return Mapped("longtext" if found.group(1) == "varchar" else "longblob", mapped.lossy)
        return mapped


    def column_type(self, table: TableSchema, column: Column) -> Mapped:
        mapped = self.target_type(table.engine, column)
        native = declared_type(table, column)
        if native == mapped.native:
            return mapped
        shorter = (f"a key column of InnoDB holds at most {native}: longer values fail the row (the key's "
                   "columns share 3072 bytes of index)")
        return Mapped(native, f"{mapped.lossy}; {shorter}" if mapped.lossy else shorter)


TYPES = _MysqlTypes("mysql", [
    *_integer_rows(),
    ToDms(("bool", "boolean"), "BOOLEAN", "bool"),
    ToDms(("bit",), "BOOLEAN", "bool", keep_params=False),  # bit(n > 1): BYTES, see column()
    ToDms(("year",), "INT2", "int2", keep_params=False),
    ToDms(("decimal", "numeric", "dec", "fixed", "decimal unsigned", "numeric unsigned", "decimal zerofill",
           "decimal unsigned zerofill"), "NUMERIC", "numeric"),
    ToDms(("float", "float unsigned"), "REAL4", "float4", keep_params=False),
    ToDms(("double", "double precision", "real", "double unsigned", "float8"), "REAL8", "float8",
          keep_params=False),
    ToDms(("char", "varchar", "character", "character varying", "nchar", "nvarchar", "national char",
           "national varchar"), "WSTRING", "string"),
    ToDms(("tinytext",), "WSTRING(255)", "string", keep_params=False),
    ToDms(("text",), "WSTRING(65535)", "text", keep_params=False),
    ToDms(("mediumtext", "longtext", "long", "long varchar"), "NCLOB", "text", keep_params=False),
    ToDms(("binary", "varbinary"), "BYTES", "bytes"),
    ToDms(("tinyblob",), "BYTES(255)", "bytes", keep_params=False),
    ToDms(("blob",), "BYTES(65535)", "bytes", keep_params=False),
    ToDms(("mediumblob", "longblob", "long varbinary"), "BLOB", "bytes", keep_params=False),
    ToDms(("date",), "DATE", "date"),
    ToDms(("time",), "TIME", "time"),
    ToDms(("datetime",), "DATETIME", "timestamp"),
    ToDms(("timestamp",), "DATETIME", "timestamptz"),
    ToDms(("json",), "NCLOB", "json", keep_params=False),
    ToDms(("enum", "set"), "WSTRING", "string", keep_params=False),  # lengths from the members: column()
    ToDms(("uuid",), "STRING(36)", "uuid", keep_params=False),  # MariaDB 10.7+
    ToDms(("inet4",), "STRING(15)", keep_params=False),  # MariaDB 10.10+
    ToDms(("inet6",), "STRING(45)", keep_params=False),
    ToDms(("geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
           "geometrycollection", "geomcollection"), "BLOB", "bytes", keep_params=False),
], [
    FromDms("BOOLEAN", "tinyint(1)"),
    FromDms("BYTES", "varbinary({length})", "longblob"),
    FromDms("BLOB", "longblob"),
    FromDms("DATE", "date", lossy=_NO_INFINITY),
    FromDms("TIME", "time({scale})", "time(6)", lossy=_MICROSECONDS, above=("scale", 6)),
    FromDms("DATETIME", "datetime({scale})", "datetime(6)", lossy=_MICROSECONDS, above=("scale", 6)),
    FromDms("DATETIME", "datetime({scale})", "datetime(6)", portable="timestamptz", lossy=_ZONE + "; " + _NO_INFINITY),
    FromDms("INT1", "tinyint"),
    FromDms("INT2", "smallint"),
    FromDms("INT4", "int"),
    FromDms("INT8", "bigint"),
    FromDms("UINT1", "tinyint unsigned"),
    FromDms("UINT2", "smallint unsigned"),
    FromDms("UINT4", "int unsigned"),
    FromDms("UINT8", "bigint unsigned"),
    FromDms("NUMERIC", "decimal({precision},{scale})", "decimal(65,30)", lossy=_DECIMAL, above=("precision", 65),
            unbounded_lossy=True),
    FromDms("REAL4", "float", lossy=_FLOAT_SPECIAL),
    FromDms("REAL8", "double", lossy=_FLOAT_SPECIAL),
    FromDms("STRING", "varchar({length})", "longtext"),
    FromDms("STRING", "varchar({length})", "longtext", portable="other", lossy=_AS_TEXT),
    FromDms("STRING", "char(36) CHARACTER SET ascii COLLATE ascii_bin", portable="uuid"),
    FromDms("WSTRING", "varchar({length})", "longtext"),
    FromDms("CLOB", "longtext"),
    FromDms("CLOB", "longtext", portable="other", lossy=_AS_TEXT),
    FromDms("NCLOB", "longtext"),
    FromDms("NCLOB", "longtext", portable="other", lossy=_AS_TEXT),
    FromDms("NCLOB", "longtext", portable="array", lossy=_ARRAY),
    FromDms("NCLOB", "json", portable="json",
            lossy="MariaDB keeps JSON as text (as written); MySQL 8's JSON type normalises whitespace and key order"),
])



def _members(native: str) -> list[str]:
    inside = native[native.find("(") + 1:native.rfind(")")]
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", inside)]


def column(name: str, native: str, nullable: bool) -> Column:
    """A discovered column of a MySQL/MariaDB table from its declaration (information_schema's COLUMN_TYPE,
    e.g. ``int(10) unsigned``, ``enum('a','bc')``, ``bit(12)``, ``decimal(65,30)``): its value class and its
    DMS type (ENUM: WSTRING of its longest member, SET: of all members and commas, BIT(n>1): BYTES)."""
    base, params = split_native(native)
    if base == "bit" and params and params[0] > 1:
        return Column(name, "bytes", nullable, native, f"BYTES({(params[0] + 7) // 8})")
    if base in ("enum", "set"):
        members = _members(native)
        width = (max(map(len, members), default=1) if base == "enum"
                 else sum(map(len, members)) + max(len(members) - 1, 0))
        return Column(name, "string", nullable, native, f"WSTRING({max(width, 1)})")
    portable = TYPES.portable(native, "")
    dms = TYPES.dms_type(native, PORTABLE_DMS.get(portable or "string"))
    return Column(name, portable or "string", nullable, native, str(dms))


def _fits(native: str, budget: int) -> str:
    """A declaration a key's column can have within ``budget`` bytes of index (TEXT and BLOB cannot be in
    a key at all without a prefix, which would not be a key of whole values)."""
    found = _LENGTHED.match(native)
    if native.endswith("text") or native == "json" or (found and found.group(1) == "varchar"):
        length = int(found.group(2)) if found else VARCHAR_MAX
        return f"varchar({max(1, min(length, budget // 4))})"
    if native.endswith("blob") or (found and found.group(1) == "varbinary"):
        length = int(found.group(2)) if found else VARBINARY_MAX
        return f"varbinary({max(1, min(length, budget))})"
    return native


def declared_type(schema: TableSchema, col: Column) -> str:
    """The type a MySQL/MariaDB target declares for ``col``: a MySQL source's own, else by the DMS type,
    bounded by InnoDB: too long a VARCHAR becomes LONGTEXT, and a column of text or bytes in the key (or, if
    not, in a unique index) becomes a VARCHAR/VARBINARY sharing the 3072 bytes an index key may hold with
    that index's other columns."""
    if schema.engine == TYPES.engine and col.native:
        return col.native
    native = TYPES.declare(common_type(col), col.type).native
    index = next((cols for cols in (schema.key, *schema.unique) if col.name in cols), ())
    if index:
        keyed = [c for c in schema.columns if c.name in index]
        wide = [c for c in keyed if c.type in _WIDE]
        narrow = sum(_key_bytes(TYPES.declare(common_type(c), c.type).native) for c in keyed if c.type not in _WIDE)
        return _fits(native, (INDEX_BYTES - narrow) // max(len(wide), 1))
    return native


_WIDE = frozenset({"string", "text", "json", "bytes", "other", "array"})
_SIZED = re.compile(r"^(var)?(char|binary)\((\d+)\)( character set ascii)?")
_DECIMAL_SIZE = re.compile(r"^decimal\((\d+)")


def _key_bytes(native: str) -> int:
    """At most what a column of this declaration takes of an index key."""
    native = native.lower()
    if found := _SIZED.match(native):
        return int(found.group(3)) * (4 if found.group(2) == "char" and not found.group(4) else 1)
    if found := _DECIMAL_SIZE.match(native):
        return int(found.group(1)) // 2 + 2
    return 16
