"""FullLoadSettings that take effect, and the schema the target gets: keys, unique indexes, load order."""

from __future__ import annotations

import json
import sqlite3

import pytest

from connectors.base import Column, Endpoint, TableId, TableSchema
from connectors.model.catalog import TaskDef
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.tablemap import build_map
from connectors.postgres.target import _constraint_name
from connectors.sqlite.target import SqliteTarget
from scheduler.plan import jobs_to_run
from worker.state import schema_from_json, schema_to_json

USERS = TableSchema(TableId("public", "users"), (
    Column("id", "int4", False, "integer"), Column("email", "string", False, "character varying(40)"),
    Column("org", "int4", True, "integer"), Column("login", "string", True, "character varying(20)"),
    Column("balance", "numeric", True, "numeric(12,2)"),
), ("id",), "postgres", unique=(("email",), ("org", "login")))


def _map(*rules: dict, schema: TableSchema = USERS) -> TableSchema:
    doc = {"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
                      "object-locator": {"schema-name": "%", "table-name": "%"}}, *rules]}
    return build_map(parse_table_mappings(json.dumps(doc)), parse_task_settings(None), schema).target


def _column_rule(rule_id: int, action: str, column: str, **extra: object) -> dict:
    return {"rule-type": "transformation", "rule-id": str(rule_id), "rule-name": str(rule_id), "rule-action": action,
            "rule-target": "column", **extra,
            "object-locator": {"schema-name": "public", "table-name": "users", "column-name": column}}


def test_defaults_are_dms_defaults_and_setting_them_warns_of_nothing() -> None:
    full = parse_task_settings(None).full_load
    assert (full.MaxFullLoadSubTasks, full.CreatePkAfterFullLoad) == (8, False)
    s = parse_task_settings('{"FullLoadSettings": {"MaxFullLoadSubTasks": "3", "CreatePkAfterFullLoad": true}}')
    assert (s.max_full_load_subtasks, s.full_load.CreatePkAfterFullLoad) == (3, True)
    assert s.warnings() == []
    assert s.to_json()["FullLoadSettings"]["MaxFullLoadSubTasks"] == 3


def test_create_pk_after_full_load_is_a_boolean() -> None:
    with pytest.raises(Exception, match="CreatePkAfterFullLoad"):
        parse_task_settings('{"FullLoadSettings": {"CreatePkAfterFullLoad": "later"}}')


def test_unique_indexes_follow_renames_and_go_with_a_removed_column_or_onto_the_key() -> None:
    assert _map().unique == (("email",), ("org", "login"))
    renamed = _map(_column_rule(2, "rename", "email", value="mail"))
    assert renamed.unique == (("mail",), ("org", "login"))
    assert _map(_column_rule(2, "remove-column", "login")).unique == (("email",),)
    keyed = _map({"rule-type": "transformation", "rule-id": "3", "rule-name": "3", "rule-target": "table",
                  "rule-action": "define-primary-key", "primary-key-def": {"name": "pk", "columns": ["email"]},
                  "object-locator": {"schema-name": "public", "table-name": "users"}})
    assert (keyed.key, keyed.unique) == (("email",), (("org", "login"),))


def test_declared_lengths_and_precision_travel_to_a_postgres_target() -> None:
    target = _map()
    assert {c.name: c.native for c in target.columns}["email"] == "character varying(40)"
    assert {c.name: c.native for c in target.columns}["balance"] == "numeric(12,2)"


def test_a_planned_schema_keeps_its_unique_indexes_in_live_state() -> None:
    assert schema_from_json(schema_to_json(USERS)) == USERS
    plain = TableSchema(TableId("s", "t"), (Column("id", "int4"),), ("id",))
    doc = json.loads(schema_to_json(plain))
    del doc["unique"]  # planned by a version without unique indexes
    assert schema_from_json(json.dumps(doc)) == plain


def test_load_order_orders_the_waiting_full_load_jobs() -> None:
    mappings = {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": "public", "table-name": "%"}},
        {"rule-type": "selection", "rule-id": "2", "rule-name": "2", "rule-action": "include", "load-order": "5",
         "object-locator": {"schema-name": "public", "table-name": "z%"}},
        {"rule-type": "selection", "rule-id": "3", "rule-name": "3", "rule-action": "include", "load-order": 9,
         "object-locator": {"schema-name": "public", "table-name": "m"}}]}
    task = TaskDef("t", "s", "d", "i", "full-load-and-cdc", json.dumps(mappings))
    states = {"public.a": "pending", "public.m": "pending", "public.zz": "loading", "public.b": "live"}
    assert jobs_to_run(task, states) == ["full_load:public.m", "full_load:public.zz", "full_load:public.a", "cdc"]


def test_constraint_names_are_postgres_spelling_within_63_bytes() -> None:
    assert _constraint_name("users", ("org", "login")) == "users_org_login_key"
    long = _constraint_name("t" * 40, ("c" * 30, "d"))
    assert len(long.encode()) <= 63 and long.endswith("_key") and long != _constraint_name("t" * 40, ("c" * 30, "e"))


def test_sqlite_target_always_creates_the_key_with_the_table(tmp_path) -> None:
    path = tmp_path / "t.db"
    target = SqliteTarget(Endpoint("d", "target", "sqlite", database=str(path)))
    try:
        target.prepare(USERS, "drop", with_key=False)
        assert target.create_keys(USERS) == []
    finally:
        target.close()
    conn = sqlite3.connect(path)
    assert [r[1] for r in conn.execute("PRAGMA table_info(users)") if r[5]] == ["id"]
    conn.close()
