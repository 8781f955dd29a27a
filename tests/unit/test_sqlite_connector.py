"""The SQLite connector without any server: type mapping, trigger capture, snapshots, apply, pruning.

SQLite is a library, so these run the real thing on files in a temporary directory.
"""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
import struct
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import (
    Batch,
    Change,
    Column,
    Condition,
    Endpoint,
    Filter,
    OnConflict,
    Op,
    Position,
    TableId,
    TableRule,
    TableSchema,
)
from connectors.errors import ApplyConflict, ConfigError, DataError, ObjectError, TransientError
from connectors.sqlite import types
from connectors.sqlite.connect import classify
from connectors.sqlite.source import SqliteSource
from connectors.sqlite.target import SqliteTarget

ALL = [TableRule("%", "%")]


@pytest.mark.parametrize(("declared", "portable"), [
    ("INTEGER", "int8"), ("int", "int8"), ("BIGINT", "int8"), ("SMALLINT", "int2"), ("INT4", "int4"),
    ("BOOLEAN", "bool"), ("REAL", "float8"), ("double precision", "float8"), ("FLOAT4", "float4"),
    ("NUMERIC(12, 2)", "numeric"), ("DECIMAL(5)", "numeric"), ("TEXT", "text"), ("VARCHAR(20)", "string"),
    ("character varying(9)", "string"), ("BLOB", "bytes"), ("DATE", "date"), ("DATETIME", "timestamp"),
    ("TIMESTAMP", "timestamp"), ("TIMESTAMPTZ", "timestamptz"), ("JSON", "json"), ("UUID", "uuid"),
    ("", "other"),
    # anything else by SQLite's affinity rules
    ("UNSIGNED MEDIUM INTEGER", "int8"), ("point", "int8"), ("NATIONAL VARYING CHAR", "text"), ("LONGTEXT", "text"),
    ("TINYBLOB", "bytes"), ("DOUBLE FLOAT", "float8"), ("MONEY", "numeric"),
])
def test_declared_types_map_to_portable_types(declared: str, portable: str) -> None:
    assert types.portable_type(declared) == portable


def test_portable_types_come_back_from_a_sqlite_target() -> None:
    """A table created on a SQLite target reads back with the same types, integers and floats widened to 64 bits."""
    widened = {"int4": "int8", "float4": "float8", "array": "text", "other": "text"}
    for portable in ("bool", "int2", "int4", "int8", "float4", "float8", "numeric", "string", "text", "bytes", "date",
                     "time", "timestamp", "timestamptz", "json", "uuid", "array", "other"):
        schema = TableSchema(TableId("public", "t"), (Column("c", portable),), (), "postgres")
        assert types.portable_type(types.declared_type(schema, schema.columns[0])) == widened.get(portable, portable)


def test_values_bind_and_decode() -> None:
    assert types.bind(Decimal("3.000")) == 3 and type(types.bind(Decimal("3.000"))) is int
    assert types.bind(Decimal("1.25")) == 1.25
    assert types.bind(Decimal("1e30")) == 1e30  # beyond 64-bit integers: a float, as SQLite would store it
    decode = types.row_decoder(("b", "n", "f", "t"), ("bool", "numeric", "float8", "text"))
    assert decode((1, 0.1, 3, "x")) == {"b": True, "n": Decimal("0.1"), "f": 3.0, "t": "x"}
    assert decode((None, None, None, None)) == dict.fromkeys("bnft")
    assert decode((0, 12, 1.5, "1")) == {"b": False, "n": Decimal(12), "f": 1.5, "t": "1"}


def _source(tmp_path: Path, *statements: str) -> SqliteSource:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as db:
        for sql in statements:
            db.execute(sql)
    db.close()
    return SqliteSource(Endpoint("src", "source", "sqlite", database=str(path)))


def _take(source: SqliteSource, task: str, start: Position, schemas: list[TableSchema]) -> list:
    """Everything the stream has now, up to its first heartbeat."""
    return list(itertools.takewhile(lambda item: not (isinstance(item, Position) and item.minor == 0),
                                    source.stream(task, start, schemas)))


