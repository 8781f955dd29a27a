"""The MySQL/MariaDB source against a real MariaDB 10.11 (tests/servers_mariadb.py): discovery, values of the full
load and of the binlog alike, the binlog as changes and transaction ends, snapshots at known binlog positions, and
each setting that makes CDC impossible or risky reported in one line naming the fix."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import unquote, urlsplit

import pytest
from servers_mariadb import connect_url, execute, query

from connectors.base import Change, Endpoint, Op, Position, TableId, TableRule, TableSchema
from connectors.errors import ConfigError, PositionLost
from connectors.mysql import logpos, rowread
from connectors.mysql.source import MysqlSource

pytestmark = pytest.mark.integration


def endpoint(url: str, user: str | None = None, password: str | None = None) -> Endpoint:
    u = urlsplit(url)
    return Endpoint("maria-src", "source", "mariadb", u.hostname or "", u.port or 3306, u.path.lstrip("/"),
                    user or unquote(u.username or ""), password if password is not None else unquote(u.password or ""))


def _db(url: str) -> Iterator[tuple[str, str, MysqlSource]]:
    source = MysqlSource(endpoint(url))
    yield url, urlsplit(url).path.lstrip("/"), source
    source.close()


@pytest.fixture
def db(mariadb_db: str) -> Iterator[tuple[str, str, MysqlSource]]:
    """(url, database name, an open source on it)."""
    yield from _db(mariadb_db)


@pytest.fixture
def own_db(mariadb_own_db: str) -> Iterator[tuple[str, str, MysqlSource]]:
    """The same on this process's own server: for tests that change its global settings or purge its binlogs."""
    yield from _db(mariadb_own_db)


def one(source: MysqlSource, schema: str, name: str) -> TableSchema:
    (table,) = source.tables([TableRule(schema, name, "explicit")])
    return table


def read(stream: Iterator[Change | Position], changes: int, seconds: float = 20) -> list[Change | Position]:
    """Items up to the transaction end after ``changes`` changes."""
    out: list[Change | Position] = []
    seen = 0
    deadline = time.monotonic() + seconds
    for item in stream:
        out.append(item)
        if isinstance(item, Change):
            seen += 1
        elif seen >= changes and item.minor:
            return out
        assert time.monotonic() < deadline, f"only {seen} of {changes} changes in {seconds} s: {out}"
    raise AssertionError("the stream ended")


TYPES_DDL = """CREATE TABLE {name} (
  id int unsigned PRIMARY KEY, u8 bigint unsigned, flag tinyint(1), b1 bit(1), b10 bit(10), y year,
  e enum('small','large'), s set('x','y','z'), j json, d date, dt datetime(6), ts timestamp(3) NULL,
  v varchar(20) CHARACTER SET utf8mb4, bin binary(4), vb varbinary(8), bl blob, tx text, dec65 decimal(65,30),
  f float, db double, t time(2)) CHARACTER SET utf8mb4"""
ROW = ("(1, 18446744073709551615, 1, b'1', b'1010101010', 2155, 'large', 'z,x', '{{\"a\": [1, 2.5, null]}}', "
       "'{zero}', '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.5', 'h😀', x'0102', x'00ff', x'', 'tëxt', "
       "'12345678901234567890123456789012345.123456789012345678901234567891', 1.5, 0.1, '-838:59:59')")
EXPECTED = {
    "id": 1, "u8": Decimal(18446744073709551615), "flag": 1, "b1": True, "b10": b"\x02\xaa", "y": 2155,
    "e": "large", "s": "x,z", "j": '{"a": [1, 2.5, null]}', "d": None, "dt": "2024-02-29 23:59:59.999999",
    "ts": "2038-01-19 03:14:07.5+00", "v": "h😀", "bin": b"\x01\x02\x00\x00", "vb": b"\x00\xff", "bl": b"",
    "tx": "tëxt", "dec65": Decimal("12345678901234567890123456789012345.123456789012345678901234567891"),
    "f": 1.5, "db": 0.1, "t": "-838:59:59",
}


