"""The embedded mode (no DMS_REDIS_URL: a private Redis, the task run by `dms task start` itself) and the Redis
mode (a shared Redis, a separate `dms worker`) run the same scenario to the same results."""

from __future__ import annotations

import pytest
from dms_env import DmsEnv, Writer, converged, execute, wait_for

from .test_pg_to_pg import ORDERS, orders_rows

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_full_load_and_cdc_with_writes_gives_the_same_results_in_both_modes(mode, request, tmp_path, src, dst):
    redis_url = None if mode == "embedded" else request.getfixturevalue("redis_server").url
    dms = DmsEnv(tmp_path, redis_url)
    try:
        execute(src, ORDERS, orders_rows(20_000))
        name = f"same-{mode}-{dms.suffix}"
        dms.task(name, src, dst, "full-load-and-cdc")
        if mode == "redis":
            dms.start_worker()
        writer = Writer(src, "orders", 30_000)
        writer.start()
        dms.start(name)
        dms.wait_live(name)
        made = writer.stop()
        execute(src, "UPDATE orders SET t = 'after the load' WHERE id <= 50")
        wait_for(lambda: converged(src, dst, "orders"), 60, "target to equal source")
        assert made["insert"] > 10 and made["delete"] > 10, made
        wait_for(lambda: dms.stats(name)["public.orders"]["Updates"] >= 50, 20, "the changes to be counted")
        stats = dms.stats(name)["public.orders"]
        assert stats["FullLoadRows"] >= 20_000 - made["delete"] and stats["Inserts"] >= 1
        assert stats["TableState"] == "Table completed"
        if mode == "embedded":
            out = dms.interrupt(name)
            assert f"task {name} stopped" in out and "ongoing-replication" in out
        else:
            dms.dms("task", "stop", name)
        assert dms.describe(name)["Status"] == "stopped"
        # resume picks up what changed while stopped, in either mode
        execute(src, "DELETE FROM orders WHERE id <= 10")
        dms.start(name)
        wait_for(lambda: converged(src, dst, "orders"), 60, "the resumed task to apply the deletes")
        if mode == "embedded":
            dms.interrupt(name)
        else:
            dms.dms("task", "stop", name)
    finally:
        dms.close()


def test_one_catalog_two_redis_each_task_is_read_where_it_ran(tmp_path, redis_server):
    """The embedded mode and a fleet share the catalog, not the Redis: neither shows the other's task as new,
    failed or free to start twice."""
    import sqlite3

    from dms_env import SQLITE

    emb, srv = DmsEnv(tmp_path, None), DmsEnv(tmp_path, redis_server.url)
    try:
        src = tmp_path / "src.db"
        with sqlite3.connect(src) as db:
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, t TEXT)")
            db.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(1, 51)])
        done = f"homes-{emb.suffix}"
        emb.task(done, SQLITE + str(src), SQLITE + str(tmp_path / "dst1.db"), "full-load")
        emb.dms("task", "start", done)  # no worker: runs here until its full load ends
        assert emb.describe(done)["Status"] == "stopped"
        # the fleet's CLI reads it in the embedded Redis: stopped, not ready (new) nor failed (vanished)
        assert srv.describe(done)["Status"] == "stopped"
        assert srv.stats(done)["main.items"]["FullLoadRows"] == 50
        listed = {t["ReplicationTaskIdentifier"]: t["Status"] for t in srv.json("task", "list")["ReplicationTasks"]}
        assert listed[done] == "stopped"

        live = f"homes-live-{emb.suffix}"
        srv.task(live, SQLITE + str(src), SQLITE + str(tmp_path / "dst2.db"), "cdc")
        srv.start_worker()
        srv.dms("task", "start", live)
        srv.wait_status(live, "running")
        assert emb.describe(live)["Status"] == "running"
        refused = emb.dms("task", "start", live, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip() == (f"error: task {live} is running on the Redis at {redis_server.url}: "
                                          f"set DMS_REDIS_URL to {redis_server.url} and stop it there first")
        srv.dms("task", "stop", live)
    finally:
        srv.close()
        emb.close()