AWKWARD = [
    (1, 0.1 + 0.2, b"\x00\xff\x10", "quote ' double \" tab \t newline \n é ☃", 2**63 - 1, None),
    (2, -1e308, b"", "", -(2**63), 5),
    (3, math.inf, None, "[1, 2]", 0, 1.5),  # a JSON-looking text stays text
]


def test_triggers_capture_every_value_exactly(tmp_path: Path) -> None:
    source = _source(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, b BLOB, s TEXT, big INTEGER, anything)")
    (schema,) = source.tables(ALL)
    assert schema.key == ("id",) and schema.engine == "sqlite" and schema.table == TableId("main", "t")
    p0 = source.start_cdc("task-1", [schema])
    db = sqlite3.connect(tmp_path / "source.db", isolation_level=None)
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", AWKWARD)
    db.execute("BEGIN")
    db.execute("UPDATE t SET id = 10, s = 'moved' WHERE id = 1")
    db.execute("DELETE FROM t WHERE id = 2")
    db.execute("COMMIT")
    items = _take(source, "task-1", p0, [schema])
    changes = [i for i in items if isinstance(i, Change)]
    assert [c.op for c in changes] == [Op.INSERT] * 3 + [Op.UPDATE, Op.DELETE]
    for change, row in zip(changes, AWKWARD, strict=False):
        assert change.after == dict(zip(schema.column_names, row, strict=True))
    assert changes[3].before == {"id": 1} and changes[3].after["id"] == 10 and changes[3].after["s"] == "moved"
    assert changes[4].before == {"id": 2} and changes[4].after is None
    positions = [c.position for c in changes]
    assert positions == sorted(positions) and positions[0] > p0 and all(p.log == p0.log for p in positions)
    assert isinstance(items[-1], Position) and items[-1] == positions[-1]  # a boundary after the last change
    assert all(c.commit_time and abs(c.commit_time - changes[0].commit_time) < 60 for c in changes)
    source.close()


def test_triggers_capture_every_double_exactly(tmp_path: Path) -> None:
    """SQLite's printf('%!.17g') got the 17th digit of large doubles wrong (1.7976931348623157e308 came back
    as 1.7976931348623155e308, found by tests/conformance): every double, of any exponent, comes back the same."""
    source = _source(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL)")
    (schema,) = source.tables(ALL)
    p0 = source.start_cdc("task-1", [schema])
    rng = random.Random(14)
    doubles = [1.7976931348623157e308, 1.2345678901234567e300, 5e-324, -2.2250738585072014e-308, math.inf, -math.inf,
               *(struct.unpack("<d", rng.randbytes(8))[0] for _ in range(2_000))]
    doubles = [d for d in doubles if not math.isnan(d)]  # SQLite stores a NaN as NULL
    db = sqlite3.connect(tmp_path / "source.db", isolation_level=None)
    db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(doubles)))
    db.close()
    got = [i.after["r"] for i in _take(source, "task-1", p0, [schema]) if isinstance(i, Change)]
    assert [d for d, g in zip(doubles, got, strict=True) if d != g] == []
    source.close()


