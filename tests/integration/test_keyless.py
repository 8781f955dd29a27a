"""A table without a primary key but with REPLICA IDENTITY FULL replicates by its full rows, duplicates
included, as PostgreSQL's own logical replication does; one with no usable identity is refused."""

from __future__ import annotations

import json
import random
import threading
import time

import psycopg2
import pytest
import servers_mariadb as my
from dms_env import converged, execute, rows, table_text, wait_for

pytestmark = pytest.mark.integration

EVENTS = ("CREATE TABLE events (kind text, n int, note text, at date, doc json, big text)",
          "ALTER TABLE events REPLICA IDENTITY FULL")
# 60,000 rows, each in three identical copies (and a few NULLs): duplicates are the hard case.
EVENT_ROWS = ("INSERT INTO events SELECT 'k' || (g % 20000 % 7), g % 20000, "
              "CASE WHEN g % 20000 % 11 = 0 THEN NULL ELSE 'note' END, date '2024-01-01' + (g % 20000) % 300, "
              "json_build_object('g', g % 20000), "
              "CASE WHEN g % 20000 = 5000 THEN repeat('toast', 5000) END FROM generate_series(1, 60000) g")


class _Churn(threading.Thread):
    """Inserts of duplicate rows, updates and deletes of ONE of several equal rows, each committed alone."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopping, self.counts = url, threading.Event(), {"insert": 0, "update": 0, "delete": 0}
        self.rng = random.Random(5)

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.stopping.is_set():
                self.step(cur)
                time.sleep(0.002)
        conn.close()

    def step(self, cur) -> None:
        n = self.rng.randrange(20000)
        one = "ctid = (SELECT ctid FROM events WHERE n = %s LIMIT 1)"
        op = self.rng.choice(["insert", "update", "delete"])
        if op == "insert":  # the same row twice
            cur.execute("INSERT INTO events VALUES ('new', %s, 'dup', date '2024-06-01', '{\"x\": 1}', NULL), "
                        "('new', %s, 'dup', date '2024-06-01', '{\"x\": 1}', NULL)", (n, n))
        elif op == "update":
            cur.execute(f"UPDATE events SET note = 'changed', n = n + 100000 WHERE {one}", (n,))
        else:
            cur.execute(f"DELETE FROM events WHERE {one}", (n,))
        self.counts[op] += cur.rowcount

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.join(30)
        return self.counts


def test_a_keyless_table_with_replica_identity_full_replicates_with_its_duplicates(dms, src, dst):
    execute(src, *EVENTS, EVENT_ROWS)
    dms.task("kl", src, dst, "full-load-and-cdc")
    dms.start_worker()
    churn = _Churn(src)
    churn.start()  # changes during the load: the snapshot must hold exactly those before its position
    dms.dms("task", "start", "kl")
    dms.wait_live("kl", timeout=180)
    assert dms.describe("kl")["ReplicationTaskStats"]["TablesErrored"] == 0, dms.stats("kl")
    time.sleep(1.0)  # and during CDC
    execute(src,
            # both copies of a duplicated row change, one of three copies goes, a TOASTed value stays as it was
            "UPDATE events SET note = 'both' WHERE ctid IN (SELECT ctid FROM events WHERE n = 7 LIMIT 2)",
            "DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE n = 8 LIMIT 1)",
            "UPDATE events SET kind = 'kept-toast' WHERE big IS NOT NULL",
            "INSERT INTO events SELECT * FROM events WHERE n = 9")  # duplicates made by one statement
    counts = churn.stop()
    assert min(counts.values()) > 10, counts
    wait_for(lambda: converged(src, dst, "events"), 60, "target to equal source")
    rows = table_text(dst, "events")  # every row's text, sorted: the same multiset, each duplicate counted
    assert rows == table_text(src, "events")
    # the copies are all there: 40,000 extra copies loaded, less at most one per update or delete since
    # (a machine that loads slowly churns longer: the bound moves with what the churn did)
    assert len(rows) - len(set(rows)) >= 40_000 - counts["update"] - counts["delete"] - 10
    proc = dms.dms("task", "validate", "kl", "--json", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (table,) = json.loads(proc.stdout)["Tables"]
    assert table["ValidationState"] == "Validated" and table["SourceRows"] == table["TargetRows"] == len(rows)
    # a row missing on the target is found, counted once per copy
    execute(dst, "DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE n = 10 LIMIT 1)")
    proc = dms.dms("task", "validate", "kl", "--json", check=False)
    assert proc.returncode == 1
    (table,) = json.loads(proc.stdout)["Tables"]
    assert len(table["MissingInTarget"]) == 1 and table["ValidationFailedRecords"] == 1
    assert dms.describe("kl")["Status"] == "running"


def test_a_keyless_table_without_replica_identity_is_refused_naming_the_cures(dms, src, dst):
    execute(src, "CREATE TABLE loose (a int, b text)", "INSERT INTO loose VALUES (1, 'x'), (1, 'x')")
    dms.task("loose", src, dst, "full-load-and-cdc")
    proc = dms.dms("task", "start", "loose", check=False)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: table(s) public.loose have no primary key and no REPLICA IDENTITY FULL")
    assert 'ALTER TABLE "public"."loose" REPLICA IDENTITY FULL' in line and "define-primary-key" in line


def test_a_keyless_tables_changes_before_its_snapshot_are_not_applied_again_when_the_stream_is_behind(
        dms, src, dst):
    # Changes made after the task's start and before any worker runs: a big transaction of another table,
    # then changes of a small keyless table. The small table's snapshot holds its changes; the change stream,
    # busy with the big transaction (its 300,000 changes go to that table's cache), reads them only after
    # the small table has loaded and gone live with an empty cache. They must be skipped there too.
    execute(src, "CREATE TABLE big (id bigint PRIMARY KEY, t text)",
            "INSERT INTO big SELECT g, 'x' FROM generate_series(1, 300000) g",
            "CREATE TABLE small (k text, n int)", "ALTER TABLE small REPLICA IDENTITY FULL",
            "INSERT INTO small SELECT 'k', g % 50 FROM generate_series(1, 200) g")
    dms.task("behind", src, dst, "full-load-and-cdc")
    dms.dms("task", "start", "behind")  # the capture starts here; no worker yet
    execute(src, "UPDATE big SET t = 'y'")  # one transaction of 300,000 changes, read first
    for i in range(100):  # each committed alone
        execute(src, f"UPDATE small SET n = n + 1000 WHERE ctid = (SELECT ctid FROM small WHERE n = {i % 50} LIMIT 1)",
                f"INSERT INTO small VALUES ('new', {i})")
    dms.start_worker(concurrency=3)
    dms.wait_live("behind", timeout=120)
    execute(src, "UPDATE small SET k = 'live' WHERE n = 1000")  # and one after, live
    wait_for(lambda: converged(src, dst, "small", "big"), 60, "target to equal source")
    assert "apply_conflict" not in dms.worker_log()  # no change met a target that had it already


def test_a_keyless_mariadb_tables_changes_before_its_snapshot_are_not_applied_again(dms, mariadb_db, dst):
    # The same race from a MariaDB source, whose keyless snapshot knows its binlog position.
    db = mariadb_db.rsplit("/", 1)[1]
    my.execute(mariadb_db, "CREATE TABLE big (id bigint PRIMARY KEY, t varchar(8))",
               "INSERT INTO big SELECT seq, 'x' FROM seq_1_to_300000",
               "CREATE TABLE small (k varchar(8), n int)",
               "INSERT INTO small SELECT 'k', seq % 50 FROM seq_1_to_200")
    dms.task("mybehind", mariadb_db, dst, "full-load-and-cdc")
    dms.dms("task", "start", "mybehind")  # the capture starts here; no worker yet
    my.execute(mariadb_db, "UPDATE big SET t = 'y'")  # one transaction of 300,000 changes, read first
    for i in range(100):  # each committed alone
        my.execute(mariadb_db, f"UPDATE small SET n = n + 1000 WHERE n = {i % 50} LIMIT 1",
                   f"INSERT INTO small VALUES ('new', {i})")
    dms.start_worker(concurrency=3)
    dms.wait_live("mybehind", timeout=120)
    my.execute(mariadb_db, "UPDATE small SET k = 'live' WHERE n = 1000")  # and one after, live

    def same() -> bool:
        source = sorted(my.query(mariadb_db, "SELECT k, n FROM small"))
        try:
            return sorted(rows(dst, f'(SELECT k, n FROM "{db}"."small") s')) == source
        except psycopg2.Error:
            return False

    wait_for(same, 60, "the keyless table on the target to equal the source's")
    assert "apply_conflict" not in dms.worker_log()  # no change met a target that had it already
