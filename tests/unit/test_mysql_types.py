"""The MySQL/MariaDB type table (connectors/mysql/types.py): every type the issue names, both ways, the
InnoDB limits a target respects (row size, index key length), and the lossy conversions named."""

from __future__ import annotations

import pytest

from connectors.base import Column, TableId, TableSchema
from connectors.mysql.classify import classify
from connectors.mysql.prepare import index_name
from connectors.mysql.types import TYPES, column, declared_type
from connectors.registry import ENGINES, default_port, type_table
from connectors.types import DmsType

# (information_schema COLUMN_TYPE, DMS type, value class)
SOURCE = [
    ("tinyint(4)", "INT1", "int2"), ("tinyint(3) unsigned", "UINT1", "int2"),
    ("smallint(6)", "INT2", "int2"), ("smallint(5) unsigned", "UINT2", "int4"),
    ("mediumint(9)", "INT4", "int4"), ("mediumint(8) unsigned", "UINT4", "int4"),
    ("int(11)", "INT4", "int4"), ("int(10) unsigned", "UINT4", "int8"), ("int(5) unsigned zerofill", "UINT4", "int8"),
    ("bigint(20)", "INT8", "int8"), ("bigint(20) unsigned", "UINT8", "numeric"),
    ("bit(1)", "BOOLEAN", "bool"), ("bit(64)", "BYTES(8)", "bytes"), ("bit(12)", "BYTES(2)", "bytes"),
    ("year(4)", "INT2", "int2"), ("year", "INT2", "int2"),
    ("decimal(65,30)", "NUMERIC(65,30)", "numeric"), ("decimal(10,0)", "NUMERIC(10,0)", "numeric"),
    ("float", "REAL4", "float4"), ("double", "REAL8", "float8"),
    ("varchar(45)", "WSTRING(45)", "string"), ("char(3)", "WSTRING(3)", "string"),
    ("tinytext", "WSTRING(255)", "string"), ("text", "WSTRING(65535)", "text"), ("longtext", "NCLOB", "text"),
    ("mediumtext", "NCLOB", "text"),
    ("binary(16)", "BYTES(16)", "bytes"), ("varbinary(2000)", "BYTES(2000)", "bytes"),
    ("tinyblob", "BYTES(255)", "bytes"), ("blob", "BYTES(65535)", "bytes"), ("longblob", "BLOB", "bytes"),
    ("mediumblob", "BLOB", "bytes"),
    ("date", "DATE", "date"), ("time(6)", "TIME(6)", "time"), ("datetime", "DATETIME", "timestamp"),
    ("datetime(6)", "DATETIME(6)", "timestamp"), ("timestamp(6)", "DATETIME(6)", "timestamptz"),
    ("json", "NCLOB", "json"), ("enum('a','bcd','it''s')", "WSTRING(4)", "string"),
    ("set('x','yy','zzz')", "WSTRING(8)", "string"), ("uuid", "STRING(36)", "uuid"),
    ("point", "BLOB", "bytes"),
]


@pytest.mark.parametrize(("native", "dms", "value"), SOURCE, ids=[s[0] for s in SOURCE])
def test_mysql_native_to_dms(native: str, dms: str, value: str) -> None:
    col = column("c", native, True)
    assert (col.dms, col.type, col.native) == (dms, value, native)


def _schema(*cols: Column, key: tuple[str, ...] = ("id",), engine: str = "postgres",
            unique: tuple[tuple[str, ...], ...] = ()) -> TableSchema:
    return TableSchema(TableId("public", "t"), (Column("id", "int8", False, "bigint", "INT8"), *cols), key, engine,
                       unique=unique)


