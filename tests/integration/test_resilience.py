"""Failures outside OpenDMS: Redis restarts, a target that goes away; and CDC-only starts."""

from __future__ import annotations

import time

import psycopg2
import pytest
from dms_env import DmsEnv, Writer, converged, execute, rows, wait_for
from services import PostgresServer, RedisServer, fresh_db

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 20000) g"
# Retries after 1, 2, 4, ... s instead of DMS's 5, 10, 20, ...: the same retrying, without a test
# waiting up to 20 s for the next try after its server came back.
QUICK_RETRY = {"ErrorBehavior": {"RecoverableErrorInterval": 1}}



def test_redis_restart_during_cdc_loses_nothing(tmp_path, pg, pg_target):
    server = RedisServer(private=True).start()  # our own: restarting it disturbs no other test
    dms = DmsEnv(tmp_path, server.url)
    try:
        src, dst = fresh_db(pg), fresh_db(pg_target)
        execute(src, ORDERS, SEED)
        dms.start_live("rr", src, dst)
        writer = Writer(src, "orders", 100_000)
        writer.start()
        time.sleep(1.0)
        server.restart()
        time.sleep(2.0)
        counts = writer.stop()
        assert sum(counts.values()) > 100
        wait_for(lambda: converged(src, dst, "orders"), 90, "target to equal source after the Redis restart")
        assert dms.describe("rr")["Status"] == "running"
    finally:
        dms.close()
        server.stop()


def test_target_down_then_back_loses_nothing(dms, pg, tmp_path):
    target = PostgresServer(private=True).start(logical=False)  # our own target, so stopping it disturbs no other test
    try:
        src, dst = fresh_db(pg), fresh_db(target)
        execute(src, ORDERS, SEED)
        dms.start_live("down", src, dst, settings=QUICK_RETRY)
        writer = Writer(src, "orders", 100_000)
        writer.start()
        time.sleep(0.5)
        target.pause()
        time.sleep(5.0)  # changes keep coming while the target is away: several tries fail
        target.resume()
        time.sleep(1.0)
        counts = writer.stop()
        assert sum(counts.values()) > 100
        wait_for(lambda: converged(src, dst, "orders"), 120, "target to catch up after coming back")
        task = dms.describe("down")
        assert task["Status"] == "running"
        assert "transient_error" in dms.worker_log(0)
    finally:
        target.stop()


def test_cdc_only_task_creates_missing_tables_and_applies_changes_from_now(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS, SEED)
    dms.task("conly", src, dst, "cdc")
    dms.start_worker()
    dms.dms("task", "start", "conly")
    dms.wait_status("conly", "running")
    execute(src, "INSERT INTO orders VALUES (900001, 1, 'after start', 1.5)", "UPDATE orders SET t = 'u' WHERE id = 5",
            "DELETE FROM orders WHERE id = 6")
    wait_for(lambda: dms.stats("conly")["public.orders"]["Deletes"] == 1, 30, "the changes to be applied")
    # Only the changes after the start: row 5 was never loaded, so under DMS's default
    # ApplyErrorUpdatePolicy (LOG_ERROR) its update is logged on the target, not applied.
    assert rows(dst, "orders", "id") == [(900001, 1, "after start", rows(src, "orders WHERE id = 900001")[0][3])]
    assert [r[0] for r in rows(dst, 'awsdms_apply_exceptions WHERE "TASK_NAME" = \'conly\'', '"ERROR"')] == ["conly"]
    stats = dms.stats("conly")["public.orders"]
    assert (stats["Inserts"], stats["Updates"], stats["Deletes"]) == (1, 0, 1)
    assert stats["FullLoadRows"] == 0


def test_cdc_start_position_on_a_user_slot(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS, "CREATE PUBLICATION user_pub FOR TABLE orders")
    slot = f"user_slot_{dms.suffix}"
    execute(src, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')",
            "INSERT INTO orders VALUES (1, 1, 'before the position', 1)")
    with psycopg2.connect(src) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_insert_lsn()::text")  # includes unflushed WAL
        (lsn,) = cur.fetchone()
    conn.close()
    execute(src, "INSERT INTO orders VALUES (2, 2, 'after the position', 2)")
    dms.dms("endpoint", "create", "usersrc", "--type", "source", "--engine", "postgres", "--port", str(pg.port),
            "--database", src.rsplit("/", 1)[1], "--user", "dms", "--password", "dms",
            "--extra", f"slotName={slot};publicationName=user_pub")
    dms.endpoint("userdst", "target", dst)
    mappings = dms.tmp / "m.json"
    mappings.write_text('{"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"1","rule-action":"include",'
                        '"object-locator":{"schema-name":"public","table-name":"orders"}}]}')
    dms.dms("task", "create", "pos", "--source", "usersrc", "--target", "userdst", "--instance", dms.instance,
            "--migration-type", "cdc", "--table-mappings", str(mappings), "--cdc-start-position", lsn)
    dms.start_worker()
    dms.dms("task", "start", "pos")
    wait_for(lambda: rows(dst, "orders", "id") == [(2, 2, "after the position", rows(src, "orders WHERE id=2")[0][3])],
             30, "only the change after the start position")
    assert dms.describe("pos")["CdcStartPosition"] == lsn
    dms.dms("task", "stop", "pos")
    dms.dms("task", "delete", "pos")
    with psycopg2.connect(src) as conn, conn.cursor() as cur:  # the user's slot and publication stay
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        assert cur.fetchone()[0] == 1
        cur.execute(f"SELECT pg_drop_replication_slot('{slot}')")
    conn.close()


