"""The MySQL/MariaDB source's parts that need no server: binlog positions, values of both reads, and binlog
events assembled into changes and transaction boundaries (connectors/mysql/logpos.py, values.py, events.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from connectors.base import Column, Op, Position, Positions, TableId, TableSchema
from connectors.mysql import logpos
from connectors.mysql.events import Assembler, truncated
from connectors.mysql.values import converter, members, row_converter

LOG = logpos.log_id("1", "mysql-bin")


# -- positions ---------------------------------------------------------------------------------------


def test_positions_order_as_the_log_across_files() -> None:
    a = logpos.position(LOG, "mysql-bin.000009", 4_000_000_000)
    b = logpos.position(LOG, "mysql-bin.000010", 4)
    c = logpos.position(LOG, "mysql-bin.000010", 4, minor=1)
    assert a < b < c
    assert b.token == "mysql-bin.000010:4"
    assert logpos.where(a) == ("mysql-bin.000009", 4_000_000_000)
    assert logpos.at(LOG, b.major) == b


def test_positions_round_trip_through_checkpoints() -> None:
    p = logpos.position(LOG, "mysql-bin.1234567", 377, minor=3)  # past six digits, as a server numbers on
    assert Position.decode(p.encode()) == p
    assert logpos.where(Position.decode(p.encode())) == ("mysql-bin.1234567", 377)
    assert Positions.decode(Positions([p]).encode()).single() == p


def test_positions_of_other_servers_or_file_names_never_compare() -> None:
    other = logpos.position(logpos.log_id("2", "mysql-bin"), "mysql-bin.000001", 4)
    with pytest.raises(ValueError):
        _ = other < logpos.position(LOG, "mysql-bin.000001", 4)


@pytest.mark.parametrize("text", ["mysql-bin-changelog.000024:373", " mysql-bin.000001:4 ", "log.1234567:0"])
def test_start_positions_in_dms_spelling(text: str) -> None:
    assert logpos.position_error(text) is None
    name, offset = logpos.parse(text)
    assert f"{name}:{offset}" == text.strip()


@pytest.mark.parametrize("text", ["mysql-bin.000024", "373", "mysql-bin.24:373", "0/16B3748", "a.000001:x",
                                  "mysql-bin.000001:99999999999"])
def test_bad_start_positions_say_what_to_give(text: str) -> None:
    problem = logpos.position_error(text)
    assert problem is not None and text in problem
    assert "mysql-bin.000024:373" in problem or "4 GiB" in problem


# -- values ------------------------------------------------------------------------------------------


def col(name: str, kind: str, native: str) -> Column:
    return Column(name, kind, True, native)


@pytest.mark.parametrize(("column", "loaded", "logged", "common"), [
    (col("u", "numeric", "bigint(20) unsigned"), Decimal(18446744073709551615), 18446744073709551615,
     Decimal(18446744073709551615)),
    (col("b", "bool", "tinyint(1)"), 1, 1, True),
    (col("b1", "bool", "bit(1)"), b"\x00", "0", False),
    (col("b10", "bytes", "bit(10)"), b"\x02\xaa", "1010101010", b"\x02\xaa"),
    (col("y", "int2", "year(4)"), 2024, 2024, 2024),
    (col("y0", "int2", "year(4)"), 0, 1900, 0),
    (col("s", "string", "set('x','y','z')"), "x,z", {"z", "x"}, "x,z"),
    (col("e", "string", "enum('a','b')"), "b", "b", "b"),
    (col("d", "date", "date"), "2024-02-29", datetime.date(2024, 2, 29), "2024-02-29"),
    (col("z", "date", "date"), "0000-00-00", None, None),
    (col("dt", "timestamp", "datetime(6)"), "2024-01-02 03:04:05.500000",
     datetime.datetime(2024, 1, 2, 3, 4, 5, 500000), "2024-01-02 03:04:05.5"),
    (col("old", "timestamp", "datetime"), "0001-01-01 00:00:00", datetime.datetime(1, 1, 1), "0001-01-01 00:00:00"),
    (col("uz", "uuid", "uuid"), "00000000-0000-0000-0000-000000000000", b"", "00000000-0000-0000-0000-000000000000"),
    (col("dt0", "timestamp", "datetime"), "2024-01-02 03:04:05", datetime.datetime(2024, 1, 2, 3, 4, 5),
     "2024-01-02 03:04:05"),
    (col("ts", "timestamptz", "timestamp(3)"), "2024-01-02 03:04:05.120",
     datetime.datetime(2024, 1, 2, 3, 4, 5, 120000), "2024-01-02 03:04:05.12+00"),
    (col("tz", "timestamptz", "timestamp"), "0000-00-00 00:00:00", datetime.datetime(1970, 1, 1), None),
    (col("t", "time", "time(2)"), "-838:59:59", -datetime.timedelta(hours=838, minutes=59, seconds=59), "-838:59:59"),
    (col("tf", "time", "time(6)"), "100:00:00.250000", datetime.timedelta(hours=100, microseconds=250000),
     "100:00:00.25"),
    (col("t2", "time", "time"), "12:34:56", datetime.timedelta(hours=12, minutes=34, seconds=56), "12:34:56"),
    (col("f", "float4", "float"), 0.1, 0.10000000149011612, 0.1),
    (col("j", "json", "json"), '{"a": [1, 2.5, null]}', {b"a": [1, 2.5, None]}, '{"a": [1, 2.5, null]}'),
    (col("v", "string", "varchar(20)"), "h😀", "h😀", "h😀"),
    (col("bin", "bytes", "binary(4)"), b"\x01\x00\x00\x00", b"\x01", b"\x01\x00\x00\x00"),
    (col("vb", "bytes", "varbinary(4)"), b"\x01\x00", b"\x01\x00", b"\x01\x00"),
    (col("uu", "uuid", "uuid"), "6ccd780c-baba-1026-9564-5b8c656024db",
     bytes.fromhex("6ccd780cbaba102695645b8c656024db"), "6ccd780c-baba-1026-9564-5b8c656024db"),
    (col("dec", "numeric", "decimal(65,30)"), Decimal("1.5"), Decimal("1.5"), Decimal("1.5")),
])
def test_both_reads_give_one_value(column: Column, loaded, logged, common) -> None:
    for value, log in ((loaded, False), (logged, True)):
        fn = converter(column, log=log)
        got = fn(value) if fn is not None and value is not None else value  # NULLs are never converted
        assert got == common and type(got) is type(common), (column.native, log, value, got)


def test_members_of_enum_and_set_declarations() -> None:
    assert members("set('a','it''s','c,d')") == ["a", "it's", "c,d"]
    assert members("enum('x')") == ["x"]


def test_row_converter_leaves_nulls() -> None:
    convert = row_converter((col("d", "date", "date"), col("n", "int4", "int")), log=False)
    assert convert((None, 5)) == (None, 5)
    assert convert(("0000-00-00", None)) == (None, None)


# -- events -> changes -------------------------------------------------------------------------------

T = TableSchema(TableId("app", "t"), (Column("id", "int4", False, "int"), Column("v", "string", True, "varchar(9)"),
                                      Column("s", "string", True, "set('a','b')")), ("id",), "mysql")
NAMES = ("id", "v", "s")


def assembler(offset: int = 100) -> Assembler:
    return Assembler(LOG, [T], logpos.position(LOG, "mysql-bin.000001", offset))


def test_a_transaction_is_its_changes_then_its_end() -> None:
    a = assembler()
    a.begin(100, "0-1-7", 1.0)
    a.moved(140)
    out = a.rows("app", "t", Op.INSERT, NAMES, [{"values": {"id": 1, "v": "x", "s": {"b", "a"}}}])
    out += a.rows("app", "t", Op.UPDATE, NAMES, [{"before_values": {"id": 1, "v": "x", "s": None},
                                                  "after_values": {"id": 2, "v": "y", "s": None},
                                                  "after_none_sources": {"s": "empty set"}}])
    out += a.rows("app", "other", Op.DELETE, NAMES, [{"values": {"id": 1}}])  # not selected
    out += a.rows("app", "t", Op.DELETE, NAMES, [{"values": {"id": 2, "v": "y", "s": None}}])
    a.moved(300)
    out += a.commit()
    start = logpos.major("mysql-bin.000001", 100)
    assert [(c.op, c.position.major, c.position.minor) for c in out[:-1]] == [
        (Op.INSERT, start, 1), (Op.UPDATE, start, 2), (Op.DELETE, start, 3)]
    assert out[0].after == {"id": 1, "v": "x", "s": "a,b"} and out[0].txid == "0-1-7"
    assert out[1].before["id"] == 1 and out[1].after == {"id": 2, "v": "y", "s": ""}  # a key change, old key kept
    assert out[2].before == {"id": 2, "v": "y", "s": None} and out[2].after is None
    end = out[-1]
    assert type(end) is Position and (end.major, end.minor) == (start, 3) and end.token == "mysql-bin.000001:100"
    # idle afterwards: a heartbeat where the next transaction starts, after every change sent
    beat, = a.idle()
    assert beat.minor == 0 and beat.token == "mysql-bin.000001:300" and beat > end
    assert a.idle() == [beat]  # again while quiet


def test_mysql_gtid_then_begin_is_one_transaction_and_its_changes_follow_any_heartbeat() -> None:
    a = assembler()
    a.begin(100, "3e11fa47-71ca-11e1-9e33-c80aa9429562:23")
    a.moved(180)
    assert a.query(180, "app", "BEGIN") == []
    a.moved(220)
    a.rows("app", "t", Op.INSERT, NAMES, [{"values": {"id": 1}}])
    a.moved(260)
    end, = a.query(260, "app", "COMMIT")
    assert end.token == "mysql-bin.000001:100" and end.minor == 1


def test_truncate_of_a_selected_table_is_a_transaction_of_its_own() -> None:
    a = assembler()
    a.begin(100, "0-1-9")
    a.moved(160)
    change, end = a.query(100, "app", "truncate table t")
    assert change.op is Op.TRUNCATE and change.table == T.table and change.position.minor == 1
    assert type(end) is Position and end.minor == 1
    a.begin(160, "0-1-10")
    a.moved(200)
    assert a.query(160, "app", "TRUNCATE other.t") == []  # another database's t
    assert a.query(200, "app", "CREATE TABLE x (id int)") == []  # DDL without GTID (no transaction open)


@pytest.mark.parametrize(("sql", "table"), [
    ("TRUNCATE t", TableId("db", "t")), ("truncate table `a``b`.`c d`", TableId("a`b", "c d")),
    ("/* x */ TRUNCATE TABLE app.t /* generated */", TableId("app", "t")), ("DELETE FROM t", None),
    ("truncate   TABLE\n`t`", TableId("db", "t")),
])
def test_truncate_statements(sql: str, table: TableId | None) -> None:
    assert truncated("db", sql) == table


def test_columns_changed_on_the_source_are_a_ddl_change_first() -> None:
    a = assembler()
    a.begin(100)
    out = a.rows("app", "t", Op.INSERT, ("id", "v", "s", "new"), [{"values": {"id": 1, "v": "x", "new": 5}}])
    ddl, insert = out
    assert ddl.op is Op.DDL and ddl.after == {"columns": ["id", "v", "s", "new"]}
    assert insert.after == {"id": 1, "v": "x", "s": None} and insert.position > ddl.position


def test_rotation_moves_positions_to_the_next_file() -> None:
    a = assembler()
    a.moved(500)
    a.rotate("mysql-bin.000002", 4)
    a.moved(256)
    beat, = a.idle()
    assert beat.token == "mysql-bin.000002:256" and beat > logpos.position(LOG, "mysql-bin.000001", 500)
    a.begin(256, "0-1-11")
    change, = a.rows("app", "t", Op.INSERT, NAMES, [{"values": {"id": 3}}])
    assert change.position > beat and change.position.token == "mysql-bin.000002:256"