def test_capture_starts_exactly_at_the_position_and_drops_cleanly(tmp_path: Path) -> None:
    source = _source(tmp_path, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)",
                     "CREATE TABLE b (k TEXT, n INT, v TEXT, PRIMARY KEY (n, k))", "CREATE TABLE nokey (v TEXT)")
    schemas = {s.table.name: s for s in source.tables(ALL)}
    assert schemas["b"].key == ("n", "k") and schemas["nokey"].key == ()
    with pytest.raises(ConfigError, match="nokey .*no primary key"):
        source.start_cdc("t", list(schemas.values()))
    db = sqlite3.connect(tmp_path / "source.db", isolation_level=None)
    p0 = source.start_cdc("t", [schemas["a"], schemas["b"]])
    db.execute("INSERT INTO a VALUES (1, 'x')")
    db.execute("INSERT INTO b VALUES ('k', 1, 'y')")
    db.execute("UPDATE b SET k = 'k2' WHERE n = 1")
    db.execute("INSERT INTO nokey VALUES ('not captured')")
    first = [i for i in _take(source, "t", p0, [schemas["a"], schemas["b"]]) if isinstance(i, Change)]
    assert [(c.table.name, c.op) for c in first] == [("a", Op.INSERT), ("b", Op.INSERT), ("b", Op.UPDATE)]
    assert first[2].before == {"n": 1, "k": "k"}
    # A new start discards what the earlier run captured: capture begins again at the new position.
    p1 = source.start_cdc("t", [schemas["a"]])
    assert p1 >= first[-1].position
    db.execute("INSERT INTO b VALUES ('not', 2, 'captured')")
    db.execute("INSERT INTO a VALUES (2, 'z')")
    again = [i for i in _take(source, "t", p0, [schemas["a"]]) if isinstance(i, Change)]
    assert [(c.table.name, c.after["id"]) for c in again] == [("a", 2)]
    # Acknowledged changes are pruned; the stream resumes after them.
    assert source.resume_position("t") == p1
    source.ack(again[-1].position)
    resume = source.resume_position("t")
    assert resume > again[-1].position and resume.token == again[-1].position.token
    assert _take(source, "t", p0, [schemas["a"]]) == []
    source.drop_cdc("t")
    assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'awsdms%'").fetchall() == []
    assert source.resume_position("t") is None
    db.execute("INSERT INTO a VALUES (3, 'after drop')")  # the application goes on without triggers
    source.close()


def test_capture_starts_while_an_application_writes_in_rollback_journal_mode(tmp_path: Path) -> None:
    # Leaving the rollback journal for WAL is refused at once while another connection writes.
    source = _source(tmp_path, "CREATE TABLE a (id INTEGER PRIMARY KEY, v INT)")
    (schema,) = source.tables(ALL)
    path = tmp_path / "source.db"
    halt, writes = threading.Event(), []

    def application() -> None:
        db = sqlite3.connect(path, timeout=30)
        while not halt.is_set():
            with db:
                db.execute("INSERT INTO a (v) VALUES (1)")
            writes.append(1)
        db.close()

    writer = threading.Thread(target=application)
    writer.start()
    try:
        time.sleep(0.05)
        source.start_cdc("t", [schema])
        time.sleep(0.05)
    finally:
        halt.set()
        writer.join()
    assert len(writes) > 10
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*) FROM awsdms_changes_t").fetchone()[0] > 0  # captured after the start
    db.close()
    source.close()


def test_a_filter_on_a_boolean_column_reads_true_and_false(tmp_path: Path) -> None:
    """SQLite keeps booleans as 0/1 and compared the filter value 'true' with them as text: no row passed
    (found by tests/conformance). Boolean words are read as PostgreSQL reads them, other columns' as they are."""
    source = _source(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, word TEXT)",
                     "INSERT INTO t VALUES (1, 1, 'true'), (2, 0, 'false'), (3, NULL, 'yes')")
    (schema,) = source.tables(ALL)
    only_id = TableSchema(schema.table, schema.columns[:1], schema.key, "sqlite")  # the filter's column unread

    def ids(*filters: Filter) -> list[int]:
        return [r["id"] for b in source.snapshot(only_id, where=filters, ordered=True) for r in b.rows()]

    assert ids(Filter("flag", (Condition("eq", "true"),))) == [1]
    assert ids(Filter("flag", (Condition("eq", "F"), Condition("null")))) == [2, 3]
    assert ids(Filter("flag", (Condition("between", "no", "YES"),))) == [1, 2]
    assert ids(Filter("word", (Condition("eq", "true"),))) == [1]  # a text column compares text
    source.close()


