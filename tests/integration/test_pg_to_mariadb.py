"""PostgreSQL -> MariaDB through the real `dms` CLI and real workers: schema conversion, LOAD DATA full load,
set-based CDC with writes during the load, and `dms task validate` comparing the two engines by value."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from dms_env import SELECT_ALL, Writer, execute, wait_for
from servers_mariadb import query

from .test_pg_to_pg import ORDERS, TYPED, orders_rows, typed_rows

pytestmark = pytest.mark.integration


def _identical(dms, task: str) -> bool:
    proc = dms.dms("task", "validate", task, check=False)
    return proc.returncode == 0 and "source and target are identical" in proc.stdout


def test_full_load_and_cdc_with_writes_during_the_load_validates_by_value(dms, src, mariadb_db):
    execute(src, ORDERS, orders_rows(5_000), TYPED, typed_rows(1_000))
    dms.task("pgmy", src, mariadb_db, "full-load-and-cdc")
    dms.start_worker()
    writer = Writer(src, "orders", 100_000)
    writer.start()
    time.sleep(0.3)
    dms.dms("task", "start", "pgmy")
    wait_for(lambda: dms.describe("pgmy")["Phase"] != "full-load", 120, "the full load to end")
    execute(src, "UPDATE typed SET t = 'after', j = '{\"x\": 1}', ts = '2024-06-30 12:00:00+05:30' WHERE id <= 50",
            "DELETE FROM typed WHERE id > 950", "UPDATE typed SET id = -id WHERE id BETWEEN 200 AND 210")
    counts = writer.stop()
    assert counts["insert"] > 10 and counts["rekey"] > 2 and counts["delete"] > 2, counts
    dms.wait_live("pgmy")
    wait_for(lambda: _identical(dms, "pgmy"), 60, "`dms task validate` to find the engines' tables identical")

    # By value on the target's side too: what MySQL's own types hold.
    (count,), = query(mariadb_db, "SELECT COUNT(*) FROM typed")
    assert count == 950
    (n, b, ts, u, j, ia), = query(mariadb_db, "SELECT n, b, ts, u, j, ia FROM typed WHERE id = 1")
    assert (n, b, str(ts), u) == (Decimal("1.2345"), 0, "2024-06-30 06:30:00", "c4ca4238-a0b9-2382-0dcc-509a6f75849b")
    assert json.loads(j) == {"x": 1} and ia == "{1,2,NULL}"
    (moved,), = query(mariadb_db, "SELECT COUNT(*) FROM typed WHERE id BETWEEN -210 AND -200")
    assert moved == 11
    kinds = dict(query(mariadb_db, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'typed'"))
    assert (kinds["n"], kinds["ts"], kinds["u"], kinds["j"], kinds["by"]) == (
        "decimal(14,4)", "datetime(6)", "char(36)", "longtext", "longblob")
    assert dms.describe("pgmy")["Status"] == "running"


def test_dry_run_names_the_lossy_conversions(dms, src, mariadb_db, tmp_path):
    execute(src, "CREATE TABLE odd (id bigint PRIMARY KEY, a integer[], r int4range, i interval, n numeric, "
                 "tz timestamptz, v varchar(20))")
    source = dms.endpoint("odd-src", "source", src)
    target = dms.endpoint("odd-dst", "target", mariadb_db)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(SELECT_ALL))
    out = dms.dms("task", "create", "odd", "--source", source, "--target", target, "--instance", dms.instance,
                  "--migration-type", "full-load",
                  "--table-mappings", str(rules), "--dry-run").stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ")}
    assert "-> longtext" in lines["a"] and "MySQL has no arrays" in lines["a"]
    assert "int4range -> STRING(255) -> varchar(255)" in lines["r"] and "range" in lines["r"]
    assert "interval -> STRING(128) -> varchar(128)" in lines["i"] and "lossy" in lines["i"]
    assert "numeric -> NUMERIC -> decimal(65,30)" in lines["n"] and "without precision" in lines["n"]
    assert "-> datetime(6)" in lines["tz"] and "offset is dropped" in lines["tz"]
    assert "character varying(20) -> WSTRING(20) -> varchar(20)" in lines["v"] and "lossy" not in lines["v"]