def test_delete_removes_the_slot_and_publication(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS, SEED)
    dms.start_live("del", src, dst)
    proc = dms.dms("task", "delete", "del", check=False)
    assert proc.returncode == 2 and "stop it first" in proc.stderr
    dms.dms("task", "stop", "del")
    dms.dms("task", "delete", "del")
    with psycopg2.connect(src) as conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dms_del'),"
                    " (SELECT count(*) FROM pg_publication WHERE pubname = 'dms_del')")
        assert cur.fetchone() == (0, 0)
    conn.close()
    assert "task del does not exist" in dms.dms("task", "describe", "del", check=False).stderr


def test_one_slot_worker_runs_both_the_load_and_cdc(dms, pg, pg_target):
    # The CDC job must not take the only pool slot and starve the full loads.
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS, SEED, "CREATE TABLE more (id int PRIMARY KEY)", "INSERT INTO more VALUES (1), (2)")
    dms.task("one", src, dst, "full-load-and-cdc")
    proc = dms.dms("task", "start", "one")
    assert "no worker serves instance" in proc.stderr  # told before anything waits silently
    dms.start_worker(concurrency=1)
    dms.wait_live("one", timeout=60)
    execute(src, "INSERT INTO more VALUES (3)")
    wait_for(lambda: converged(src, dst, "orders", "more"), 30, "target to equal source")


def test_sigterm_hands_running_jobs_to_another_worker(tmp_path, redis_server, pg, pg_target):
    # Leases of a minute: without the hand-off, the second worker would wait that long.
    dms = DmsEnv(tmp_path, redis_server.url, lease_seconds=60)
    try:
        src, dst = fresh_db(pg), fresh_db(pg_target)
        execute(src, ORDERS, SEED)
        dms.task("ho", src, dst, "full-load-and-cdc")
        first = dms.start_worker()
        dms.dms("task", "start", "ho")
        dms.wait_live("ho")
        dms.start_worker()
        first.terminate()  # SIGTERM: warm shutdown
        assert first.wait(timeout=30) == 0
        execute(src, "INSERT INTO orders VALUES (500000, 1, 'after the hand-off', 1)")
        wait_for(lambda: converged(src, dst, "orders"), 40, "the second worker to take the CDC job over")
        assert "job_handed_off" in dms.worker_log(0)
    finally:
        dms.close()


def test_stop_with_every_worker_dead_then_resume(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS, SEED)
    dms.task("orphan", src, dst, "full-load-and-cdc")
    worker = dms.start_worker()
    dms.dms("task", "start", "orphan")
    dms.wait_live("orphan")
    dms.kill(worker)
    started = time.monotonic()
    assert dms.dms("task", "stop", "orphan", "--timeout", "30").stdout.strip() == "task orphan stopped"
    assert time.monotonic() - started < 15  # once the dead worker's lease expires
    execute(src, "UPDATE orders SET t = 'while nobody ran' WHERE id <= 10")
    dms.start_worker()
    dms.dms("task", "start", "orphan", "--type", "resume-processing")
    wait_for(lambda: converged(src, dst, "orders"), 30, "target to equal source after the resume")


def test_source_down_then_back_loses_nothing(dms, pg_target):
    source = PostgresServer(private=True).start(logical=True)  # our own source, so stopping it disturbs no other test
    try:
        src, dst = fresh_db(source), fresh_db(pg_target)
        execute(src, ORDERS, SEED)
        dms.start_live("srcdown", src, dst, settings=QUICK_RETRY)
        execute(src, "UPDATE orders SET t = 'before the outage' WHERE id <= 100")
        source.pause()
        time.sleep(5.0)
        source.resume()
        execute(src, "UPDATE orders SET t = 'after the outage' WHERE id > 19900")
        wait_for(lambda: converged(src, dst, "orders"), 90, "target to catch up after the source came back")
        assert dms.describe("srcdown")["Status"] == "running"
        assert "transient_error" in dms.worker_log(0)
    finally:
        source.stop()


def test_cdc_start_position_before_capture_began_is_refused(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ORDERS)
    dms.endpoint("early-src", "source", src)
    dms.endpoint("early-dst", "target", dst)
    mappings = dms.tmp / "early.json"
    mappings.write_text('{"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"1","rule-action":"include",'
                        '"object-locator":{"schema-name":"public","table-name":"orders"}}]}')
    for position, says in (("0/10", "only created when it starts"), ("yesterday", "is not a PostgreSQL LSN")):
        proc = dms.dms("task", "create", "early", "--source", "early-src", "--target", "early-dst", "--instance",
                       dms.instance, "--migration-type", "cdc", "--table-mappings", str(mappings),
                       "--cdc-start-position", position, check=False)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert "early" not in dms.dms("task", "list").stdout
    with psycopg2.connect(src) as conn, conn.cursor() as cur:  # nothing left pinning the source's WAL
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dms_early'")
        assert cur.fetchone()[0] == 0
    conn.close()
