"""Errors that waiting cannot fix end the table at once, with the server's words and the fix; only the
ones that pass with time (a lost connection, a lock not granted) are retried.

Each test loads one table into a target table the user created first (TargetTablePrepMode DO_NOTHING)
that refuses its rows for one class of reason. RecoverableErrorInterval is 120 s: a single retry would
hold the table up far longer than the seconds each is allowed (generous: a loaded machine starts a
worker slowly, and the proof is that no retry happens, which the worker's log tells too).
"""

from __future__ import annotations

import time

import pytest
from dms_env import execute, limited_user, table_text, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration

SETTINGS = {"FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"},
            "ErrorBehavior": {"RecoverableErrorInterval": 120}}
SECONDS = 60  # the worker's start included; a retry alone would take 120


def load_fails(dms, src: str, dst: str, name: str, *fragments: str) -> str:
    """Run a full load of table t; it must end failed within SECONDS, its message holding each fragment."""
    dms.task(name, src, dst, "full-load", settings=SETTINGS)
    if not any(w.poll() is None for w in dms.workers):
        dms.start_worker()
    started = time.monotonic()
    dms.dms("task", "start", name)
    wait_for(lambda: dms.stats(name)["public.t"]["TableState"] == "Table error", SECONDS, f"{name}: t to fail")
    elapsed = time.monotonic() - started
    error = dms.stats(name)["public.t"]["TableError"]
    for fragment in fragments:
        assert fragment in error, error
    assert "\n" not in error
    assert elapsed < SECONDS
    assert dms.stats(name)["public.ok"]["TableState"] == "Table completed"  # the other table goes on
    assert '"transient_error"' not in dms.worker_log()
    return error


def source(pg) -> str:
    src = fresh_db(pg)
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'one'), (2, 'seventeen')",
            "CREATE TABLE ok (id int PRIMARY KEY)", "INSERT INTO ok VALUES (1)")
    return src


def test_integrity_23_a_check_constraint_of_the_target(dms, pg, pg_target):
    dst = fresh_db(pg_target)
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v text CONSTRAINT short CHECK (length(v) < 5))")
    load_fails(dms, source(pg), dst, "e23", "short", "SQLSTATE 23514", "make it match the source's definition")
    assert table_text(dst, "t") == []


def test_data_exception_22_a_value_too_long_for_the_target_column(dms, pg, pg_target):
    dst = fresh_db(pg_target)
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v varchar(5))")
    load_fails(dms, source(pg), dst, "e22", "value too long", "SQLSTATE 22001", "column's type")


def test_undefined_column_42_the_target_table_lacks_a_column(dms, pg, pg_target):
    dst = fresh_db(pg_target)
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY)")
    load_fails(dms, source(pg), dst, "e42", 'column "v"', "SQLSTATE 42703", "lacks a column")


def test_privilege_42501_the_target_user_may_not_insert(dms, pg, pg_target):
    dst = fresh_db(pg_target)
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v text)", "CREATE TABLE ok (id int PRIMARY KEY)")
    role, url = limited_user(dst)
    execute(dst, f"GRANT SELECT ON t TO {role}", f"GRANT ALL ON ok TO {role}")
    load_fails(dms, source(pg), url, "e42501", "permission denied for table t", "SQLSTATE 42501",
               "grant the endpoint's user")


def test_feature_not_supported_0A_copy_into_a_table_under_row_level_security(dms, pg, pg_target):
    dst = fresh_db(pg_target)
    role, url = limited_user(dst)
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v text)", f"ALTER TABLE t OWNER TO {role}",
            "ALTER TABLE t ENABLE ROW LEVEL SECURITY", "ALTER TABLE t FORCE ROW LEVEL SECURITY",
            "CREATE POLICY everyone ON t USING (true)",
            "CREATE TABLE ok (id int PRIMARY KEY)", f"ALTER TABLE ok OWNER TO {role}")
    load_fails(dms, source(pg), url, "e0a", "row-level security", "SQLSTATE 0A000")