def test_discovery_declarations_keys_and_estimates(db) -> None:
    url, name, source = db
    execute(url, TYPES_DDL.format(name="types"),
            "CREATE TABLE keyed (a int NOT NULL, b varchar(300) NOT NULL, c int, g int AS (a + 1) VIRTUAL, "
            "PRIMARY KEY (a), UNIQUE KEY (c), UNIQUE KEY (b(10)))",
            "CREATE TABLE by_unique (a int NOT NULL, b int, UNIQUE KEY (b), UNIQUE KEY (a))",
            "CREATE TABLE keyless (a int, b text)", "INSERT INTO keyless VALUES (1, 'x'), (2, 'y')",
            "ANALYZE TABLE keyless")
    tables = {t.table.name: t for t in source.tables([TableRule(name, "%")])}
    assert sorted(tables) == ["by_unique", "keyed", "keyless", "types"]
    cols = {c.name: c for c in tables["types"].columns}
    assert (cols["u8"].native, cols["u8"].dms, cols["u8"].type) == ("bigint(20) unsigned", "UINT8", "numeric")
    assert cols["j"].native == "json" and cols["j"].type == "json"  # MariaDB's JSON is LONGTEXT with a check
    assert cols["e"].native == "enum('small','large')" and cols["dec65"].dms == "NUMERIC(65,30)"
    assert cols["id"].nullable is False and cols["v"].nullable is True
    keyed = tables["keyed"]
    assert keyed.key == ("a",) and keyed.unique == (("c",),)  # the prefix index cannot key a target
    assert keyed.column_names == ("a", "b", "c")  # the generated column is the target's to compute
    assert tables["by_unique"].key == ("a",)  # the first unique index of NOT NULL columns
    keyless = tables["keyless"]
    assert keyless.key == () and keyless.full_row  # binlog_row_image=FULL logs whole rows
    assert keyless.rows_estimate == 2


def test_discovery_sees_a_table_that_an_alter_is_copying(db) -> None:
    """A copying ALTER swaps the copy in by two renames under the table's lock; information_schema read across
    tables in that moment passes over the table (MariaDB scans the files): each table is read by its name,
    which waits for the lock, so a table listed is never given no columns or no key. (A listing can still
    miss the table itself, rarely, under CPU load: two listings a moment apart make it rarer, no more.)"""
    url, name, source = db
    execute(url, "CREATE TABLE w (id int PRIMARY KEY, i int, t varchar(20))", "CREATE TABLE other (id int PRIMARY KEY)",
            "INSERT INTO w SELECT seq, seq % 10, CONCAT('row ', seq) FROM seq_1_to_200")
    stop, altered = threading.Event(), [0]

    def alter() -> None:
        conn = connect_url(url)
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(f"ALTER TABLE w MODIFY i {('bigint', 'int')[altered[0] % 2]}")
                altered[0] += 1
        conn.close()

    thread = threading.Thread(target=alter)
    thread.start()
    try:
        seen = [[(t.table.name, t.column_names, t.key) for t in source.tables([TableRule(name, "%")])]
                for _ in range(150)]
    finally:
        stop.set()
        thread.join()
    assert altered[0] > 20
    whole = {"other": (("id",), ("id",)), "w": (("id", "i", "t"), ("id",))}
    assert [s for s in seen if any(whole[n] != (c, k) for n, c, k in s)] == []
    assert sum(len(s) == 2 for s in seen) > len(seen) * 0.9


def test_values_of_the_full_load_and_of_the_binlog_are_the_same(db) -> None:
    url, name, source = db
    execute(url, "SET SESSION sql_mode = ''", TYPES_DDL.format(name="types"),
            "INSERT INTO types VALUES " + ROW.format(zero="0000-00-00"))
    execute(url, "INSERT INTO types (id) VALUES (2)")
    table = one(source, name, "types")
    p0 = source.start_cdc("values", [table])
    loaded = [row for batch in source.snapshot(table, ordered=True) for row in batch.rows()]
    assert loaded[0] == EXPECTED
    assert loaded[1] == {k: (2 if k == "id" else None) for k in EXPECTED}
    execute(url, "SET SESSION sql_mode = ''",
            "INSERT INTO types VALUES " + ROW.format(zero="2024-00-00").replace("(1,", "(3,", 1),
            "UPDATE types SET s = '' WHERE id = 3")
    items = read(source.stream("values", p0, [table]), 2)
    insert, update = [i for i in items if isinstance(i, Change)]
    assert insert.after == {**EXPECTED, "id": 3}  # a date with a zero month is NULL, as a zero date
    assert update.after["s"] == "" and update.before["s"] == "x,z"


