"""Unique indexes on a MariaDB target (PostgreSQL -> MariaDB, real servers, real workers): created with the
table, values swapped between two rows in one source transaction applied, and a real conflict on a unique
index other than the key refused under DMS's DataErrorPolicy (LOG_ERROR: awsdms_apply_exceptions), never
written over the other row."""

from __future__ import annotations

import pytest
from dms_env import execute, wait_for
from servers_mariadb import execute as my_execute
from servers_mariadb import query

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
