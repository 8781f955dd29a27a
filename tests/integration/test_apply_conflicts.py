"""DMS's ApplyError*Policy on a real target that has drifted from the source: a change that finds a row
where it expects none, or none where it expects one, is logged, ignored, resolved, or stops its table
or the task, as the policy says."""

from __future__ import annotations

import psycopg2.errors
import pytest
from dms_env import converged, execute, rows, table_text, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration


def _drifted(dms, pg, pg_target, name: str, errors: dict) -> tuple[str, str]:
    """A live task over t (rows 1..4); then the target alone gains row 10 and loses rows 2 and 3."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text)",
            "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 4) g")
    dms.start_live(name, src, dst, settings={"ErrorBehavior": errors})
    execute(dst, "INSERT INTO t VALUES (10, 'target-only')", "DELETE FROM t WHERE id IN (2, 3)")
    return src, dst


def _exceptions(dst: str) -> list[tuple]:
    try:
        return rows(dst, "awsdms_apply_exceptions", '"ERROR_TIME"')
    except psycopg2.errors.UndefinedTable:  # made with the first exception
        return []


def test_default_policies_log_the_conflicts_leave_the_rows_and_escalate_at_the_count(dms, pg, pg_target):
    src, dst = _drifted(dms, pg, pg_target, "conflog",
                        {"ApplyErrorEscalationCount": 3, "ApplyErrorEscalationPolicy": "SUSPEND_TABLE"})
    # One transaction: an insert over row 10, an update of missing row 2, a delete of missing row 3
    # (IGNORE_RECORD: silent), and two changes that meet no conflict.
    execute(src, "BEGIN; INSERT INTO t VALUES (10, 'source'); UPDATE t SET v = 'new2' WHERE id = 2; "
                 "DELETE FROM t WHERE id = 3; INSERT INTO t VALUES (11, 'v11'); UPDATE t SET v = 'new1' WHERE id = 1; "
                 "COMMIT")
    wait_for(lambda: len(_exceptions(dst)) == 2, 30, "two apply exceptions")
    assert table_text(dst, "t") == sorted(["(1,new1)", "(4,v4)", "(10,target-only)", "(11,v11)"])
    logged = _exceptions(dst)
    assert [(r[0], r[1], r[2]) for r in logged] == [("conflog", "public", "t")] * 2
    assert logged[0][5] == "duplicate key: public.t already has a row with (id)=(10)"
    assert "INSERT INTO" in logged[0][4] and "'source'" in logged[0][4]
    assert logged[1][5] == "0 rows affected: public.t has no row with (id)=(2) to update"
    stats = dms.stats("conflog")["public.t"]
    # What was applied: the two clean changes, and the delete, whose row is gone as it asks.
    assert (stats["Inserts"], stats["Updates"], stats["Deletes"]) == (1, 1, 1)
    assert stats["TableState"] == "Table completed"
    # The third conflict reaches ApplyErrorEscalationCount: the table is suspended, the task goes on.
    execute(src, "UPDATE t SET v = 'again' WHERE id = 2")
    wait_for(lambda: dms.stats("conflog")["public.t"]["TableState"] == "Table error", 30, "t to be suspended")
    assert "ApplyErrorEscalationCount 3" in dms.stats("conflog")["public.t"]["TableError"]
    assert dms.describe("conflog")["Status"] == "running"


def test_record_policies_make_the_target_equal_the_source(dms, pg, pg_target):
    src, dst = _drifted(dms, pg, pg_target, "confrec",
                        {"ApplyErrorInsertPolicy": "INSERT_RECORD", "ApplyErrorUpdatePolicy": "UPDATE_RECORD"})
    execute(src, "BEGIN; INSERT INTO t VALUES (10, 'source'); UPDATE t SET v = 'new2' WHERE id = 2; "
                 "DELETE FROM t WHERE id = 3; COMMIT")
    wait_for(lambda: converged(src, dst, "t"), 30, "target to equal source")
    assert table_text(dst, "t") == sorted(["(1,v1)", "(2,new2)", "(4,v4)", "(10,source)"])
    assert _exceptions(dst) == []


def test_stop_task_applies_nothing_of_the_batch_and_resume_retries_it(dms, pg, pg_target):
    src, dst = _drifted(dms, pg, pg_target, "confstop", {"ApplyErrorUpdatePolicy": "STOP_TASK"})
    execute(src, "BEGIN; INSERT INTO t VALUES (20, 'v20'); UPDATE t SET v = 'new2' WHERE id = 2; COMMIT")
    task = dms.wait_status("confstop", "failed", timeout=30)
    assert "ApplyErrorUpdatePolicy is STOP_TASK" in task["LastFailureMessage"]
    assert "(id)=(2)" in task["LastFailureMessage"]
    assert table_text(dst, "t") == sorted(["(1,v1)", "(4,v4)", "(10,target-only)"])  # row 20 waits with its batch
    # The user puts the row back and resumes: the same changes apply now.
    execute(dst, "INSERT INTO t VALUES (2, 'v2')")
    dms.dms("task", "start", "confstop", "--type", "resume-processing")
    wait_for(lambda: table_text(dst, "t") == sorted(["(1,v1)", "(2,new2)", "(4,v4)", "(10,target-only)", "(20,v20)"]),
             60, "the retried batch")


def test_suspend_table_stops_only_the_table_in_conflict(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE a (id int PRIMARY KEY)", "CREATE TABLE b (id int PRIMARY KEY)",
            "INSERT INTO a VALUES (1)", "INSERT INTO b VALUES (1)")
    dms.start_live("confsusp", src, dst, settings={"ErrorBehavior": {"ApplyErrorInsertPolicy": "SUSPEND_TABLE"}})
    execute(dst, "INSERT INTO a VALUES (2)")
    execute(src, "BEGIN; INSERT INTO a VALUES (2); INSERT INTO b VALUES (2); COMMIT")
    wait_for(lambda: dms.stats("confsusp")["public.a"]["TableState"] == "Table error", 30, "a to be suspended")
    assert "ApplyErrorInsertPolicy is SUSPEND_TABLE" in dms.stats("confsusp")["public.a"]["TableError"]
    execute(src, "INSERT INTO b VALUES (3)", "INSERT INTO a VALUES (3)")
    wait_for(lambda: table_text(dst, "b") == ["(1)", "(2)", "(3)"], 30, "b to go on")
    assert table_text(dst, "a") == ["(1)", "(2)"]  # suspended at the conflict
    assert dms.describe("confsusp")["Status"] == "running"