def test_both_drivers_read_the_full_load_alike(db, monkeypatch) -> None:
    """mysqlclient (C) reads the full load where installed, PyMySQL where not: the same values of the same types."""
    url, name, source = db
    execute(url, "SET SESSION sql_mode = ''", TYPES_DDL.format(name="types"),
            "INSERT INTO types VALUES " + ROW.format(zero="0000-00-00"), "INSERT INTO types (id) VALUES (2)")
    table = one(source, name, "types")

    def load() -> list[dict]:
        return [row for batch in source.snapshot(table, ordered=True) for row in batch.rows()]

    assert rowread.fast(source.ep), "mysqlclient is missing: run deploy/install-test-deps.sh"
    fast = load()
    monkeypatch.setattr(rowread, "MySQLdb", None)  # as if mysqlclient were not installed
    assert not rowread.fast(source.ep)
    plain = load()
    assert fast == plain and fast[0] == EXPECTED
    assert [{k: type(v) for k, v in r.items()} for r in fast] == [{k: type(v) for k, v in r.items()} for r in plain]


def test_changes_come_in_transactions_and_resume_from_a_boundary(db) -> None:
    url, name, source = db
    execute(url, "CREATE TABLE t (id int PRIMARY KEY, v varchar(10))", "CREATE TABLE other (id int PRIMARY KEY)")
    table = one(source, name, "t")
    p0 = source.start_cdc("txns", [table])
    execute(url, "START TRANSACTION", "INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO other VALUES (1)",
            "UPDATE t SET id = 3, v = 'c' WHERE id = 2", "COMMIT")
    execute(url, "DELETE FROM t WHERE id = 1", "TRUNCATE TABLE t", "INSERT INTO other VALUES (2)")
    written = source.server.current(source.query)  # past the other table's insert
    stream = source.stream("txns", p0, [table])
    items = read(stream, 5)
    shape = [(i.op, i.position.minor) if isinstance(i, Change) else ("end", i.minor) for i in items]
    assert shape == [(Op.INSERT, 1), (Op.INSERT, 2), (Op.UPDATE, 3), ("end", 3), (Op.DELETE, 1), ("end", 1),
                     (Op.TRUNCATE, 1), ("end", 1)]
    first_end = items[3]
    assert items[2].before == {"id": 2, "v": "b"} and items[2].after == {"id": 3, "v": "c"}  # a key change
    assert items[0].txid and items[0].txid == items[2].txid != items[4].txid  # the transaction's GTID
    positions = [i.position if isinstance(i, Change) else i for i in items]
    assert positions == sorted(positions) and positions[0] > p0
    beat = next(i for i in stream if isinstance(i, Position))  # idle now: a heartbeat after everything sent
    assert beat.minor == 0 and beat > positions[-1]
    # the other table's insert was read past, too (at or beyond: the shared server's binlog takes other tests' writes)
    assert beat >= written
    stream.close()
    # from the first transaction's end: it comes again whole (the worker skips what its checkpoint has)
    again = read(source.stream("txns", first_end, [table]), 5)
    assert [i.position for i in again if isinstance(i, Change)] == [i.position for i in items if isinstance(i, Change)]
    # from the heartbeat: nothing before it
    execute(url, "INSERT INTO t VALUES (9, 'z')")
    (change, end) = read(source.stream("txns", beat, [table]), 1)
    assert change.after == {"id": 9, "v": "z"} and change.position > beat


def test_a_keyless_snapshot_knows_its_binlog_position(db) -> None:
    url, name, source = db
    execute(url, "CREATE TABLE bag (a int, b varchar(5))", "INSERT INTO bag VALUES (1, 'x'), (1, 'x')")
    table = one(source, name, "bag")
    p0 = source.start_cdc("bag", [table])
    execute(url, "INSERT INTO bag VALUES (2, 'y')")  # after P0, before the snapshot: in it
    at: list[tuple[int, str]] = []
    batches = source.snapshot(table, at=lambda major, token: at.append((major, token)))
    execute(url, "INSERT INTO bag VALUES (3, 'z')")  # after the snapshot: not in it, in the log from its position
    rows = sorted(tuple(r.values()) for b in batches for r in b.rows())
    assert rows == [(1, "x"), (1, "x"), (2, "y")]
    (major, token), = at
    assert major > p0.major and token == logpos.at(p0.log, major).token
    items = read(source.stream("bag", logpos.at(p0.log, major), [table]), 1)
    assert [i.after for i in items if isinstance(i, Change)] == [{"a": 3, "b": "z"}]


