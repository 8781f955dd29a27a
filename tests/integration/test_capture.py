"""A task's replication slot on a real PostgreSQL: start positions it cannot serve are refused, a slot that lost
its WAL fails the task at once, and the WAL a slot keeps is shown, warned about and cleaned up."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import psycopg2
import pytest
from dms_env import converged, execute, wait_for
from services import PostgresServer, fresh_db

pytestmark = pytest.mark.integration

ITEMS = "CREATE TABLE items (id int PRIMARY KEY, note text)"
SEED = "INSERT INTO items SELECT g, 'seed' FROM generate_series(1, 100) g"
ONE_TABLE = {"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
                        "object-locator": {"schema-name": "public", "table-name": "items"}}]}
KEEP = "32MB"  # the slot WAL limit of this module's own server: two WAL switches and a checkpoint pass it


@pytest.fixture(scope="module")
def small_wal() -> Iterator[PostgresServer]:
    """A source of our own, with a small max_slot_wal_keep_size, that tests may stop and start again."""
    server = PostgresServer(private=True).start(settings={"max_slot_wal_keep_size": KEEP})
    try:
        yield server
    finally:
        server.stop()


def one(url: str, sql: str, args: tuple = ()) -> object:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


def source_endpoint(dms, name: str, url: str, extra: str = "") -> str:
    u = re.match(r"postgresql://(\w+):(\w+)@([\d.]+):(\d+)/(\w+)", url)
    assert u, url
    dms.dms("endpoint", "create", name, "--type", "source", "--engine", "postgres", "--host", u[3], "--port", u[4],
            "--database", u[5], "--user", u[1], "--password", u[2], *(["--extra", extra] if extra else []))
    return name


def create(dms, name: str, source: str, target: str, migration_type: str = "cdc", *extra: str,
           check: bool = True):
    mappings = dms.tmp / f"{name}.json"
    mappings.write_text(json.dumps(ONE_TABLE))
    return dms.dms("task", "create", name, "--source", source, "--target", target, "--instance", dms.instance,
                   "--migration-type", migration_type, "--table-mappings", str(mappings), *extra, check=check)


def stopped_after_loading(dms, name: str, source_url: str, target_url: str, extra: str = "") -> None:
    """A full-load-and-cdc task on endpoints of its own, run until live, then stopped: its slot stays."""
    source_endpoint(dms, f"{name}src", source_url, extra)
    dms.endpoint(f"{name}dst", "target", target_url)
    create(dms, name, f"{name}src", f"{name}dst", "full-load-and-cdc")
    dms.start_worker()
    dms.dms("task", "start", name)
    dms.wait_live(name)
    dms.dms("task", "stop", name)


def wal_switches(url: str, count: int) -> None:
    """Fill ``count`` WAL segments (each switch ends one), so a slot that does not read falls behind."""
    for _ in range(count):  # a switch right after another is a no-op: a message in between makes each count
        execute(url, "SELECT pg_logical_emit_message(false, 'dms-test', 'filler')", "SELECT pg_switch_wal()")


def error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_positions_beyond_the_wal_before_the_slot_or_garbage_are_refused_at_create(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ITEMS, SEED, "CREATE PUBLICATION pos_pub FOR TABLE items")
    slot = f"pos_slot_{dms.suffix}"
    execute(src, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')",
            "INSERT INTO items VALUES (1000, 'read by someone else')")
    execute(src, f"SELECT pg_replication_slot_advance('{slot}', pg_current_wal_lsn())")
    confirmed = one(src, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    source_endpoint(dms, "own", src)
    source_endpoint(dms, "named", src, f"slotName={slot};publicationName=pos_pub")
    dms.endpoint("posdst", "target", dst)
    refusals = [
        ("own", "FFFFFFFF/FFFFFFFF", "is ahead of the end of the WAL"),
        ("named", "FFFFFFFF/FFFFFFFF", "is ahead of the end of the WAL"),
        ("own", "garbage", "is not a PostgreSQL LSN"),
        ("own", "0/ZZZ", "is not a PostgreSQL LSN"),
        ("own", "checkpoint:garbage", "is not a PostgreSQL LSN"),
        ("own", "0/10", "only created when it starts"),  # the task's own slot cannot reach back
        ("named", "0/10", f"before {confirmed}, the oldest position replication slot {slot}"),
    ]
    for endpoint, position, says in refusals:
        proc = create(dms, "cap-pos", endpoint, "posdst", "cdc", "--cdc-start-position", position, check=False)
        assert proc.returncode == 2, (position, proc.stderr)
        assert says in error_line(proc), (position, proc.stderr)
    assert "cap-pos" not in dms.dms("task", "list").stdout
    # Garbage is refused even when the source cannot be asked (nothing listens on its port).
    dms.dms("endpoint", "create", "away", "--type", "source", "--engine", "postgres", "--port", "1",
            "--database", "app", "--user", "dms", "--password", "dms")
    proc = create(dms, "cap-pos", "away", "posdst", "cdc", "--cdc-start-position", "0/ZZZ", check=False)
    assert proc.returncode == 2 and "is not a PostgreSQL LSN" in error_line(proc)
    # A position the slot still holds is taken; the slot was not moved by any of the above.
    create(dms, "cap-pos", "named", "posdst", "cdc", "--cdc-start-position", confirmed)
    assert one(src, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
               (slot,)) == confirmed
    assert one(src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dms_pos'") == 0
    dms.dms("task", "delete", "cap-pos")
    execute(src, f"SELECT pg_drop_replication_slot('{slot}')")


def test_start_refuses_a_position_beyond_the_wal_and_leaves_the_slot_alone(dms, small_wal, pg_target):
    src, dst = fresh_db(small_wal), fresh_db(pg_target)
    execute(src, ITEMS, "CREATE PUBLICATION far_pub FOR TABLE items")
    slot = f"far_slot_{dms.suffix}"
    execute(src, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    source_endpoint(dms, "farsrc", src, f"slotName={slot};publicationName=far_pub")
    dms.endpoint("fardst", "target", dst)
    before = one(src, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    small_wal.pause()  # defined while the source is away: only the spelling can be checked
    try:
        proc = create(dms, "far", "farsrc", "fardst", "cdc", "--cdc-start-position", "FFFFFFFF/FFFFFFFF")
    finally:
        small_wal.resume()
    assert "rules and start position not checked against source farsrc" in proc.stderr
    dms.start_worker()
    proc = dms.dms("task", "start", "far", check=False)
    assert proc.returncode == 2
    assert "CDC start position FFFFFFFF/FFFFFFFF is ahead of the end of the WAL" in error_line(proc)
    execute(src, "INSERT INTO items VALUES (1, 'after the refused start')")
    time.sleep(2)  # a worker that had started would have read and acknowledged by now
    assert dms.describe("far")["Status"] == "ready"
    assert one(src, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
               (slot,)) == before
    execute(src, f"SELECT pg_drop_replication_slot('{slot}')")


def test_a_slot_that_lost_its_wal_fails_the_task_at_once_and_reload_target_cures_it(dms, small_wal, pg_target):
    src, dst = fresh_db(small_wal), fresh_db(pg_target)
    execute(src, ITEMS, SEED)
    worker = dms.start_worker()
    dms.start_live("lost", src, dst, mappings=ONE_TABLE)
    dms.dms("task", "stop", "lost")
    wal_switches(src, 4)  # written while the task is stopped: more than max_slot_wal_keep_size
    execute(src, "CHECKPOINT")
    assert one(src, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'dms_lost'") == "lost"

    started = time.monotonic()
    proc = dms.dms("task", "start", "lost", check=False)
    took = time.monotonic() - started
    line = error_line(proc)
    assert proc.returncode == 1, proc.stderr
    task = dms.describe("lost")
    print(f"\nrefused in {took:.2f}s: {line}")
    assert (task["Status"], task["StopReason"]) == ("failed", "Stop Reason FATAL_ERROR")
    for says in ("replication slot dms_lost", "was invalidated", "lost the changes",
                 "dms task start lost --type reload-target"):
        assert says in task["LastFailureMessage"] and says in line, (says, task["LastFailureMessage"])
    assert took < 10

    dms.dms("task", "start", "lost", "--type", "reload-target")  # the cure the message names
    dms.wait_live("lost")
    execute(src, "UPDATE items SET note = 'after the reload' WHERE id <= 10")
    wait_for(lambda: converged(src, dst, "items"), 30, "the reloaded task to apply changes again")

    # The same loss while the task runs, its worker gone: the next worker fails the task at once too.
    dms.kill(worker)
    wait_for(lambda: not one(src, "SELECT active FROM pg_replication_slots WHERE slot_name = 'dms_lost'"), 20,
             "the dead worker's walsender to let the slot go")
    wal_switches(src, 4)
    execute(src, "CHECKPOINT")
    assert one(src, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'dms_lost'") == "lost"
    started = time.monotonic()
    dms.start_worker()
    failed = dms.wait_status("lost", "failed", timeout=60)
    print(f"running task failed {time.monotonic() - started:.1f}s after a worker came back")
    assert failed["StopReason"] == "Stop Reason FATAL_ERROR"
    assert "was invalidated" in failed["LastFailureMessage"]
    assert "--type reload-target" in failed["LastFailureMessage"]


def test_describe_and_list_show_the_wal_a_stopped_task_keeps_and_warn_above_the_threshold(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, ITEMS, SEED)
    stopped_after_loading(dms, "held", src, dst, "retainedWalWarnMB=8")
    wal_switches(src, 2)
    lag = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots " \
          "WHERE slot_name = 'dms_held'"
    low = one(src, lag)
    task = dms.describe("held")
    high = one(src, lag)
    print(f"\nkept {task['SlotRetainedWalBytes']} bytes (the server says {low} .. {high})")
    assert low <= task["SlotRetainedWalBytes"] <= high and low > 16 * 1024 * 1024
    (warning,) = task["Warnings"]
    for says in ("replication slot dms_held keeps", "MiB of the source's WAL for task held", "over 8.0 MiB",
                 "retainedWalWarnMB", "`dms task start held`", "`dms task delete held`"):
        assert says in warning, (says, warning)
    plain = dms.dms("task", "describe", "held").stdout
    assert re.search(r"^retained\s+\d+\.\d MiB of WAL \(replication slot dms_held\)$", plain, re.M), plain
    assert f"warning: {warning}" in plain
    listed = dms.dms("task", "list")
    assert re.search(r"^held\s+stopped\s+full-load-and-cdc\s+\d+\.\d MiB WAL\s+heldsrc -> helddst$",
                     listed.stdout, re.M), listed.stdout
    assert f"warning: {warning}" in listed.stderr
    (entry,) = dms.json("task", "list")["ReplicationTasks"]
    assert low <= entry["SlotRetainedWalBytes"] <= one(src, lag)

    # Resumed, the task reads the WAL it kept and lets it go: the warning goes with it.
    dms.dms("task", "start", "held")

    def caught_up() -> bool:
        execute(src, "CHECKPOINT")  # logs the running transactions a slot needs to move its restart_lsn on
        return dms.describe("held")["SlotRetainedWalBytes"] < 1024 * 1024

    wait_for(caught_up, 60, "the slot to catch up", interval=1)
    assert not [w for w in dms.describe("held").get("Warnings", []) if "dms_held" in w]


def test_delete_force_names_what_it_left_and_endpoint_test_lists_it(dms, small_wal, pg_target):
    src, dst = fresh_db(small_wal), fresh_db(pg_target)
    execute(src, ITEMS, SEED)
    stopped_after_loading(dms, "left", src, dst)
    small_wal.pause()
    try:
        forced = dms.dms("task", "delete", "left", "--force")
    finally:
        small_wal.resume()
    print(forced.stderr)
    assert "task left deleted" in forced.stdout
    assert "warning: left behind: replication slot dms_left and publication dms_left and event trigger " \
           "opendms_intercept_ddl_left and event trigger opendms_intercept_ddl_left_drop and function " \
           "opendms_intercept_ddl_left and table opendms_ddl_audit_left on endpoint leftsrc" in forced.stderr
    sql = [line.strip() for line in forced.stderr.splitlines() if line.startswith("    ")]
    assert sql == ["SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   "WHERE slot_name = 'dms_left';", 'DROP PUBLICATION IF EXISTS "dms_left";',
                   'DROP EVENT TRIGGER IF EXISTS "opendms_intercept_ddl_left";',
                   'DROP EVENT TRIGGER IF EXISTS "opendms_intercept_ddl_left_drop";',
                   'DROP FUNCTION IF EXISTS "public"."opendms_intercept_ddl_left"();',
                   'DROP TABLE IF EXISTS "public"."opendms_ddl_audit_left";']
    assert one(src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dms_left'") == 1

    tested = dms.dms("endpoint", "test", "leftsrc")
    assert tested.stdout.startswith("OK: connected")
    (orphan,) = [line for line in tested.stderr.splitlines() if "dms_left" in line]
    expected = (r"warning: replication slot dms_left on postgres endpoint leftsrc \(\S+\) belongs to no task of this "
                r"catalog and holds \d+(\.\d)? (bytes|KiB|MiB) of WAL: drop it with "
                r"SELECT pg_drop_replication_slot\('dms_left'\); DROP PUBLICATION \"dms_left\";")
    assert re.fullmatch(expected, orphan), orphan
    execute(src, *sql)  # what delete printed does the job
    assert one(src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dms_left'") == 0
    assert one(src, "SELECT count(*) FROM pg_publication WHERE pubname = 'dms_left'") == 0
    assert one(src, "SELECT count(*) FROM pg_event_trigger WHERE left(evtname, 7) = 'opendms'") == 0
    assert "dms_left" not in dms.dms("endpoint", "test", "leftsrc").stderr
