"""The memory connector's own behaviour: what tests/conformance does not reach (its limits, its checks,
filters, positions). The contracts it shares with every engine are proven by tests/conformance."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors import memory, registry
from connectors.base import (
    Change,
    Column,
    Condition,
    Endpoint,
    Filter,
    KeyRange,
    Op,
    Position,
    TableId,
    TableRule,
    TableSchema,
)
from connectors.errors import ConfigError, DataError, PositionLost

REPO = Path(__file__).resolve().parents[2]
T = TableId("public", "t")
SCHEMA = TableSchema(T, (Column("id", "int8", False), Column("n", "numeric"), Column("s", "text"),
                         Column("small", "int2")), ("id",), "memory")


@pytest.fixture
def db() -> Iterator[memory.Database]:
    made = memory.database("unit")
    made.create_table(SCHEMA)
    made.insert(T, *({"id": i, "n": Decimal(i) / 2, "s": f"row {i}", "small": i} for i in range(1, 8)))
    yield made
    memory.drop_database("unit")


def _ep(kind: str = "source", name: str = "unit") -> Endpoint:
    return Endpoint("m", kind, "memory", database=name)


def test_the_engine_is_found_and_an_unknown_database_is_a_config_error() -> None:
    assert "memory" in registry.ENGINES and registry.default_port("memory") == 0
    with pytest.raises(ConfigError, match="this process has no memory database named 'nowhere'.*use a real engine"):
        registry.open_target(_ep("target", "nowhere"))


def test_a_memory_database_is_not_shared_with_another_process(db: memory.Database) -> None:
    code = ("from connectors.base import Endpoint\nfrom connectors.registry import open_source\n"
            "open_source(Endpoint('m', 'source', 'memory', database='unit'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "no memory database named 'unit'" in out.stderr


def test_values_are_checked_against_their_column_type(db: memory.Database) -> None:
    with pytest.raises(DataError, match="value 32768 is out of range for int2 column small"):
        db.insert(T, {"id": 20, "small": 32768})
    with pytest.raises(DataError, match="column n of public.t is numeric: expected Decimal, got float"):
        db.insert(T, {"id": 20, "n": 0.5})
    with pytest.raises(DataError, match="null value in column id"):
        db.insert(T, {"id": None})
    with pytest.raises(DataError, match="duplicate key"):
        db.insert(T, {"id": 21}, {"id": 21})
    assert len(db.rows(T)) == 7  # a failed transaction leaves nothing


def test_snapshot_filters_ranges_and_splits(db: memory.Database) -> None:
    source = registry.open_source(_ep())
    (schema,) = source.tables([TableRule("public", "%")])
    where = [Filter("n", (Condition("between", "1", "2.5"), Condition("eq", "3.5"))),
             Filter("s", (Condition("notnull"),))]
    rows = [r for b in source.snapshot(schema, where=where, batch_rows=2) for r in b.rows()]
    assert [r["id"] for r in rows] == [2, 3, 4, 5, 7]
    assert source.split(schema, 3) == KeyRange.between([(3,), (6,)])
    assert source.split(schema, 7) == [KeyRange()]
    chunk = [r["id"] for b in source.snapshot(schema, within=KeyRange((3,), (6,))) for r in b.rows()]
    assert chunk == [4, 5, 6]


def test_positions_acks_and_a_dropped_capture(db: memory.Database) -> None:
    source = registry.open_source(_ep())
    (schema,) = source.tables([TableRule("%", "%")])
    p0 = source.start_cdc("task", [schema])
    assert p0 == Position(p0.log, db.txn + 1, 0) and source.parse_position("task", p0.token) == p0
    db.update(T, (1,), {"id": 10})
    with db.transaction() as tx:
        tx.delete(T, (2,))
        tx.truncate(T)
    stream = source.stream("task", p0, [schema])
    items = [next(stream) for _ in range(6)]
    changes = [i for i in items if isinstance(i, Change)]
    assert [c.op for c in changes] == [Op.UPDATE, Op.DELETE, Op.TRUNCATE]
    assert changes[0].before["s"] == "row 1" and changes[0].after["id"] == 10  # full before images
    assert items[-1].minor == 0 and items[-1] > changes[-1].position  # idle: a heartbeat after everything
    source.ack(items[1])  # the first transaction is applied
    assert source.resume_position("task") == Position(p0.log, p0.major + 1, 0)
    resumed = source.stream("task", items[1], [schema])
    assert [next(resumed).op for _ in range(2)] == [Op.DELETE, Op.TRUNCATE]
    with pytest.raises(ConfigError, match="not a memory log position"):
        source.parse_position("task", "16/B374D848")
    source.drop_cdc("task")
    with pytest.raises(PositionLost, match="change capture of task task is gone"):
        next(source.stream("task", p0, [schema]))


def test_start_positions_are_checked_against_the_log_and_what_capture_holds(db: memory.Database) -> None:
    source = registry.open_source(_ep())
    assert type(source).position_error("12.3") is None
    assert "not a memory log position" in type(source).position_error("garbage")
    schema = source.tables([TableRule("%", "%")])[0]
    p0 = source.start_cdc("task", [schema])
    assert source.check_position("task", p0) is None and source.capture_lost("task") is None
    ahead = Position(p0.log, p0.major + 5, 0, f"{p0.major + 5}.0")
    assert "is ahead of the memory log" in source.check_position("task", ahead)
    db.update(T, (1,), {"s": "changed"})
    source.ack(next(p for p in source.stream("task", p0, [schema]) if isinstance(p, Position) and p.minor))
    assert "is before transaction" in source.check_position("task", p0)  # acknowledged: no longer held
    source.drop_cdc("task")
    assert "is gone from" in source.capture_lost("task")
    assert source.retained_log("task") is None and source.leftovers(["x"]) == []
