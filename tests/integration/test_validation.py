"""ValidationSettings on real PostgreSQL: tables validated by worker jobs after their load (and catch-up),
and validation-only tasks that move nothing and stop."""

from __future__ import annotations

import time

import pytest
from dms_env import Writer, execute, rows, wait_for

pytestmark = pytest.mark.integration

FINAL = ("Validated", "Mismatched records", "Suspended records", "No primary key", "Table error", "Error")


def test_full_load_and_cdc_with_writes_during_the_load_validates_every_table(dms, src, dst):
    execute(src, "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))",
            "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 50000) g",
            "CREATE TABLE items (id int PRIMARY KEY, note text)",
            "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
    settings = {"ValidationSettings": {"EnableValidation": True, "ThreadCount": 1}}
    dms.task("valcdc", src, dst, "full-load-and-cdc", settings=settings)
    dms.start_worker()
    writer = Writer(src, "orders", 100_000)
    writer.start()
    time.sleep(0.3)
    dms.dms("task", "start", "valcdc")
    dms.wait_live("valcdc")
    execute(src, "UPDATE items SET note = 'after' WHERE id <= 10")
    counts = writer.stop()  # orders' validation may already be comparing: its in-flight rows get a re-check
    assert counts["insert"] > 10 and counts["update"] > 10, counts

    def validated() -> dict | None:
        s = dms.stats("valcdc")
        return s if all(t["ValidationState"] in FINAL for t in s.values()) else None

    stats = wait_for(validated, 90, "every table's validation to end")
    assert {t: s["ValidationState"] for t, s in stats.items()} == {"public.orders": "Validated",
                                                                    "public.items": "Validated"}
    for name in ("public.orders", "public.items"):
        assert stats[name]["ValidationFailedRecords"] == stats[name]["ValidationPendingRecords"] == 0
        assert stats[name]["TableState"] == "Table completed"
    # ThreadCount 1: one table compared at a time
    spans = sorted((stats[t]["ValidationStartTime"], stats[t]["ValidationEndTime"]) for t in ("public.orders",
                                                                                               "public.items"))
    assert spans[0][1] <= spans[1][0], spans
    assert dms.describe("valcdc")["Status"] == "running"  # CDC goes on
    assert "validate public.orders" in dms.worker_log()  # the job is named readably where workers log it


def test_validation_only_moves_nothing_and_stops_with_each_tables_verdict(dms, src, dst):
    make = ["CREATE TABLE a (id int PRIMARY KEY, v text)", "CREATE TABLE b (id int PRIMARY KEY, v text)",
            "CREATE TABLE c (id int PRIMARY KEY, v text)", "CREATE TABLE d (at int, line text)"]
    execute(src, *make, "INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO b VALUES (1, 'same')",
            "INSERT INTO c SELECT g, 'c' FROM generate_series(1, 5) g")
    execute(dst, *make, "INSERT INTO a VALUES (1, 'x'), (2, 'DIFFERENT')",  # 2 differs, 3 is missing
            "INSERT INTO b VALUES (1, 'same')", "INSERT INTO c SELECT g, 'c' FROM generate_series(1, 2) g")
    settings = {"FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"},
                "ValidationSettings": {"EnableValidation": True, "ValidationOnly": True, "TableFailureMaxCount": 2,
                                       "ThreadCount": 1}}
    dms.task("valonly", src, dst, "full-load", settings=settings)
    dms.start_worker()
    dms.dms("task", "start", "valonly")
    doc = dms.wait_status("valonly", "stopped", "failed", timeout=60)
    assert (doc["Status"], doc["StopReason"]) == ("stopped", "Stop Reason FULL_LOAD_ONLY_FINISHED")

    stats = dms.stats("valonly")
    a, b, c, d = stats["public.a"], stats["public.b"], stats["public.c"], stats["public.d"]
    assert (a["ValidationState"], a["ValidationFailedRecords"]) == ("Mismatched records", 2)
    assert "missing in target: [3]" in a["ValidationStateDetails"]
    assert (b["ValidationState"], b["ValidationFailedRecords"]) == ("Validated", 0)
    assert (c["ValidationState"], c["ValidationFailedRecords"]) == ("Suspended records", 3)  # more than 2
    assert "TableFailureMaxCount" in c["ValidationStateDetails"]
    assert d["ValidationState"] == "No primary key"
    spans = sorted((t["ValidationStartTime"], t["ValidationEndTime"]) for t in (a, b, c))
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0], spans  # ThreadCount 1 on four worker threads
    assert all(t["TableState"] == "Table completed" and t["FullLoadRows"] == 0 for t in stats.values())
    assert rows(dst, "a") == [(1, "x"), (2, "DIFFERENT")]  # the target is only read
    assert rows(src, "pg_replication_slots WHERE database = current_database()") == []  # and nothing is captured


def test_full_load_task_stops_only_after_its_tables_are_validated(dms, src, dst):
    execute(src, "CREATE TABLE p (id int PRIMARY KEY, v text)", "CREATE TABLE q (id int PRIMARY KEY, v text)",
            "INSERT INTO p SELECT g, md5(g::text) FROM generate_series(1, 3000) g", "INSERT INTO q VALUES (1, 'q')")
    dms.task("valfull", src, dst, "full-load", settings={"ValidationSettings": {"EnableValidation": True}})
    dms.start_worker()
    dms.dms("task", "start", "valfull")
    doc = dms.wait_status("valfull", "stopped", "failed", timeout=60)
    assert doc["StopReason"] == "Stop Reason FULL_LOAD_ONLY_FINISHED"
    stats = dms.stats("valfull")
    assert [(t["ValidationState"], t["FullLoadRows"]) for t in stats.values()] == [("Validated", 3000),
                                                                                 ("Validated", 1)]
    assert doc["ReplicationTaskStats"]["StopDate"] >= max(t["ValidationEndTime"] for t in stats.values())
    assert "validation: " not in dms.dms("task", "stats", "valfull").stdout  # no details when all is well