def test_a_snapshot_reads_one_consistent_state(tmp_path: Path) -> None:
    source = _source(tmp_path, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT)")
    db = sqlite3.connect(tmp_path / "source.db", isolation_level=None)
    with db:
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, 0)", [(i,) for i in range(1, 1001)])
    source.start_cdc("t", source.tables(ALL))  # WAL mode: the writer below is not blocked by the reader
    (schema,) = source.tables(ALL)
    batches = source.snapshot(schema, batch_rows=100, ordered=True)
    first = next(batches).rows()
    db.execute("UPDATE t SET v = 1")  # committed between two batches of the snapshot
    db.execute("DELETE FROM t WHERE id > 500")
    rest = [row for batch in batches for row in batch.rows()]
    rows = first + rest
    assert len(rows) == 1000 and {r["v"] for r in rows} == {0}
    assert [r["id"] for r in rows] == list(range(1, 1001))
    source.close()


def _target(tmp_path: Path) -> SqliteTarget:
    return SqliteTarget(Endpoint("dst", "target", "sqlite", database=str(tmp_path / "target.db")))


SCHEMA = TableSchema(TableId("public", "orders"), (Column("id", "int4", False, "integer"), Column("n", "numeric"),
                                                   Column("ok", "bool"), Column("note", "text")), ("id",), "postgres")
_pos = itertools.count(1)


def _ch(op: Op, before: dict | None = None, after: dict | None = None) -> Change:
    n = next(_pos)
    return Change(SCHEMA.table, op, Position("pg:1:s", n, 1, str(n)), before, after)


