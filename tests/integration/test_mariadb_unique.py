"""Unique indexes on a MariaDB target (PostgreSQL -> MariaDB, real servers, real workers): created with the
table, values swapped between two rows in one source transaction applied, and a real conflict on a unique
index other than the key refused under DMS's DataErrorPolicy (LOG_ERROR: awsdms_apply_exceptions), never
written over the other row."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from dms_env import execute, wait_for
from servers_mariadb import execute as my_execute
from servers_mariadb import query

from connectors.base import Batch, Change, Column, Endpoint, Op, Position, TableId, TableSchema
from connectors.errors import DataError
from connectors.registry import open_target

pytestmark = pytest.mark.integration


def test_unique_index_created_swap_applied_and_a_real_conflict_refused(dms, src, mariadb_db):
    execute(src, "CREATE TABLE members (id integer PRIMARY KEY, email text NOT NULL UNIQUE, n integer)",
            "INSERT INTO members SELECT g, 'm' || g || '@x', g FROM generate_series(1, 200) g")
    dms.start_live("uniq", src, mariadb_db)
    indexes = query(mariadb_db, "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE "
                                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'members' AND NON_UNIQUE = 0 ORDER BY 1")
    assert sorted(indexes) == [("PRIMARY", "id"), ("members_email_key", "email")]

    # One source transaction swaps two rows' values (through a third, as a unique index checked at once
    # needs), and inserts a row taking a value another row gives up in the same transaction.
    execute(src, "BEGIN; UPDATE members SET email = 'tmp' WHERE id = 1; "
                 "UPDATE members SET email = 'm1@x' WHERE id = 2; UPDATE members SET email = 'm2@x' WHERE id = 1; "
                 "UPDATE members SET email = 'gone@x' WHERE id = 3; INSERT INTO members VALUES (300, 'm3@x', 300); "
                 "COMMIT")
    wait_for(lambda: query(mariadb_db, "SELECT id, email FROM members WHERE id IN (1, 2, 3, 300) ORDER BY id") == [
        (1, "m2@x"), (2, "m1@x"), (3, "gone@x"), (300, "m3@x")], 60, "the swap to apply")

    # A real conflict: the target holds a row (not the source's) whose email a new source row takes.
    my_execute(mariadb_db, "INSERT INTO members VALUES (1000, 'clash@x', -1)")
    execute(src, "INSERT INTO members VALUES (500, 'clash@x', 500)", "UPDATE members SET n = -4 WHERE id = 4")
    wait_for(lambda: query(mariadb_db, "SELECT n FROM members WHERE id = 4") == [(-4,)], 60,
             "the change after the conflict to apply")
    assert query(mariadb_db, "SELECT id, email, n FROM members WHERE email = 'clash@x' OR id = 500") == [
        (1000, "clash@x", -1)]
    (statement, error), = query(mariadb_db, "SELECT STATEMENT, ERROR FROM awsdms_apply_exceptions "
                                            "WHERE TABLE_NAME = 'members'")
    assert "500" in statement and "clash@x" in statement
    assert "Duplicate entry 'clash@x'" in error and "unique key of the target" in error
    assert dms.describe("uniq")["Status"] == "running"
    (count,), = query(mariadb_db, "SELECT COUNT(*) FROM members")
    assert count == 202  # 200 loaded, 300 inserted, 1000 the target's own; 500 refused


def test_resolved_apply_writes_by_key_and_a_swap_goes_change_by_change(mariadb_db):
    """Without conflict policies (the cached changes of a load under FullLoadIgnoreConflicts), rows are
    upserted by primary key: never ON DUPLICATE KEY UPDATE over the row another unique index finds."""
    u = urlsplit(mariadb_db)
    target = open_target(Endpoint("my", "target", "mariadb", u.hostname, u.port, u.path.lstrip("/"), "dms", "dms"))
    cols = (Column("id", "int8", False, "bigint", "INT8"), Column("email", "text", False, "text", "NCLOB"),
            Column("n", "int4", True, "integer", "INT4"))
    schema = TableSchema(TableId("public", "people"), cols, ("id",), "postgres", unique=(("email",),))
    rows = [{"id": i, "email": f"p{i}", "n": i} for i in (1, 2, 3)]

    def change(n: int, op: Op, after: dict, before: dict | None = None) -> Change:
        return Change(schema.table, op, Position("", n, 1), before=before, after=after)

    try:
        target.prepare(schema, "drop")
        target.load(schema, [Batch(3, rows)])
        assert target.create_keys(schema) == []
        # an update of row 1, a new row 4 taking the value row 2 gives up, row 2's new value: one batch
        target.apply("r", {schema: [
            change(1, Op.UPDATE, {"id": 1, "email": "p1", "n": 10}, {"id": 1}),
            change(2, Op.UPDATE, {"id": 2, "email": "q2", "n": 2}, {"id": 2}),
            change(3, Op.INSERT, {"id": 4, "email": "p2", "n": 4})]})
        assert query(mariadb_db, "SELECT id, email, n FROM people ORDER BY id") == [
            (1, "p1", 10), (2, "q2", 2), (3, "p3", 3), (4, "p2", 4)]
        # a swap through a third value: the set statement is refused, the changes one by one are not
        target.apply("r", {schema: [
            change(4, Op.UPDATE, {"id": 1, "email": "x", "n": 10}, {"id": 1}),
            change(5, Op.UPDATE, {"id": 3, "email": "p1", "n": 3}, {"id": 3}),
            change(6, Op.UPDATE, {"id": 1, "email": "p3", "n": 10}, {"id": 1})]})
        assert query(mariadb_db, "SELECT id, email FROM people ORDER BY id") == [
            (1, "p3"), (2, "q2"), (3, "p1"), (4, "p2")]
        # a real conflict: row 5 would take row 4's value; nothing of the batch stays, row 4 is untouched
        with pytest.raises(DataError, match="unique key of the target"):
            target.apply("r", {schema: [change(7, Op.UPDATE, {"id": 2, "email": "q2", "n": -2}, {"id": 2}),
                                        change(8, Op.INSERT, {"id": 5, "email": "p2", "n": 5})]})
        assert query(mariadb_db, "SELECT id, email, n FROM people ORDER BY id") == [
            (1, "p3", 10), (2, "q2", 2), (3, "p1", 3), (4, "p2", 4)]
    finally:
        target.close()
