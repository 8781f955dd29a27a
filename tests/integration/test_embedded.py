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
