"""Sources with several logs (shards, partitions): a checkpoint is a map log -> position (Positions), ordered
only within a log, and the resume position and "can I resume from here?" are declared Source methods.
The memory connector's two-partition mode drives the whole path: stream, apply, acknowledge, stop, resume."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors import memory, registry
from connectors.base import Change, Column, Endpoint, Op, Position, Positions, Source, TableId, TableRule, TableSchema


def test_a_checkpoint_orders_positions_within_their_own_log_only() -> None:
    a1, a2, b1 = Position("a", 1, 1, "1.1"), Position("a", 2, 0, "2.0"), Position("b", 7, 3, "7.3")
    cp = Positions([a2, b1, a1])  # the later position of a log wins, whatever the order given
    assert dict(cp) == {"a": a2, "b": b1} and list(cp) == ["a", "b"]
    assert cp.covers(a1) and cp.covers(b1) and not cp.covers(Position("b", 7, 4))
    assert not cp.covers(Position("c", 0, 1))  # a log the checkpoint has not reached: nothing of it is applied
    assert cp.advanced(Position("a", 1, 0), Position("c", 1, 1))["a"] == a2  # never backwards
    assert Positions.decode(cp.encode()) == cp and Positions.decode(cp.encode())["b"].token == "7.3"
    assert Positions([a1]).single() == a1
    with pytest.raises(ValueError, match="a checkpoint of 2 logs has no single position"):
        cp.single()
    with pytest.raises(ValueError, match="cannot order a against b"):
        _ = a1 < b1


def _two_tables(db: memory.Database) -> tuple[TableId, TableId]:
    """Two tables whose changes go to different partitions."""
    names = [TableId("public", f"t{i}") for i in range(20)]
    first = names[0]
    other = next(t for t in names if db.partition(t) != db.partition(first))
    return first, other


@pytest.fixture
def db() -> Iterator[memory.Database]:
    made = memory.database("parts", partitions=2)
    for table in _two_tables(made):
        made.create_table(TableSchema(table, (Column("id", "int8", False), Column("v", "text")), ("id",), "memory"))
    yield made
    memory.drop_database("parts")
    memory.drop_database("parts-target")


def _drain(stream: Iterator[Change | Position], logs: int) -> list[Change | Position]:
    """Everything until each log has sent its heartbeat once the capture is idle."""
    items: list[Change | Position] = []
    idle = 0
    while idle < logs:
        item = next(stream)
        idle = idle + 1 if isinstance(item, Position) and item.minor == 0 else 0
        items.append(item)
    return items


def _apply(target, task: str, schemas: dict[TableId, TableSchema], items: list, done: Positions) -> Positions:
    """As the worker does: skip what the checkpoint covers, apply the rest, checkpoint = what was applied."""
    todo: dict[TableSchema, list[Change]] = {}
    for item in items:
        if isinstance(item, Change) and not done.covers(item.position):
            todo.setdefault(schemas[item.table], []).append(item)
    target.apply(task, todo)
    return done.advanced(*(c.position for changes in todo.values() for c in changes))


def test_two_partitions_stream_checkpoint_and_resume_each_log_on_its_own(db: memory.Database) -> None:
    a, b = _two_tables(db)
    memory.database("parts-target")
    source = registry.open_source(Endpoint("m", "source", "memory", database="parts"))
    target = registry.open_target(Endpoint("t", "target", "memory", database="parts-target"))
    assert isinstance(source, Source)
    schemas = {s.table: s for s in source.tables([TableRule("%", "%")])}
    for schema in schemas.values():
        target.prepare(schema, "drop")
    source.start_cdc("task", list(schemas.values()))
    start = source.resume_positions("task")
    assert len(start) == 2 and {p.major for p in start.values()} == {1}
    with pytest.raises(ValueError, match="no single position"):
        source.resume_position("task")  # a single position means nothing for two logs

    with db.transaction() as tx:  # one transaction, two logs
        tx.insert(a, {"id": 1, "v": "a1"})
        tx.insert(b, {"id": 1, "v": "b1"})
    db.insert(b, {"id": 2, "v": "b2"})
    items = _drain(source.stream("task", start, list(schemas.values())), 2)
    changes = [i for i in items if isinstance(i, Change)]
    assert {c.position.log for c in changes} == set(start)  # each table's changes in its own log
    assert all(c.position.minor == 1 for c in changes if c.table == a)  # numbered within their log
    done = _apply(target, "task", schemas, items, Positions())
    assert len(done) == 2
    for log in done:
        source.ack(done[log])  # each log acknowledged on its own
    assert source.can_resume("task", done) is None
    stale = Positions([start[db.log_id("task", db.partition(b))], done[db.log_id("task", db.partition(a))]])
    assert "discarded log" in source.can_resume("task", stale) and "reload the task" in source.can_resume("task", stale)
    assert "discarded log" in source.can_resume("task", Positions([done[db.log_id("task", db.partition(a))]]))

    # stopped here; more changes meanwhile, then resumed from the checkpoint
    db.update(a, (1,), {"v": "a1 changed"})
    db.delete(b, (1,))
    again = _drain(source.stream("task", done, list(schemas.values())), 2)
    replayed = [c for c in again if isinstance(c, Change)]
    assert [(c.table, c.op) for c in replayed] == [(a, Op.UPDATE), (b, Op.DELETE)]  # nothing sent twice
    done = _apply(target, "task", schemas, again, done)
    for table in (a, b):
        assert target.db.rows(table) == db.rows(table)
    assert Positions(target.applied("task").values()) == done  # the target's checkpoints are the map
    source.drop_cdc("task")
    assert "gone" in source.can_resume("task", done)
