"""Source transactions arrive whole: the target never shows half of one (DMS's transactional apply)."""

from __future__ import annotations

import json
import random
import threading
import time

import psycopg2
import pytest
from dms_env import converged, execute, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("how", ["held", "streamed", "spilled"])
def test_money_moved_between_tables_is_never_seen_half_moved(dms, pg, pg_target, how):
    """Held: transactions fit a batch. Streamed: with BatchSplitSize 1000 the big ones go to the
    target part by part, into one open target transaction. Spilled: with MemoryLimitTotal at 1 MB
    (500 changes, less than a batch) they spill to Redis. Each way they apply whole."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE checking (id int PRIMARY KEY, balance bigint)",
            "CREATE TABLE savings (id int PRIMARY KEY, balance bigint)",
            "INSERT INTO checking SELECT g, 1000 FROM generate_series(1, 500) g",
            "INSERT INTO savings SELECT g, 1000 FROM generate_series(1, 500) g")
    tuning = {"held": {}, "streamed": {"BatchSplitSize": 1000}, "spilled": {"MemoryLimitTotal": 1}}[how]
    settings = {"ChangeProcessingTuning": tuning}
    name = f"money-{how}"  # tests share one Redis: one task name each
    dms.start_live(name, src, dst, settings=settings)
    stop = threading.Event()
    seen: list[int] = []

    def transfer() -> None:
        rng = random.Random(3)
        conn = psycopg2.connect(src)
        with conn.cursor() as cur:
            while not stop.is_set():
                # Big transactions too: they outlast a flush interval and exceed a batch.
                for _ in range(rng.choice((1, 1, 1, 200, 3000))):
                    a, b, amount = rng.randint(1, 500), rng.randint(1, 500), rng.randint(1, 50)
                    cur.execute("UPDATE checking SET balance = balance - %s WHERE id = %s", (amount, a))
                    cur.execute("UPDATE savings SET balance = balance + %s WHERE id = %s", (amount, b))
                conn.commit()
        conn.close()

    def audit() -> None:
        conn = psycopg2.connect(dst)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT (SELECT sum(balance) FROM checking) + (SELECT sum(balance) FROM savings)")
                seen.append(cur.fetchone()[0])
        conn.close()

    threads = [threading.Thread(target=transfer), threading.Thread(target=audit)]
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(30)
    wait_for(lambda: converged(src, dst, "checking", "savings"), 60, "target to equal source")
    assert len(seen) > 100
    assert set(seen) == {1_000_000}, f"the target showed half-applied transactions: {sorted(set(seen))[:5]}"
    log = dms.worker_log()
    assert (log.count('"event": "cdc_streaming"') > 0) == (how == "streamed")
    assert (log.count('"event": "cdc_spilled"') > 0) == (how == "spilled")
    assert not list(dms.state.r.scan_iter(match=f"dms:task:{name}:spill:*"))  # applied, then dropped


def test_a_backlog_of_small_transactions_goes_in_batches_cut_at_their_ends(dms, pg, pg_target):
    """Caught up after a stop with BatchSplitSize 1000: 40 transactions of 100 changes fill batches
    that are cut where a transaction ends. None of them is larger than a batch, so none streams."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE items (id int PRIMARY KEY, n int)",
            "INSERT INTO items SELECT g, 0 FROM generate_series(1, 4000) g")
    dms.start_live("backlog", src, dst, settings={"ChangeProcessingTuning": {"BatchSplitSize": 1000}})
    dms.dms("task", "stop", "backlog")
    execute(src, "DO $$ BEGIN FOR k IN 1..4000 LOOP UPDATE items SET n = k WHERE id = k; "
                 "IF k % 100 = 0 THEN COMMIT; END IF; END LOOP; END $$")
    dms.start("backlog")
    wait_for(lambda: converged(src, dst, "items"), 60, "target to equal source")

    def logged() -> list[int]:  # a batch is logged once the apply thread is done with it
        return [json.loads(line)["changes"] for line in dms.worker_log().splitlines()
                if '"event": "cdc_applied"' in line]

    batches = wait_for(lambda: sum(b := logged()) == 4000 and b, 30, "every batch to be logged")
    assert '"event": "cdc_streaming"' not in dms.worker_log()
    assert all(n % 100 == 0 for n in batches), batches  # whole transactions only
    assert max(batches) >= 1000  # a batch fills before it goes


def test_batch_apply_gathers_changes_for_batch_apply_timeout_min(dms, pg, pg_target):
    """BatchApplyEnabled with BatchApplyTimeoutMin 2: a change every 0.1 s applies in batches at
    least 2 s apart, not one by one."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE ticks (id int PRIMARY KEY)")
    dms.start_live("batched", src, dst, settings={
        "TargetMetadata": {"BatchApplyEnabled": True},
        "ChangeProcessingTuning": {"BatchApplyTimeoutMin": 2, "BatchApplyTimeoutMax": 30}})
    for i in range(40):
        execute(src, f"INSERT INTO ticks VALUES ({i})")
        time.sleep(0.1)
    wait_for(lambda: converged(src, dst, "ticks"), 30, "every tick on the target")
    applies = [line for line in dms.worker_log().splitlines() if '"event": "cdc_applied"' in line]
    assert 2 <= len(applies) <= 4, len(applies)  # about 5 s of ticks in batches of 2 s
