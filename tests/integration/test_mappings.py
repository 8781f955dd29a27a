"""DMS table mappings and task settings on real PostgreSQL: filters, renames and transformations in
full load and CDC alike, LOB truncation counted, rules checked at `dms task create`, error policies."""

from __future__ import annotations

import json

import psycopg2
import pytest
from dms_env import execute, rows, table_text, wait_for

pytestmark = pytest.mark.integration

MAPPINGS = {"rules": [
    {"rule-type": "selection", "rule-id": "1", "rule-name": "all", "rule-action": "include",
     "object-locator": {"schema-name": "public", "table-name": "%"}},
    {"rule-type": "selection", "rule-id": "2", "rule-name": "no-tmp", "rule-action": "exclude",
     "object-locator": {"schema-name": "public", "table-name": "tmp[_]%"}},
    {"rule-type": "selection", "rule-id": "003", "rule-name": "eu", "rule-action": "include", "load-order": "9",
     "object-locator": {"schema-name": "public", "table-name": "orders"}, "parallel-load": None,
     "filters": [{"filter-type": "source", "column-name": "region",
                  "filter-conditions": [{"filter-operator": "eq", "value": "eu"}]},
                 {"filter-type": "source", "column-name": "total",
                  "filter-conditions": [{"filter-operator": "gte", "value": 10}]}]},
    {"rule-type": "transformation", "rule-id": 4, "rule-name": "4", "rule-target": "schema", "rule-action": "rename",
     "object-locator": {"schema-name": "public"}, "value": "app"},
    {"rule-type": "transformation", "rule-id": "5", "rule-name": "5", "rule-target": "table",
     "rule-action": "add-prefix", "object-locator": {"schema-name": "public", "table-name": "orders"},
     "value": "eu_"},
    {"rule-type": "transformation", "rule-id": "6", "rule-name": "6", "rule-target": "column", "rule-action": "rename",
     "object-locator": {"schema-name": "public", "table-name": "orders", "column-name": "total"}, "value": "amount",
     "old-value": None},
    {"rule-type": "transformation", "rule-id": "7", "rule-name": "7", "rule-target": "column",
     "rule-action": "remove-column",
     "object-locator": {"schema-name": "public", "table-name": "orders", "column-name": "secret"}},
    {"rule-type": "transformation", "rule-id": "8", "rule-name": "8", "rule-target": "column",
     "rule-action": "add-column", "object-locator": {"schema-name": "public", "table-name": "orders"},
     "value": "op", "expression": "$AR_H_OPERATION", "data-type": {"type": "string", "length": "10"}},
]}
SETTINGS = {"TargetMetadata": {"LobMaxSize": 1, "LimitedSizeLobMode": True},
            "Logging": {"EnableLogging": True}}


def test_filtered_renamed_trimmed_prefixed_table_in_full_load_and_cdc(dms, src, dst):
    execute(src, "CREATE TABLE orders (id int PRIMARY KEY, region text, total int, secret text, note text)",
            "INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'pw' || g, 'n' "
            "FROM generate_series(1, 40) g",
            "UPDATE orders SET note = repeat('x', 3000) WHERE id = 20",
            "CREATE TABLE tmp_scratch (id int PRIMARY KEY)", "CREATE TABLE plain (id int PRIMARY KEY)")
    dms.start_live("mapped", src, dst, mappings=MAPPINGS, settings=SETTINGS)
    execute(src, "INSERT INTO orders VALUES (100, 'eu', 50, 's', 'new'), (101, 'us', 50, 's', 'filtered out')",
            "UPDATE orders SET region = 'us' WHERE id = 12",  # leaves the filter: gone from the target
            "UPDATE orders SET total = total + 1 WHERE id = 30",
            "UPDATE orders SET id = 300 WHERE id = 32",  # re-keyed, stays in
            "DELETE FROM orders WHERE id = 34", "INSERT INTO plain VALUES (1)")

    def expected() -> list[tuple]:
        return [(i, r, t, n[:1024]) for i, r, t, _s, n in rows(src, "orders")
                if r == "eu" and t >= 10]

    def target(table: str = "app.eu_orders") -> list[tuple]:
        try:
            return [r[:4] for r in rows(dst, table)]
        except psycopg2.Error:
            return []

    wait_for(lambda: target() == expected(), 60, "the mapped table to converge")
    wait_for(lambda: target("app.plain") == [(1,)], 30, "the plain table")
    columns = [r[3] for r in rows(dst, "information_schema.columns WHERE table_name = 'eu_orders'", "ordinal_position")]
    assert columns == ["id", "region", "amount", "note", "op"]  # secret removed, total renamed, op added
    ops = dict((r[0], r[4]) for r in rows(dst, "app.eu_orders"))
    assert ops[10] == "INSERT" and ops[100] == "INSERT" and ops[30] == "UPDATE"
    assert len(next(r for r in rows(dst, "app.eu_orders") if r[0] == 20)[3]) == 1024  # limited LOB mode
    stats = wait_for(lambda: (s := dms.stats("mapped"))["public.orders"]["Inserts"] >= 1 and s, 30, "stats")
    assert "public.tmp_scratch" not in stats
    assert stats["public.orders"]["FullLoadRows"] == 16  # even ids 10..40: the filter ran in the source's query
    assert stats["public.orders"]["LobTruncations"] == 1
    # Validation compares through the same rules, but with what the source holds: the cut row differs, as such.
    proc = dms.dms("task", "validate", "mapped", check=False)
    assert proc.returncode == 1
    assert "1 row differs because LimitedSizeLobMode cut values over LobMaxSize=1 KB: [20]" in proc.stdout
    assert "different:" not in proc.stdout


