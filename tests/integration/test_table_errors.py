"""A table that cannot be loaded or applied fails alone (Table error, with the reason); the rest go on."""

from __future__ import annotations

import pytest
from dms_env import converged, execute, table_text, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration


def test_apply_error_suspends_one_table_and_the_others_go_on(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE good (id int PRIMARY KEY, v int)", "CREATE TABLE bad (id int PRIMARY KEY, v int)",
            "INSERT INTO good VALUES (1, 1)", "INSERT INTO bad VALUES (1, 1)")
    dms.start_live("apperr", src, dst, settings={"ErrorBehavior": {"DataErrorPolicy": "SUSPEND_TABLE"}})
    execute(dst, "ALTER TABLE bad ADD CONSTRAINT small CHECK (v < 100)")  # the target refuses what comes next
    execute(src, "BEGIN; INSERT INTO good VALUES (2, 2); INSERT INTO bad VALUES (2, 500); COMMIT")
    wait_for(lambda: dms.stats("apperr")["public.bad"]["TableState"] == "Table error", 30, "bad to fail")
    stats = dms.stats("apperr")
    assert "small" in stats["public.bad"]["TableError"]  # the constraint's name: the reason is there
    execute(src, "INSERT INTO good VALUES (3, 3)", "INSERT INTO bad VALUES (3, 3)")
    wait_for(lambda: table_text(src, "good") == table_text(dst, "good"), 30, "good to keep replicating")
    assert table_text(dst, "bad") == ["(1,1)"]  # suspended: nothing more applied
    assert dms.describe("apperr")["Status"] == "running"


def test_a_streamed_transaction_that_fails_is_read_again_and_only_its_bad_table_stops(dms, pg, pg_target):
    """BatchSplitSize 500: a 3,000-row transaction streams to the target; when one of its tables is
    refused, the whole transaction is read again and applied table by table."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE good (id int PRIMARY KEY, v int)", "CREATE TABLE bad (id int PRIMARY KEY, v int)")
    dms.start_live("streamerr", src, dst, settings={"ErrorBehavior": {"DataErrorPolicy": "SUSPEND_TABLE"},
                                                   "ChangeProcessingTuning": {"BatchSplitSize": 500}})
    execute(dst, "ALTER TABLE bad ADD CONSTRAINT small CHECK (v < 100)")
    execute(src, "BEGIN; INSERT INTO good SELECT g, g FROM generate_series(1, 2000) g; "
                 "INSERT INTO bad SELECT g, g FROM generate_series(1, 1000) g; COMMIT")
    wait_for(lambda: dms.stats("streamerr")["public.bad"]["TableState"] == "Table error", 60, "bad to fail")
    wait_for(lambda: converged(src, dst, "good"), 30, "good to be applied whole")
    assert table_text(dst, "bad") == []
    log = dms.worker_log()
    assert '"event": "cdc_streaming"' in log and '"event": "cdc_read_again"' in log
    assert dms.stats("streamerr")["public.good"]["Inserts"] == 2000


def test_type_missing_on_the_target_fails_that_table_with_the_fix(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TYPE mood AS ENUM ('sad', 'happy')",
            "CREATE TABLE people (id int PRIMARY KEY, feeling mood)", "INSERT INTO people VALUES (1, 'happy')",
            "CREATE TABLE plain (id int PRIMARY KEY)", "INSERT INTO plain VALUES (1)")
    dms.task("types", src, dst, "full-load")
    dms.start_worker()
    dms.dms("task", "start", "types")
    task = dms.wait_status("types", "stopped", "failed")
    assert task["Status"] == "stopped" and task["ReplicationTaskStats"]["TablesErrored"] == 1
    people = dms.stats("types")["public.people"]
    assert people["TableState"] == "Table error"
    assert "mood" in people["TableError"] and "feeling" in people["TableError"]
    assert "CREATE TYPE" in people["TableError"]
    assert table_text(dst, "plain") == ["(1)"]