# (DMS type, value class) -> what a MySQL target declares
TARGET = [
    ("BOOLEAN", "bool", "tinyint(1)"), ("INT1", "int2", "tinyint"), ("INT2", "int2", "smallint"),
    ("INT4", "int4", "int"), ("INT8", "int8", "bigint"), ("UINT1", "int2", "tinyint unsigned"),
    ("UINT2", "int4", "smallint unsigned"), ("UINT4", "int8", "int unsigned"), ("UINT8", "numeric", "bigint unsigned"),
    ("NUMERIC(65,30)", "numeric", "decimal(65,30)"), ("NUMERIC(12,4)", "numeric", "decimal(12,4)"),
    ("NUMERIC", "numeric", "decimal(65,30)"), ("REAL4", "float4", "float"), ("REAL8", "float8", "double"),
    ("WSTRING(40)", "string", "varchar(40)"), ("WSTRING(20000)", "string", "longtext"),
    ("WSTRING", "string", "longtext"), ("NCLOB", "text", "longtext"), ("NCLOB", "json", "json"),
    ("STRING(36)", "uuid", "char(36) CHARACTER SET ascii COLLATE ascii_bin"), ("BYTES(16)", "bytes", "varbinary(16)"),
    ("BYTES(70000)", "bytes", "longblob"),
    ("BLOB", "bytes", "longblob"), ("DATE", "date", "date"), ("TIME", "time", "time(6)"),
    ("DATETIME", "timestamp", "datetime(6)"), ("DATETIME(3)", "timestamp", "datetime(3)"),
    ("DATETIME(6)", "timestamptz", "datetime(6)"),
]


@pytest.mark.parametrize(("dms", "value", "native"), TARGET, ids=[f"{t[0]}-{t[1]}" for t in TARGET])
def test_dms_to_mysql(dms: str, value: str, native: str) -> None:
    assert declared_type(_schema(Column("c", value, True, "x", dms)), Column("c", value, True, "x", dms)) == native


def test_a_mysql_source_keeps_its_declarations() -> None:
    cols = [Column("c", "string", True, "enum('a','b')", "WSTRING(1)"), Column("d", "int8", True, "int(10) unsigned")]
    schema = _schema(*cols, engine="mysql")
    assert [declared_type(schema, c) for c in cols] == ["enum('a','b')", "int(10) unsigned"]


def test_text_and_bytes_keys_fit_an_index() -> None:
    text, data = Column("k", "text", False, "text", "NCLOB"), Column("b", "bytes", False, "bytea", "BLOB")
    assert declared_type(_schema(text, key=("k",)), text) == "varchar(768)"  # 3072 bytes of utf8mb4
    with_id = _schema(text, key=("id", "k"))
    assert declared_type(with_id, text) == "varchar(764)"  # 16 bytes kept for the bigint
    both = _schema(text, data, key=("k", "b"))
    assert (declared_type(both, text), declared_type(both, data)) == ("varchar(384)", "varbinary(1536)")
    name = Column("n", "string", False, "varchar(40)", "WSTRING(40)")
    assert declared_type(_schema(name, unique=(("n",),)), name) == "varchar(40)"
    # a text column of a unique index (not of the key) fits that index: MySQL cannot index a whole TEXT
    assert declared_type(_schema(text, key=("id",), unique=(("k",),)), text) == "varchar(768)"
    assert declared_type(_schema(text, key=("id",)), text) == "longtext"


def test_unique_index_names_fit_mysql() -> None:
    assert index_name("members", ("email",)) == "members_email_key"
    long = index_name("t" * 60, ("a" * 30, "b"))
    assert len(long) == 64 and long != index_name("t" * 60, ("a" * 30, "c"))


@pytest.mark.parametrize(("dms", "value", "reason"), [
    ("DATETIME(6)", "timestamptz", "offset is dropped"), ("NUMERIC", "numeric", "DECIMAL(65,30)"),
    ("NUMERIC(70,2)", "numeric", "DECIMAL(65,30)"), ("NUMERIC(40,35)", "numeric", "scale 30"),
    ("REAL8", "float8", "NaN"), ("DATETIME(9)", "timestamp", "micro"),
])
def test_lossy_conversions_are_named(dms: str, value: str, reason: str) -> None:
    assert reason in TYPES.declare(DmsType.parse(dms), value).lossy
    assert not TYPES.declare(DmsType.parse("NUMERIC(12,2)"), "numeric").lossy


