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
    refused = dms.dms("task", "reload-tables", "reloading", "--table", "public.ra", "--validate-only", check=False)
    assert refused.returncode == 2 and "EnableValidation is off" in refused.stderr
    dms.dms("task", "stop", "reloading")
    refused = dms.dms("task", "reload-tables", "reloading", "--table", "public.ra", check=False)
    assert refused.returncode == 2 and "task reloading is stopped: tables are reloaded in a running task" in \
        refused.stderr


def test_validate_only_revalidates_without_touching_the_target(dms, src, dst):
    execute(src, TABLE.format("va"), TABLE.format("vb"), SEED.format("va").replace("20000", "500"),
            SEED.format("vb").replace("20000", "50"))
    validation = {"EnableValidation": True, "FailureMaxCount": 2}
    dms.start_live("revalidating", src, dst, settings={"ValidationSettings": validation})

    def verdicts(since: float = 0) -> dict[str, dict] | None:
        """The tables' statistics once every validation begun after ``since`` has ended (polled in Redis, read
        through `dms task stats` once there)."""
        raw = {t: dms.state.table_stats("revalidating", t) for t in ("public.va", "public.vb")}
        if any(r.get("ValidationState") in ("Pending validation", "Pending revalidation", "Pending records")
               for r in raw.values()) or float(raw["public.va"].get("ValidationStartTime") or 0) <= since:
            return None
        return dms.stats("revalidating")

    first = wait_for(verdicts, 90, "the first validation")
    assert first["public.va"]["ValidationState"] == "Validated"
    # the target goes wrong behind DMS's back; a revalidation must see it and leave it as it is
    execute(dst, "UPDATE va SET t = 'tampered' WHERE id = 7", "DELETE FROM va WHERE id = 9")
    out = dms.dms("task", "reload-tables", "revalidating", "--table", "public.va", "--validate-only").stdout
    assert "public.va: validation queued" in out
    assert dms.state.table_stats("revalidating", "public.va")["ValidationState"] in (
        "Pending revalidation", "Pending records", "Mismatched records")  # the worker may be that quick
    after = wait_for(lambda: verdicts(first["public.va"]["ValidationEndTime"]), 90, "the revalidation to end")
    va = after["public.va"]
    assert (va["ValidationState"], va["ValidationFailedRecords"]) == ("Mismatched records", 2)
    assert "7" in va["ValidationStateDetails"] and "missing in target: [9]" in va["ValidationStateDetails"]
    # nothing was loaded again: the damaged rows stay damaged, the load's statistics are the first load's
    assert rows(dst, "va WHERE id IN (7, 9)") == [(7, 7, "tampered", 3.5)]
    assert len(rows(dst, "va")) == 499
    for key in ("FullLoadRows", "FullLoadStartTime", "FullLoadEndTime", "TableState", "FullLoadReloaded"):
        assert va[key] == first["public.va"][key], key
    assert va["FullLoadReloaded"] is False
    assert after["public.vb"]["ValidationEndTime"] == first["public.vb"]["ValidationEndTime"]  # only va validated
    # row 7 repaired by hand: the next revalidation finds only 9 missing; the 2 records failed before count no
    # more against FailureMaxCount (2), which 2 + 1 would exceed. CDC went on all along.
    execute(dst, "UPDATE va SET t = 'row 7' WHERE id = 7")
    execute(src, "INSERT INTO vb VALUES (51, 1, 'new', 1)")
    wait_for(lambda: converged(src, dst, "vb"), 60, "vb's change to replicate")
    dms.dms("task", "reload-tables", "revalidating", "--table", "public.va", "--validate-only")
    again = wait_for(lambda: verdicts(va["ValidationEndTime"]), 90, "the second revalidation to end")
    assert (again["public.va"]["ValidationState"], again["public.va"]["ValidationFailedRecords"]) == (
        "Mismatched records", 1)
    assert "missing in target: [9]" in again["public.va"]["ValidationStateDetails"]
    assert rows(dst, "va WHERE id IN (7, 9)") == [(7, 7, "row 7", 3.5)]