def test_settings_that_make_cdc_impossible_are_named(own_db) -> None:
    url, name, source = own_db
    execute(url, "CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'pw'",
            f"GRANT SELECT ON `{name}`.* TO 'reader'@'%'")
    weak = MysqlSource(endpoint(url, "reader", "pw"))
    try:
        problems = weak.check(cdc=True)
        assert len(problems) == 1 and "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'reader'" in problems[0]
        assert weak.check(cdc=False) == []
        with pytest.raises(ConfigError, match="REPLICATION SLAVE"):
            weak.start_cdc("weak", [])
    finally:
        weak.close()
    execute(url, "SET GLOBAL binlog_format = 'MIXED'", "SET GLOBAL binlog_row_image = 'MINIMAL'")
    try:
        fresh = MysqlSource(endpoint(url))
        try:
            problems = fresh.check(cdc=True)
        finally:
            fresh.close()
    finally:
        execute(url, "SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'FULL'")
    assert [p.split(" is ")[0] for p in problems] == ["binlog_format", "binlog_row_image"]
    assert "set binlog_format=ROW" in problems[0] and "set binlog_row_image=FULL" in problems[1]


def test_a_purged_binlog_position_is_lost_and_short_retention_is_a_warning(own_db) -> None:
    url, name, source = own_db
    execute(url, "CREATE TABLE t (id int PRIMARY KEY)")
    table = one(source, name, "t")
    old = source.start_cdc("purged", [table])
    assert source.check_position("purged", old) is None
    execute(url, "FLUSH BINARY LOGS")
    (current,) = [r[0] for r in query(url, "SHOW MASTER STATUS")]
    deadline = time.monotonic() + 10
    while logpos.where(old)[0] in [r[0] for r in query(url, "SHOW BINARY LOGS")]:
        # MariaDB purges a file only once InnoDB has checkpointed it (moments after the flush)
        assert time.monotonic() < deadline, "the old binlog file stays"
        execute(url, f"PURGE BINARY LOGS TO '{current}'")
        time.sleep(0.1)
    problem = source.check_position("purged", old)
    assert problem and "is no longer on" in problem and "binlog_expire_logs_seconds" in problem
    with pytest.raises(PositionLost, match="reload-target"):
        next(iter(source.stream("purged", old, [table])))
    ahead = logpos.position(old.log, current, 10**9)
    assert "is ahead of the end of the binlog" in (source.check_position("purged", ahead) or "")
    assert source.advice(cdc=True) == []  # a day, as deploy/mariadb.sh sets it
    execute(url, "SET GLOBAL binlog_expire_logs_seconds = 7200")
    try:
        short = MysqlSource(endpoint(url))
        try:
            (line,) = short.advice(cdc=True)
        finally:
            short.close()
    finally:
        execute(url, "SET GLOBAL binlog_expire_logs_seconds = 86400")
    assert "purges binlogs after 2 h" in line and "set binlog_expire_logs_seconds to 86400" in line


def test_start_positions_in_dms_spelling(db) -> None:
    url, name, source = db
    now = source.server.current(source.query)
    given = source.parse_position("given", now.token)
    assert given == now and source.check_position("given", given) is None
    with pytest.raises(ConfigError, match="named"):
        source.parse_position("given", "other-bin.000001:4")
    assert MysqlSource.position_error("0/16B3748") is not None


def test_timestamps_are_utc_whatever_the_session_zone(db) -> None:
    url, name, source = db
    execute(url, "CREATE TABLE z (id int PRIMARY KEY, ts timestamp NULL)",
            "SET time_zone = '+05:30'", "INSERT INTO z VALUES (1, '2024-06-30 12:00:00')")
    table = one(source, name, "z")
    p0 = source.start_cdc("zones", [table])
    (row,) = [r for b in source.snapshot(table) for r in b.rows()]
    assert row["ts"] == "2024-06-30 06:30:00+00"
    execute(url, "SET time_zone = '-08:00'", "UPDATE z SET ts = '2024-01-01 00:00:00' WHERE id = 1")
    (change, _end) = read(source.stream("zones", p0, [table]), 1)
    assert change.after["ts"] == "2024-01-01 08:00:00+00"
    assert datetime.datetime.fromisoformat(change.before["ts"]) == datetime.datetime(2024, 6, 30, 6, 30,
                                                                                     tzinfo=datetime.UTC)
    assert TableId(name, "z") == change.table