def test_the_engine_names_dms_uses_are_one_package() -> None:
    assert {"mysql", "mariadb", "aurora"} <= set(ENGINES)
    assert type_table("mariadb") is type_table("aurora") is TYPES
    assert default_port("mariadb") == default_port("aurora") == 3306


def test_errors_are_classified() -> None:
    import pymysql

    from connectors.base import Endpoint
    from connectors.errors import ConfigError, DataError, ObjectError, PositionLost, TransientError

    ep = Endpoint("m", "target", "mariadb", "db.example", 3306, "app", "dms", "x")
    err = pymysql.err.OperationalError
    assert isinstance(classify(err(1045, "Access denied for user"), ep, connecting=True), ConfigError)
    assert isinstance(classify(err(1049, "Unknown database 'app'"), ep, connecting=True), ConfigError)
    assert isinstance(classify(err(2013, "Lost connection to MySQL server during query"), ep), TransientError)
    assert isinstance(classify(err(2006, "MySQL server has gone away"), ep), TransientError)
    assert isinstance(classify(err(1213, "Deadlock found"), ep), TransientError)
    assert isinstance(classify(pymysql.err.IntegrityError(1062, "Duplicate entry"), ep), DataError)
    assert isinstance(classify(pymysql.err.ProgrammingError(1146, "Table 'app.t' doesn't exist"), ep), ObjectError)
    assert isinstance(classify(err(1236, "Could not find first log file name"), ep), PositionLost)
    line = str(classify(err(2003, "Can't connect ([Errno -2] Name or service not known)"), ep, connecting=True))
    assert isinstance(classify(err(2003, "x Name or service not known"), ep, connecting=True), ConfigError)
    assert "cannot resolve host 'db.example'" in line and "\n" not in line


def test_decimals_past_mysqls_limits_are_clamped() -> None:
    assert TYPES.declare(DmsType.parse("NUMERIC(70,2)"), "numeric").native == "decimal(65,2)"
    assert TYPES.declare(DmsType.parse("NUMERIC(40,35)"), "numeric").native == "decimal(65,30)"


def test_the_dry_run_names_what_postgresql_types_lose_in_mysql() -> None:
    from connectors.postgres.types import TYPES as PG
    from scheduler.dryrun import column_types

    def planned(native: str, value: str) -> tuple[str, str]:
        col = Column("c", value, True, native, str(PG.dms_type(native, "NCLOB" if value == "array" else None)))
        return column_types(_schema(col), col, col, "mariadb")

    cases = {("integer[]", "array"): ("integer[] -> NCLOB -> longtext", "no arrays"),
             ("int4range", "other"): ("int4range -> STRING(255) -> varchar(255)", "range"),
             ("interval", "other"): ("interval -> STRING(128) -> varchar(128)", "interval"),
             ("numeric", "numeric"): ("numeric -> NUMERIC -> decimal(65,30)", "without precision"),
             ("timestamp with time zone", "timestamptz"): ("-> DATETIME -> datetime(6)", "offset is dropped"),
             ("numeric(12,2)", "numeric"): ("-> NUMERIC(12,2) -> decimal(12,2)", "")}
    for (native, value), (types, lossy) in cases.items():
        got_types, got_lossy = planned(native, value)
        assert types in got_types and lossy in got_lossy and bool(lossy) == bool(got_lossy), (native, got_types,
                                                                                              got_lossy)


def test_the_dry_run_shows_a_text_key_as_the_varchar_it_becomes() -> None:
    from scheduler.dryrun import column_types

    key = Column("k", "text", False, "text", "NCLOB")
    types, lossy = column_types(_schema(key, key=("k",)), key, key, "mariadb")
    assert types == "text -> NCLOB -> varchar(768) NOT NULL" and "at most varchar(768)" in lossy
    other = Column("v", "text", True, "text", "NCLOB")
    assert column_types(_schema(key, other, key=("k",)), other, other, "mariadb") == ("text -> NCLOB -> longtext", "")
