"""Each engine's type table (connectors/<engine>/types.py): native -> DMS type -> native round trips,
and the lossy cases named."""

from __future__ import annotations

import pytest

from connectors.base import Column
from connectors.registry import ENGINES, type_table
from connectors.types import DMS_PORTABLE, DMS_TYPE_NAMES, DmsType, common_type, split_native


def test_dms_types_parse_and_print() -> None:
    assert str(DmsType.parse("numeric(12, 4)")) == "NUMERIC(12,4)"
    assert str(DmsType.parse("WSTRING(64)")) == "WSTRING(64)"
    assert DmsType.parse("BYTE") == DmsType("BYTES")  # DMS's pages spell it both ways
    assert str(DmsType.of("datetime", [6])) == "DATETIME(6)"
    assert DmsType.parse("CLOB").lob and not DmsType.parse("STRING(10)").lob
    with pytest.raises(ValueError, match="not a DMS data type"):
        DmsType.parse("VARCHAR2")
    assert split_native("timestamp(3) with time zone") == ("timestamp with time zone", (3,))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_dms_type_has_a_native_type_on_every_engine(engine: str) -> None:
    table = type_table(engine)
    for name in DMS_TYPE_NAMES:
        mapped = table.declare(DmsType(name), DMS_PORTABLE[name])
        assert mapped.native, f"{engine} declares nothing for {name}"


# (native declaration, DMS type, value class)
POSTGRES = [
    ("boolean", "BOOLEAN", "bool"), ("smallint", "INT2", "int2"), ("integer", "INT4", "int4"),
    ("bigint", "INT8", "int8"), ("real", "REAL4", "float4"), ("double precision", "REAL8", "float8"),
    ("numeric(12,4)", "NUMERIC(12,4)", "numeric"), ("numeric", "NUMERIC", "numeric"),
    ("character varying(40)", "WSTRING(40)", "string"), ("character(3)", "WSTRING(3)", "string"),
    ("text", "NCLOB", "text"), ("bytea", "BLOB", "bytes"), ("date", "DATE", "date"),
    ("time without time zone", "TIME", "time"), ("timestamp(3) without time zone", "DATETIME(3)", "timestamp"),
    ("timestamp with time zone", "DATETIME", "timestamptz"), ("jsonb", "NCLOB", "json"),
    ("uuid", "STRING(36)", "uuid"),
]


@pytest.mark.parametrize(("native", "dms", "portable"), POSTGRES)
def test_postgres_types_round_trip_through_dms_types(native: str, dms: str, portable: str) -> None:
    """Heterogeneous path, PostgreSQL -> DMS -> PostgreSQL: the same type back, lengths and scales carried."""
    table = type_table("postgres")
    assert str(table.dms_type(native)) == dms
    assert table.portable(split_native(native)[0]) == portable
    back = table.declare(DmsType.parse(dms), portable)
    assert split_native(back.native)[0] in {split_native(native)[0], *_PG_SPELLINGS.get(split_native(native)[0], ())}
    assert split_native(back.native)[1] == split_native(native)[1]


_PG_SPELLINGS = {"character varying": ("varchar",), "character": ("varchar",), "time without time zone": ("time",),
                 "timestamp without time zone": ("timestamp",), "timestamp with time zone": ("timestamptz",),
                 "bigint": (), "boolean": ()}


def test_postgres_keeps_its_own_declarations_for_a_postgres_source() -> None:
    """Homogeneous: enums, domains, arrays and ranges come through exactly, whatever their DMS type."""
    table = type_table("postgres")
    for native in ("mood", "positive_int", "integer[]", "int4range", "character varying(40)", "numeric(1000,2)"):
        column = Column("c", "other", True, native, str(table.dms_type(native)))
        assert table.target_type("postgres", column).native == native
    assert str(table.dms_type("mood")) == "STRING"  # DMS sends an unknown type as a string
    assert str(table.dms_type("integer[]", "NCLOB")) == "NCLOB"
    assert str(table.dms_type("int4range")) == "STRING(255)"


