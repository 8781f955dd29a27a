"""A source's schema change as the target's steps, through the table's rules (worker/cdc/ddl.py), and the SQL a
SQL target runs for them (connectors/sql/ddl.py)."""

from __future__ import annotations

import json

from connectors.base import Change, Column, Op, Position, TableId, TableSchema
from connectors.ddl import ColumnDdl, SchemaChange, TableDdl
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.tablemap import build_map
from connectors.sqlite.target import SqliteTarget
from worker.cdc.ddl import column_steps, kept_target

T = TableId("public", "t")
OLD = TableSchema(T, (Column("id", "int4", False, "integer"), Column("t", "text", True, "text"),
                      Column("secret", "text", True, "text"), Column("n", "int4", True, "integer")),
                  ("id",), "postgres")
RULES = [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
          "object-locator": {"schema-name": "%", "table-name": "%"}},
         {"rule-type": "transformation", "rule-id": "2", "rule-name": "2", "rule-action": "rename", "value": "title",
          "rule-target": "column", "object-locator": {"schema-name": "public", "table-name": "t", "column-name": "t"}},
         {"rule-type": "transformation", "rule-id": "3", "rule-name": "3", "rule-action": "remove-column",
          "rule-target": "column",
          "object-locator": {"schema-name": "public", "table-name": "t", "column-name": "secret"}}]


def _map(schema: TableSchema):
    return build_map(parse_table_mappings(json.dumps({"rules": RULES})), parse_task_settings(None), schema)


def test_steps_follow_source_columns_through_the_rules() -> None:
    new = TableSchema(T, (Column("id", "int8", False, "bigint"), Column("t2", "text", True, "text"),
                          Column("secret", "text", True, "varchar(9)"), Column("extra", "int4", True, "integer")),
                      ("id",), "postgres")
    # t renamed to t2 on the source: its rule names t, so rename the rules to t2 (as the user would)
    rules_new = json.loads(json.dumps(RULES))
    rules_new[1]["object-locator"]["column-name"] = "t2"
    new_map = build_map(parse_table_mappings(json.dumps({"rules": rules_new})), parse_task_settings(None), new)
    steps = column_steps(_map(OLD), new_map, {"t": "t2"}, {"extra": 7})
    assert [(s.op, s.name) for s in steps] == [(ColumnDdl.RETYPE, "id"), (ColumnDdl.DROP, "n"),
                                               (ColumnDdl.ADD, "extra")]
    assert steps[-1].fill == 7  # the removed column's retype is not there: it stays removed


def test_altered_off_keeps_the_target_and_writes_dropped_columns_null() -> None:
    new = TableSchema(T, (Column("id", "int4", False, "integer"), Column("t", "text", True, "text"),
                          Column("secret", "text", True, "text"), Column("extra", "int4", True, "integer")),
                      ("id",), "postgres")
    kept = kept_target(_map(OLD), new, {})
    assert kept.target == _map(OLD).target
    ch = Change(T, Op.INSERT, Position("l", 1, 1), after={"id": 1, "t": "a", "secret": "s", "extra": 3})
    (out,) = kept.changes(ch)
    assert out.after == {"id": 1, "title": "a", "n": None}


def test_sql_statements_for_each_step(tmp_path) -> None:
    from connectors.base import Endpoint

    target = SqliteTarget(Endpoint("d", "target", "sqlite", database=str(tmp_path / "t.db")))
    now = _map(OLD).target
    steps = column_steps(_map(OLD), _map(TableSchema(T, (*OLD.columns, Column("extra", "int4")), ("id",), "postgres")),
                         {}, {"extra": 5})
    target.prepare(now, "drop")
    new = _map(TableSchema(T, (*OLD.columns, Column("extra", "int4")), ("id",), "postgres")).target
    ddl = SchemaChange(TableDdl.ALTER, new, "ALTER TABLE t ADD COLUMN extra int DEFAULT 5", columns=steps)
    target.apply("task", {now: [Change(T, Op.INSERT, Position("l", 1, 1), after={"id": 1, "title": "a", "n": 2})]})
    target.apply("task", {new: [Change(T, Op.DDL, Position("l", 2, 1), after={"columns": list(new.column_names)},
                                       schema=ddl)]})
    assert [list(r) for batch in target.read(new) for r in batch] == [["id", "title", "n", "extra"]]
    assert [r for batch in target.read(new) for r in batch] == [{"id": 1, "title": "a", "n": 2, "extra": 5}]
    assert target.applied("task")[T] == Position("l", 2, 1)
    target.close()
