"""What makes change capture from MariaDB impossible, said by the `dms` commands a user runs: one line naming
the fix and a non-zero exit, never a traceback. Missing replication privileges, wrong binlog settings and an
unreachable server refuse `dms task start`; a binlog position purged while the task was stopped fails the resumed
task with the fix as its LastFailureMessage (tests/integration/test_mysql_source.py checks the same at the
source's level)."""

from __future__ import annotations

import time

import pytest
from dms_env import as_user, wait_for
from servers_mariadb import execute, query
from services import free_port

pytestmark = pytest.mark.integration


def _refused(dms, task: str, *args: str) -> tuple[int, str]:
    proc = dms.dms("task", "start", task, *args, check=False)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.returncode, proc.stderr


def test_cdc_impossible_is_one_line_naming_the_fix(dms, mariadb_own_db, dst):
    mariadb_db = mariadb_own_db  # global settings change, binlogs are purged: on this process's own server
    name = mariadb_db.rsplit("/", 1)[1]
    execute(mariadb_db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)",
            "CREATE USER IF NOT EXISTS 'weak'@'%' IDENTIFIED BY 'pw'", f"GRANT SELECT ON `{name}`.* TO 'weak'@'%'")

    dms.task("weak", as_user(mariadb_db, "weak", "pw"), dst, "full-load-and-cdc")
    code, line = _refused(dms, "weak")
    assert code == 2 and "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'weak'" in line

    dms.task("mixed", mariadb_db, dst, "full-load-and-cdc")
    execute(mariadb_db, "SET GLOBAL binlog_format = 'MIXED'")
    try:
        code, line = _refused(dms, "mixed")
    finally:
        execute(mariadb_db, "SET GLOBAL binlog_format = 'ROW'")
    assert code == 2 and "binlog_format" in line and "set binlog_format=ROW" in line

    port = int(mariadb_db.rsplit(":", 1)[1].split("/")[0])
    dms.task("nowhere", mariadb_db.replace(f":{port}/", f":{free_port()}/"), dst, "full-load-and-cdc")
    code, line = _refused(dms, "nowhere")
    assert code == 1 and "connection refused; is the server running and the port right?" in line


def test_a_purged_binlog_position_fails_the_resumed_task(dms, mariadb_own_db, dst):
    mariadb_db = mariadb_own_db  # global settings change, binlogs are purged: on this process's own server
    execute(mariadb_db, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    dms.start_live("purged", mariadb_db, dst)
    dms.dms("task", "stop", "purged")
    wait_for(lambda: dms.describe("purged")["Status"] == "stopped", 60, "the task to stop")
    (old,) = [r[0] for r in query(mariadb_db, "SHOW MASTER STATUS")]
    execute(mariadb_db, "INSERT INTO t VALUES (2)", "FLUSH BINARY LOGS")
    (current,) = [r[0] for r in query(mariadb_db, "SHOW MASTER STATUS")]
    deadline = time.monotonic() + 30
    while old in [r[0] for r in query(mariadb_db, "SHOW BINARY LOGS")]:
        # MariaDB purges a file only once InnoDB has checkpointed it (moments after the flush)
        assert time.monotonic() < deadline, "the old binlog file stays"
        execute(mariadb_db, f"PURGE BINARY LOGS TO '{current}'")
        time.sleep(0.2)
    # The checkpoint is on the target: the resume starts, and its CDC job fails the task with the fix.
    dms.dms("task", "start", "purged", "--type", "resume-processing")
    failed = wait_for(lambda: (d := dms.describe("purged"))["Status"] == "failed" and d, 120, "the task to fail")
    message = failed["LastFailureMessage"]
    assert "is no longer on" in message and "reload-target" in message and "\n" not in message, message