def test_postgres_lossy_cases_are_named() -> None:
    table = type_table("postgres")
    assert "microseconds" in table.declare(DmsType.parse("DATETIME(9)"), "timestamp").lossy
    assert table.declare(DmsType.parse("DATETIME(6)"), "timestamp").lossy == ""
    assert "offset" in table.declare(DmsType("DATETIME"), "timestamptz").lossy
    assert "key order" in table.declare(DmsType("NCLOB"), "json").lossy
    assert table.declare(DmsType("UINT8"), "numeric").native == "numeric(20,0)"  # DMS's BIGINT would overflow
    assert table.declare(DmsType("STRING"), "uuid").native == "uuid"


# (declared type, DMS type, value class, declared on a SQLite target for that DMS type)
SQLITE = [
    ("BOOLEAN", "BOOLEAN", "bool", "BOOLEAN"), ("SMALLINT", "INT2", "int2", "SMALLINT"),
    ("INT4", "INT4", "int4", "INTEGER"), ("INTEGER", "INT8", "int8", "BIGINT"), ("REAL", "REAL8", "float8", "REAL"),
    ("NUMERIC(12,4)", "NUMERIC", "numeric", "NUMERIC"), ("VARCHAR(20)", "WSTRING", "string", "VARCHAR"),
    ("TEXT", "NCLOB", "text", "TEXT"), ("BLOB", "BLOB", "bytes", "BLOB"), ("DATE", "DATE", "date", "DATE"),
    ("DATETIME", "DATETIME", "timestamp", "TIMESTAMP"), ("TIMESTAMPTZ", "DATETIME", "timestamptz", "TIMESTAMPTZ"),
    ("JSON", "NCLOB", "json", "JSON"), ("UUID", "STRING(36)", "uuid", "UUID"),
    # SQLite's affinity rules for names the table does not know
    ("LONGTEXT", "NCLOB", "text", "TEXT"), ("UNSIGNED MEDIUM INTEGER", "INT8", "int8", "BIGINT"),
    ("", "STRING", "other", "TEXT"),
]


@pytest.mark.parametrize(("declared", "dms", "portable", "back"), SQLITE)
def test_sqlite_types_round_trip_through_dms_types(declared: str, dms: str, portable: str, back: str) -> None:
    """Lengths and precisions are not carried from SQLite, which does not enforce them."""
    from connectors.sqlite import types

    column = types.column("c", declared, True)
    assert (column.dms, column.type) == (dms, portable)
    assert type_table("sqlite").declare(common_type(column), column.type).native == back
    assert types.portable_type(back) == {"int4": "int8", "other": "text"}.get(portable, portable)


def test_sqlite_lossy_cases_are_named() -> None:
    table = type_table("sqlite")
    assert "15th" in table.declare(DmsType.parse("NUMERIC(38,10)"), "numeric").lossy
    assert "15th" in table.declare(DmsType("NUMERIC"), "numeric").lossy  # unbounded: any digits
    assert table.declare(DmsType.parse("NUMERIC(12,4)"), "numeric").lossy == ""
    assert table.declare(DmsType.parse("NUMERIC(12,4)"), "numeric").native == "NUMERIC(12,4)"
    assert "NaN" in table.declare(DmsType("REAL8"), "float8").lossy
    assert "64 bits" in table.declare(DmsType("UINT8"), "numeric").lossy
    assert table.declare(DmsType.parse("WSTRING(64)"), "string").native == "VARCHAR(64)"


def test_memory_keeps_the_value_classes() -> None:
    table = type_table("memory")
    for portable in ("bool", "int8", "numeric", "string", "text", "bytes", "timestamptz", "json", "uuid", "array"):
        assert table.target_type("postgres", Column("c", portable)).native == portable
    assert table.declare(DmsType("UINT8"), "numeric").native == "numeric"