def test_rules_are_checked_at_create_with_the_rule_id(dms, src, dst):
    execute(src, "CREATE TABLE orders (id int PRIMARY KEY, region text, total int, secret text)")
    bad = json.loads(json.dumps(MAPPINGS))
    bad["rules"][2]["filters"][1]["column-name"] = "totl"
    path = dms.tmp / "bad.json"
    path.write_text(json.dumps(bad))
    src_ep = dms.endpoint("src-check", "source", src)
    dst_ep = dms.endpoint("dst-check", "target", dst)
    args = ["task", "create", "checked", "--source", src_ep, "--target", dst_ep, "--instance", dms.instance,
            "--migration-type", "full-load", "--table-mappings", str(path)]
    proc = dms.dms(*args, check=False)
    assert proc.returncode == 2
    assert "selection rule 3 filters on column 'totl'" in proc.stderr
    path.write_text(json.dumps({"rules": MAPPINGS["rules"][:5]}))
    settings = dms.tmp / "settings.json"
    settings.write_text(json.dumps({"Logging": {"EnableLogging": True}, "FullLoadSettings": {"CommitRate": "500"}}))
    plan = dms.dms(*args, "--settings", str(settings), "--dry-run")
    assert "public.orders -> app.eu_orders  key (id)" in plan.stdout
    assert "filter: region eq eu" in plan.stdout
    assert "warning: Logging.EnableLogging = true has no effect" in plan.stderr
    assert "checked" not in dms.dms("task", "list").stdout  # a dry run defines nothing


def _policy_task(dms, src, dst, name: str, errors: dict) -> None:
    execute(src, "CREATE TABLE good (id int PRIMARY KEY, v int)", "CREATE TABLE bad (id int PRIMARY KEY, v int)",
            "INSERT INTO good VALUES (1, 1)", "INSERT INTO bad VALUES (1, 1)")
    dms.start_live(name, src, dst, settings={"ErrorBehavior": errors})
    execute(dst, "ALTER TABLE bad ADD CONSTRAINT small CHECK (v < 100)")  # the target refuses what comes next
    execute(src, "BEGIN; INSERT INTO good VALUES (2, 2); INSERT INTO bad VALUES (2, 500); "
                 "INSERT INTO bad VALUES (3, 3); COMMIT")


def test_log_error_skips_the_change_into_apply_exceptions_and_the_table_goes_on(dms, src, dst):
    _policy_task(dms, src, dst, "logerr", {})  # DataErrorPolicy LOG_ERROR is DMS's default
    wait_for(lambda: table_text(dst, "bad") == ["(1,1)", "(3,3)"], 30, "the good changes of bad to apply")
    (exc,) = rows(dst, "awsdms_apply_exceptions")
    assert exc[:3] == ("logerr", "public", "bad")
    assert "(2, 500)" in exc[4] and "small" in exc[5]
    execute(src, "INSERT INTO bad VALUES (4, 4)")
    wait_for(lambda: table_text(dst, "bad")[-1] == "(4,4)", 30, "bad to keep replicating")
    assert dms.stats("logerr")["public.bad"]["TableState"] == "Table completed"


def test_stop_task_policy_fails_the_task(dms, src, dst):
    _policy_task(dms, src, dst, "stoperr", {"DataErrorPolicy": "STOP_TASK"})
    task = dms.wait_status("stoperr", "failed", timeout=60)
    assert "DataErrorPolicy is STOP_TASK" in task["LastFailureMessage"] and "small" in task["LastFailureMessage"]
    assert table_text(dst, "bad") == ["(1,1)"]


def test_table_error_policy_stop_task_fails_the_task(dms, src, dst):
    execute(src, "CREATE TYPE mood AS ENUM ('sad', 'happy')", "CREATE TABLE people (id int PRIMARY KEY, feeling mood)",
            "INSERT INTO people VALUES (1, 'happy')")
    dms.task("tablestop", src, dst, "full-load", settings={"ErrorBehavior": {"TableErrorPolicy": "STOP_TASK"}})
    dms.start_worker()
    dms.dms("task", "start", "tablestop")
    task = dms.wait_status("tablestop", "failed", timeout=60)
    assert "TableErrorPolicy is STOP_TASK" in task["LastFailureMessage"] and "mood" in task["LastFailureMessage"]


def test_stop_after_cached_changes_applied(dms, src, dst):
    execute(src, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t SELECT generate_series(1, 100)")
    dms.task("hook", src, dst, "full-load-and-cdc", settings={"FullLoadSettings": {"StopTaskCachedChangesApplied": 1}})
    dms.start_worker()
    dms.dms("task", "start", "hook")
    task = dms.wait_status("hook", "stopped", timeout=60)
    assert task["StopReason"] == "Stop Reason STOPPED_AFTER_CACHED_EVENTS"
    assert len(table_text(dst, "t")) == 100