def test_target_applies_idempotently_with_its_checkpoint(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.prepare(SCHEMA, "drop")
    loaded = target.load(SCHEMA, [Batch(2, [{"id": 1, "n": Decimal("1.50"), "ok": True, "note": "a"},
                                            {"id": 2, "n": None, "ok": False, "note": "b"}])])
    assert loaded == 2
    batch = [
        _ch(Op.INSERT, None, {"id": 3, "n": Decimal("7"), "ok": None, "note": "c"}),
        _ch(Op.UPDATE, {"id": 1}, {"id": 10, "n": Decimal("2.25"), "ok": True, "note": "re-keyed"}),
        _ch(Op.DELETE, {"id": 2}),
        _ch(Op.UPDATE, {"id": 3}, {"id": 3, "note": "partial"}),  # unchanged columns absent, as TOAST
    ]
    for _ in range(2):  # a batch applied twice (a replay after a crash) changes nothing more
        target.apply("t1", {SCHEMA: batch})
        rows = [r for chunk in target.read(SCHEMA) for r in chunk]
        assert rows == [{"id": 3, "n": Decimal(7), "ok": None, "note": "partial"},
                        {"id": 10, "n": Decimal("2.25"), "ok": True, "note": "re-keyed"}]
    assert target.applied("t1") == {SCHEMA.table: batch[-1].position}
    target.apply("t1", {SCHEMA: [_ch(Op.TRUNCATE), _ch(Op.INSERT, None, {"id": 5, "n": None, "ok": 1, "note": ""})]})
    assert [r["id"] for chunk in target.read(SCHEMA) for r in chunk] == [5]
    target.forget("t1")
    assert target.applied("t1") == {}
    declared = sqlite3.connect(tmp_path / "target.db").execute("PRAGMA table_info(orders)").fetchall()
    assert [(c[1], c[2], c[5]) for c in declared] == [("id", "INTEGER", 1), ("n", "NUMERIC", 0), ("ok", "BOOLEAN", 0),
                                                      ("note", "TEXT", 0)]
    target.close()


def test_a_failed_apply_leaves_neither_data_nor_checkpoint(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.prepare(SCHEMA, "drop")
    sqlite3.connect(tmp_path / "target.db").execute("DROP TABLE orders").connection.commit()
    with pytest.raises(DataError, match="no such table"):
        target.apply("t2", {SCHEMA: [_ch(Op.INSERT, None, {"id": 1, "n": None, "ok": None, "note": None})]})
    assert target.applied("t2") == {}
    target.close()


def test_target_checks_changes_under_the_apply_error_policies(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.prepare(SCHEMA, "drop")
    target.load(SCHEMA, [Batch(1, [{"id": 1, "n": None, "ok": None, "note": "target"}])])
    dup = _ch(Op.INSERT, None, {"id": 1, "n": None, "ok": None, "note": "source"})
    missing = _ch(Op.UPDATE, None, {"id": 2, "n": None, "ok": None, "note": "two"})
    fresh = _ch(Op.INSERT, None, {"id": 3, "n": None, "ok": None, "note": "three"})
    skip = {Op.INSERT: OnConflict.SKIP, Op.UPDATE: OnConflict.SKIP, Op.DELETE: OnConflict.RESOLVE}
    conflicts = target.apply("t3", {SCHEMA: [dup, missing, fresh]}, skip)
    assert [(c.change, c.error) for c in conflicts] == [
        (dup, "duplicate key: public.orders already has a row with (id)=(1)"),
        (missing, "0 rows affected: public.orders has no row with (id)=(2) to update")]
    assert [(r["id"], r["note"]) for chunk in target.read(SCHEMA) for r in chunk] == [(1, "target"), (3, "three")]
    assert target.applied("t3") == {SCHEMA.table: fresh.position}
    fail = {Op.INSERT: OnConflict.FAIL, Op.UPDATE: OnConflict.RESOLVE, Op.DELETE: OnConflict.RESOLVE}
    four = _ch(Op.INSERT, None, {"id": 4, "n": None, "ok": None, "note": "four"})
    with pytest.raises(ApplyConflict, match=r"\(id\)=\(1\)") as raised:
        target.apply("t3", {SCHEMA: [four, dup]}, fail)
    assert [c.change for c in raised.value.conflicts] == [dup]
    assert [r["id"] for chunk in target.read(SCHEMA) for r in chunk] == [1, 3]  # nothing of the batch
    assert target.applied("t3") == {SCHEMA.table: fresh.position}
    resolve = {Op.INSERT: OnConflict.RESOLVE, Op.UPDATE: OnConflict.RESOLVE, Op.DELETE: OnConflict.RESOLVE}
    assert target.apply("t3", {SCHEMA: [dup, missing]}, resolve) == []
    assert [(r["id"], r["note"]) for chunk in target.read(SCHEMA) for r in chunk] == [
        (1, "source"), (2, "two"), (3, "three")]
    target.close()


def test_sqlite_errors_are_classified_by_consequence(tmp_path: Path) -> None:
    ep = Endpoint("e", "target", "sqlite", database=str(tmp_path / "c.db"))
    db = sqlite3.connect(ep.database, isolation_level=None, timeout=0)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")

    def error_of(fn) -> Exception:
        with pytest.raises(sqlite3.Error) as info:
            fn()
        return classify(info.value, ep)

    duplicate = error_of(lambda: db.execute("INSERT INTO t VALUES (1)"))  # a constraint: its rows fail
    assert type(duplicate) is DataError and "SQLITE_CONSTRAINT_PRIMARYKEY" in str(duplicate)
    assert "make it match the source's definition" in str(duplicate)
    missing = error_of(lambda: db.execute("SELECT * FROM missing"))  # the table itself: it fails at once
    assert type(missing) is ObjectError and "no such table: missing" in str(missing)
    assert "DROP_AND_CREATE" in str(missing)
    assert type(error_of(lambda: db.execute("INSERT INTO t (nope) VALUES (1)"))) is ObjectError
    db.execute("CREATE TABLE strict_t (id INTEGER PRIMARY KEY, n INTEGER) STRICT")
    assert type(error_of(lambda: db.execute("INSERT INTO strict_t VALUES (1, 'x')"))) is DataError  # a value
    other = sqlite3.connect(ep.database, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    assert isinstance(error_of(lambda: db.execute("BEGIN IMMEDIATE")), TransientError)
    other.execute("ROLLBACK")
    readonly = sqlite3.connect(f"file:{ep.database}?mode=ro", uri=True, isolation_level=None)
    assert isinstance(error_of(lambda: readonly.execute("INSERT INTO t VALUES (2)")), ConfigError)
