"""DMS's ReloadTables: one table loads again while writes go on, the others keep replicating, and the
reloaded table ends equal to the source; what DMS refuses is refused in one line."""

from __future__ import annotations

import pytest
from dms_env import Writer, converged, execute, rows, wait_for

pytestmark = pytest.mark.integration

TABLE = "CREATE TABLE {} (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO {} SELECT g, g % 10, 'row ' || g, g * 0.5 FROM generate_series(1, 20000) g"


def test_reload_a_table_while_writes_go_on(dms, src, dst):
    execute(src, TABLE.format("ra"), TABLE.format("rb"), SEED.format("ra"), SEED.format("rb"))
    dms.start_live("reloading", src, dst)
    writers = [Writer(src, "ra", 100_000), Writer(src, "rb", 100_000)]
    for w in writers:
        w.start()
    wait_for(lambda: dms.stats("reloading")["public.rb"]["Inserts"] > 20, 30, "changes to replicate")
    # the target's copy goes wrong behind DMS's back: a reload is the cure
    execute(dst, "DELETE FROM ra WHERE id % 3 = 0", "UPDATE ra SET t = 'damaged' WHERE id % 5 = 0")
    assert len(rows(dst, "ra")) < len(rows(src, "ra"))
    before_b = dms.stats("reloading")["public.rb"]["Inserts"]
    out = dms.dms("task", "reload-tables", "reloading", "--table", "public.ra").stdout
    assert "public.ra: reload queued (was live)" in out
    wait_for(lambda: dms.stats("reloading")["public.ra"]["FullLoadReloaded"]
             and dms.stats("reloading")["public.ra"]["TableState"] == "Table completed", 60, "the reload to end")
    assert dms.stats("reloading")["public.rb"]["Inserts"] > before_b  # rb replicated on meanwhile
    counts = [w.stop() for w in writers]
    assert all(sum(c.values()) > 50 for c in counts), counts
    wait_for(lambda: converged(src, dst, "ra") and converged(src, dst, "rb"), 60, "both tables to equal the source")
    assert dms.describe("reloading")["Status"] == "running"

    refused = dms.dms("task", "reload-tables", "reloading", "--table", "public.nope", check=False)
    assert refused.returncode == 2 and "replicates no table public.nope" in refused.stderr
    dms.dms("task", "stop", "reloading")
    refused = dms.dms("task", "reload-tables", "reloading", "--table", "public.ra", check=False)
    assert refused.returncode == 2 and "task reloading is stopped: tables are reloaded in a running task" in \
        refused.stderr
