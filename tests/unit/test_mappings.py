"""DMS table mappings and task settings as users really write them, and the mapping layer (no servers)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from connectors.base import Batch, Change, Column, Op, Position, TableId, TableSchema
from connectors.errors import ConfigError, DataError
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.tablemap import build_map, build_maps

ORDERS = TableSchema(TableId("public", "orders"), (
    Column("id", "int4", False, "integer"), Column("status", "string", True, "varchar(10)"),
    Column("total", "numeric", True, "numeric(12,2)"), Column("note", "text", True, "text"),
    Column("created", "date", True, "date"),
), ("id",), "postgres")


def select_all() -> dict:
    return {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
            "object-locator": {"schema-name": "%", "table-name": "%"}}


def rule(rule_id: object, action: str, target: str, **extra: object) -> dict:
    locator = {"schema-name": "public", "table-name": "orders"}
    locator.update(extra.pop("locator", {}))
    return {"rule-type": "transformation", "rule-id": rule_id, "rule-name": str(rule_id), "rule-action": action,
            "rule-target": target, "object-locator": locator, **extra}


def mapped(*rules: dict, settings: dict | None = None, schema: TableSchema = ORDERS):
    mappings = parse_table_mappings(json.dumps({"rules": [select_all(), *rules]}))
    return build_map(mappings, parse_task_settings(json.dumps(settings or {})), schema)


def pos(minor: int) -> Position:
    return Position("pg:1:s", 100, minor, "0/64")


# --- documents as exported from the console, Terraform, CloudFormation -------------------------------


CONSOLE_EXPORT = """
{"rules": [
  {"rule-type": "selection", "rule-id": "001", "rule-name": "sel", "object-locator":
     {"table-name": "orders", "schema-name": "public"}, "rule-action": "include", "filters": [
       {"filter-type": "source", "column-name": "total", "filter-conditions": [
         {"filter-operator": "between", "start-value": 10, "end-value": "99.5", "value": null}]}],
   "parallel-load": null, "load-order": "5"},
  {"rule-action": "rename", "rule-target": "column", "rule-id": 2, "rule-name": "2", "rule-type": "transformation",
   "object-locator": {"schema-name": "public", "table-name": "orders", "column-name": "note"}, "value": "remark",
   "old-value": null},
  {"rule-type": "transformation", "rule-id": "003", "rule-name": "3", "rule-target": "column",
   "object-locator": {"schema-name": "public", "table-name": "orders", "column-name": "total"},
   "rule-action": "change-data-type", "data-type": {"type": "numeric", "precision": "12", "scale": "2"}},
  {"rule-type": "object-mapping", "rule-id": "4", "rule-name": "4", "rule-action": "map-record-to-record",
   "object-locator": {"schema-name": "public", "table-name": "orders"}, "mapping-parameters": {}}
]}
"""


def test_a_console_export_is_read_as_dms_reads_it() -> None:
    m = parse_table_mappings(CONSOLE_EXPORT)
    assert [r.rule_id for r in m.selections] == [1]
    assert m.load_order(TableId("public", "orders")) == 5
    (f,) = m.filters_for(TableId("public", "orders"))
    assert (f.column, f.conditions[0].op, f.conditions[0].value, f.conditions[0].end) == ("total", "between", "10",
                                                                                         "99.5")
    assert m.transformations[1].data_type.precision == 12
    assert m.warnings == ("rules[3] (object-mapping rule 4) has no effect: object mapping is for DynamoDB, Kinesis, "
                          "Kafka and OpenSearch targets (DynamoDB, Kinesis and Kafka targets read it: docs/engines/)",)
    t = build_map(m, parse_task_settings(None), ORDERS)
    assert t.target.column_names == ("id", "status", "total", "remark", "created")


SAVED_SETTINGS = {
    "TargetMetadata": {"TargetSchema": "", "SupportLobs": True, "FullLobMode": False, "LobChunkSize": 0,
                       "LimitedSizeLobMode": True, "LobMaxSize": "64", "ParallelLoadThreads": 0,
                       "ParallelApplyThreads": 8},
    "FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD", "CommitRate": "20000",
                         "TransactionConsistencyTimeout": 600, "MaxFullLoadSubTasks": 8},
    "Logging": {"EnableLogging": False, "LogComponents": None, "CloudWatchLogGroup": None},
    "ControlTablesSettings": {"historyTimeslotInMinutes": 5, "HistoryTimeslotInMinutes": 5, "ControlSchema": ""},
    "ErrorBehavior": {"DataErrorPolicy": "SUSPEND_TABLE", "RecoverableErrorCount": "-1",
                      "ApplyErrorInsertPolicy": "INSERT_RECORD"},
    "ChangeProcessingTuning": {"BatchSplitSize": 0, "CommitTimeout": 1, "StatementCacheSize": 50},
    "PostProcessingRules": None, "CharacterSetSettings": None, "BeforeImageSettings": None,
    "FailTaskWhenCleanTaskResourceFailed": False,
}


def test_saved_task_settings_take_effect_and_name_what_does_not() -> None:
    s = parse_task_settings(json.dumps(SAVED_SETTINGS))
    assert (s.prep_mode, s.commit_rate, s.target_metadata.LobMaxSize) == ("truncate", 20000, 64)
    assert s.errors.DataErrorPolicy == "SUSPEND_TABLE" and s.errors.RecoverableErrorCount == -1
    # Only the one key that asks for something OpenDMS cannot do gets a warning; defaults change nothing.
    assert s.warnings() == ["TargetMetadata.ParallelApplyThreads = 8 has no effect: parallel apply is for Kinesis, "
                            "Kafka, DocumentDB and Redshift targets, which OpenDMS does not have"]
    effective = s.to_json()
    assert effective["ErrorBehavior"]["TableErrorPolicy"] == "SUSPEND_TABLE"  # DMS's default, shown
    assert parse_task_settings(json.dumps(effective)).to_json() == effective


@pytest.mark.parametrize(("doc", "message"), [
    ({"FullLoadSettings": {"CommitRat": 5}}, "FullLoadSettings.CommitRat is not a DMS key, did you mean 'CommitRate'?"),
    ({"FullLoadSettings": {"SupportLobs": True}}, "FullLoadSettings.SupportLobs is not a DMS key: it belongs in "
                                                  "TargetMetadata"),
    ({"ErrorBehaviour": {}}, "ErrorBehaviour is not a DMS key, did you mean 'ErrorBehavior'?"),
    ({"ErrorBehavior": {"TableErrorPolicy": "SUSPEND"}}, "ErrorBehavior.TableErrorPolicy is 'SUSPEND': use one of "
                                                         "SUSPEND_TABLE, STOP_TASK, did you mean 'SUSPEND_TABLE'?"),
    ({"TargetMetadata": {"LobMaxSize": 200000}}, "TargetMetadata.LobMaxSize is 200000: give a number from 0 to 102400"),
    ({"ValidationSettings": {"ValidationOnly": True}}, "ValidationOnly needs FullLoadSettings.TargetTablePrepMode "
                                                       "DO_NOTHING"),
])
def test_settings_keys_dms_does_not_have_are_refused_with_the_likely_key(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_task_settings(json.dumps(doc))
    assert message in str(info.value)


@pytest.mark.parametrize(("bad", "message"), [
    ({"object-locator": {"schema-name": "public", "tabel-name": "t"}},
     "rules[1] (rule 7).object-locator.tabel-name is not a DMS key, did you mean 'table-name'?"),
    ({"rule-action": "includ"}, "rules[1] (rule 7).rule-action is 'includ': use include, exclude or explicit, "
                                "did you mean 'include'?"),
    ({"rule-type": "selections"}, "rules[1].rule-type is 'selections'"),
    ({"filters": [{"column-name": "x", "filter-conditions": [{"filter-operator": "lt", "value": "1"}]}]},
     "filter-operator is 'lt': use one of eq, noteq, lte, ste, gte, between, notbetween, null, notnull, did you mean"),
    ({"filters": [{"column-name": "x", "filter-conditions": [{"filter-operator": "noteq", "value": "1"},
                                                            {"filter-operator": "eq", "value": "2"}]}]},
     "a noteq condition must be alone in its filter"),
    ({"filters": [{"column-name": "x", "filter-conditions": [{"filter-operator": "between", "value": "1"}]}]},
     "between needs start-value and end-value"),
    ({"object-locator": {"schema-name": "public", "table-name": "t[ab"}}, "unclosed '['"),
    ({"expression": "$a"}, "rules[1] (rule 7).expression is not a key of a selection rule"),
])
def test_selection_rule_mistakes_name_the_rule_and_the_fix(bad: dict, message: str) -> None:
    rule = {"rule-type": "selection", "rule-id": "7", "rule-name": "7", "rule-action": "include",
            "object-locator": {"schema-name": "public", "table-name": "t"}, **bad}
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(json.dumps({"rules": [select_all(), rule]}))
    assert message in str(info.value)


@pytest.mark.parametrize(("bad", "message"), [
    (rule(3, "renam", "table", value="x"), "rule-action is 'renam': not a transformation action, did you mean "
                                           "'rename'?"),
    (rule(3, "remove-column", "schema"), "remove-column does not apply to rule-target schema"),
    (rule(3, "add-prefix", "table"), "add-prefix needs a value"),
    (rule(3, "replace-suffix", "table", value="_new"), "replace-suffix needs old-value"),
    (rule(3, "data-masking-hash-mask", "column", locator={"column-name": "note"}), "data-masking-hash-mask is not "
                                                                                   "supported by OpenDMS yet"),
    ({"rule-type": "table-settings", "rule-id": "3", "object-locator": {"schema-name": "public", "table-name": "o%"},
      "parallel-load": {"type": "partitions-auto"}}, "Exact schema and table name required"),
    ({"rule-type": "table-settings", "rule-id": "3", "object-locator": {"schema-name": "public", "table-name": "o"},
      "parallel-load": {"type": "ranges", "columns": ["a", "b"], "boundaries": [["1", "x"], ["2"]]}},
     "boundaries[1] has 1 value(s) for 2 column(s)"),
])
def test_transformation_and_table_settings_mistakes(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(json.dumps({"rules": [select_all(), bad]}))
    assert message in str(info.value)


def test_no_effect_rules_are_accepted_with_one_warning_each() -> None:
    m = parse_table_mappings(json.dumps({"rules": [
        select_all(),
        rule(2, "rename", "table-tablespace", value="ts", locator={"table-tablespace-name": "x"}),
        {"rule-type": "table-settings", "rule-id": "3", "object-locator": {"schema-name": "db", "table-name": "c"},
         "parallel-load": {"type": "partitions-auto", "number-of-partitions": 4, "batch-size": 500}},
        {"rule-type": "post-processing", "rule-id": "4", "rule-action": "add-tag"},
    ]}))
    assert len(m.warnings) == 3
    assert "tablespaces are Oracle's" in m.warnings[0]
    assert "batch-size = 500 has no effect: MongoDB autosegmentation" in m.warnings[1]
    assert m.parallel_loads[TableId("db", "c")].number_of_partitions == 4
    assert "post-processing" in m.warnings[2]


def test_parallel_load_is_plain_data_for_the_loader() -> None:
    m = parse_table_mappings(json.dumps({"rules": [select_all(), {
        "rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
        "object-locator": {"schema-name": "HR", "table-name": "SALES"},
        "parallel-load": {"type": "ranges", "columns": ["SALES_NO", "REGION"],
                          "boundaries": [[1000, "NORTH"], ["3000", None]]}}]}))
    p = m.parallel_loads[TableId("HR", "SALES")]
    assert (p.type, p.columns, p.boundaries) == ("ranges", ("SALES_NO", "REGION"), (("1000", "NORTH"), ("3000", None)))


# --- rules meeting the source's tables --------------------------------------------------------------


@pytest.mark.parametrize(("bad", "message"), [
    (rule(5, "remove-column", "column", locator={"column-name": "missing"}),
     "transformation rule 5 names column 'missing', which public.orders does not have"),
    (rule(5, "add-column", "column", value="status", expression="1", **{"data-type": {"type": "int4"}}),
     "transformation rule 5 adds column 'status', which public.orders already has"),
    (rule(5, "add-column", "column", value="x", expression="$nope || 1", **{"data-type": {"type": "int4"}}),
     "transformation rule 5 (add-column) uses $nope"),
    (rule(5, "add-column", "column", value="x", expression="$id +", **{"data-type": {"type": "int4"}}),
     "is not valid SQLite"),
    (rule(5, "remove-column", "column", locator={"column-name": "id"}), "remove key column(s) id"),
    (rule(5, "rename", "column", value="status", locator={"column-name": "note"}), "two target columns named 'status'"),
    (rule(5, "define-primary-key", "table", **{"primary-key-def": {"columns": ["nope"]}}),
     "rule 5 (define-primary-key) names column 'nope'"),
])
def test_rules_that_cannot_apply_to_the_table_fail_with_their_id(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        mapped(bad)
    assert message in str(info.value)


def test_filter_on_a_missing_column_or_with_a_wrong_value_names_the_rule() -> None:
    sel = {"rule-type": "selection", "rule-id": "9", "rule-action": "include",
           "object-locator": {"schema-name": "public", "table-name": "orders"},
           "filters": [{"column-name": "stat", "filter-conditions": [{"filter-operator": "eq", "value": "x"}]}]}
    with pytest.raises(ConfigError, match="selection rule 9 filters on column 'stat'"):
        mapped(sel)
    sel["filters"][0] = {"column-name": "id", "filter-conditions": [{"filter-operator": "gte", "value": "ten"}]}
    with pytest.raises(ConfigError, match="selection rule 9 compares column id .* with 'ten'"):
        mapped(sel)


def test_two_tables_onto_one_target_are_refused() -> None:
    other = TableSchema(TableId("public", "orders2"), ORDERS.columns, ORDERS.key, "postgres")
    mappings = parse_table_mappings(json.dumps({"rules": [select_all(), rule(2, "remove-suffix", "table", value="2",
                                                                              locator={"table-name": "%"})]}))
    with pytest.raises(ConfigError, match="both public.orders and public.orders2 onto public.orders"):
        build_maps(mappings, parse_task_settings(None), [ORDERS, other])


# --- the mapping layer ------------------------------------------------------------------------------


def test_names_change_by_the_lowest_rule_id_and_the_bytes_pass_through() -> None:
    m = mapped(
        rule(20, "convert-uppercase", "table"),
        rule(10, "add-prefix", "table", value="old_"),
        rule(11, "replace-prefix", "schema", value="app", **{"old-value": "pub"}, locator={"table-name": None}),
        rule(12, "convert-uppercase", "column", locator={"column-name": "st%"}),
        rule(13, "remove-column", "column", locator={"column-name": "note"}),
        rule(14, "change-data-type", "column", locator={"column-name": "total"}, **{"data-type": {"type": "string",
                                                                                                 "length": 20}}),
    )
    assert m.target.table == TableId("applic", "old_orders")
    assert m.target.column_names == ("id", "STATUS", "total", "created")
    assert next(c for c in m.target.columns if c.name == "total").type == "string"
    assert m.read.column_names == ("id", "status", "total", "created")  # the source reads only what is kept
    assert m.passthrough and not m.identity
    raw = Batch(1, raw=("postgres-copy-text", b"1\tnew\t3.50\t2024-01-01\n"), decode=lambda b: [])
    assert list(m.batches([raw])) == [raw]  # COPY bytes go to the target's columns as they are


def test_computed_and_before_image_columns_in_full_load_and_cdc() -> None:
    m = mapped(
        rule(2, "add-column", "column", value="label", expression="upper($status) || '-' || $id",
             **{"data-type": {"type": "string", "length": 30}}),
        rule(3, "add-column", "column", value="op", expression="$AR_H_OPERATION", **{"data-type": {"type": "string"}}),
        rule(4, "add-before-image-columns", "column", **{"before-image-def": {"column-filter": "pk-only"}}),
        rule(5, "rename", "column", value="state", locator={"column-name": "status"}),
    )
    assert set(m.target.column_names) == {"id", "state", "total", "note", "created", "label", "op", "BI_id"}
    assert "BI_id" not in m.load.column_names  # NULL after the full load
    row = {"id": 7, "status": "new", "total": Decimal("1.5"), "note": None, "created": "2024-01-01"}
    (batch,) = m.batches([Batch(1, rows=[row])])
    assert batch.rows()[0]["label"] == "NEW-7" and batch.rows()[0]["op"] == "INSERT"
    upd = Change(ORDERS.table, Op.UPDATE, pos(1), {"id": 7}, {**row, "id": 8, "status": "paid"})
    (out,) = m.changes(upd)
    assert out.table == m.target.table
    assert out.before == {"id": 7}
    assert (out.after["state"], out.after["op"], out.after["BI_id"], out.after["label"]) == ("paid", "UPDATE", 7,
                                                                                            "PAID-8")


def test_soft_delete_with_operation_indicator() -> None:
    m = mapped(rule(2, "add-column", "column", value="deleted", expression="operation_indicator('Y', 'N', 'N')",
                    **{"data-type": {"type": "string", "length": 1}}))
    (out,) = m.changes(Change(ORDERS.table, Op.DELETE, pos(1), {"id": 3}))
    assert (out.op, out.after) == (Op.UPDATE, {"id": 3, "deleted": "Y"})


def test_filters_apply_to_changes_as_to_the_snapshot() -> None:
    sel = {"rule-type": "selection", "rule-id": "2", "rule-action": "include",
           "object-locator": {"schema-name": "public", "table-name": "orders"},
           "filters": [{"column-name": "total", "filter-conditions": [{"filter-operator": "gte", "value": "100"}]},
                       {"column-name": "status", "filter-conditions": [{"filter-operator": "eq", "value": "paid"},
                                                                       {"filter-operator": "null"}]}]}
    m = mapped(sel)
    assert [f.column for f in m.filters] == ["total", "status"]
    big = {"id": 1, "status": "paid", "total": Decimal("150"), "note": "", "created": None}
    assert len(m.changes(Change(ORDERS.table, Op.INSERT, pos(1), None, big))) == 1
    assert m.changes(Change(ORDERS.table, Op.INSERT, pos(2), None, {**big, "total": Decimal("99")})) == []
    assert len(m.changes(Change(ORDERS.table, Op.INSERT, pos(3), None, {**big, "status": None}))) == 1
    # An update that takes the row out of the filter removes it from the target (both keys when re-keyed).
    gone = m.changes(Change(ORDERS.table, Op.UPDATE, pos(4), {"id": 1}, {**big, "id": 2, "status": "open"}))
    assert [(c.op, c.before) for c in gone] == [(Op.DELETE, {"id": 1}), (Op.DELETE, {"id": 2})]
    # An update that does not carry the filter column (unchanged TOAST) cannot be judged: it goes on.
    assert len(m.changes(Change(ORDERS.table, Op.UPDATE, pos(5), None, {"id": 1, "note": "x"}))) == 1


def test_limited_lob_mode_truncates_and_counts() -> None:
    m = mapped(settings={"TargetMetadata": {"LobMaxSize": 1}})
    long_note = "x" * 3000
    raw = b"1\tnew\t1\t" + long_note.encode() + b"\t\\N\n"
    decoded = [{"id": 1, "status": "new", "total": Decimal(1), "note": long_note, "created": None}]
    (batch,) = m.batches([Batch(1, raw=("postgres-copy-text", raw), decode=lambda b: decoded)])
    assert len(batch.rows()[0]["note"]) == 1024 and m.take_truncations() == 1
    short = Batch(1, raw=("postgres-copy-text", b"1\tnew\t1\tshort\t\\N\n"), decode=lambda b: [])
    assert list(m.batches([short])) == [short] and m.take_truncations() == 0
    assert mapped(settings={"TargetMetadata": {"FullLobMode": True}}).lob_limit is None
    strict = mapped(settings={"TargetMetadata": {"LobMaxSize": 1},
                              "ErrorBehavior": {"DataTruncationErrorPolicy": "SUSPEND_TABLE"}})
    with pytest.raises(DataError, match="longer than LobMaxSize"):
        strict.changes(Change(ORDERS.table, Op.INSERT, pos(1), None, decoded[0]))


def test_support_lobs_off_drops_lob_columns_and_target_schema_moves_tables() -> None:
    m = mapped(settings={"TargetMetadata": {"SupportLobs": False, "TargetSchema": "copy"}})
    assert m.target.table == TableId("copy", "orders")
    assert "note" not in m.target.column_names


def test_lob_columns_are_those_of_a_dms_lob_type() -> None:
    """SupportLobs false drops the columns whose DMS type is BLOB, CLOB or NCLOB (an array is an NCLOB, as in
    DMS), and the type locator of a change-data-type rule matches DMS types (a varchar is a WSTRING)."""
    schema = TableSchema(TableId("public", "t"), (
        Column("id", "int4", False, "integer", "INT4"), Column("tags", "array", True, "text[]", "NCLOB"),
        Column("doc", "json", True, "jsonb", "NCLOB"), Column("code", "string", True, "varchar(10)", "WSTRING(10)"),
        Column("pic", "bytes", True, "bytea", "BLOB")), ("id",), "postgres")
    m = mapped(settings={"TargetMetadata": {"SupportLobs": False}}, schema=schema)
    assert m.target.column_names == ("id", "code")
    typed = mapped(rule(2, "change-data-type", "column", **{"data-type": {"type": "string", "length": 30}},
                        locator={"table-name": "t", "column-name": "%", "data-type": "wstring"}), schema=schema)
    assert [(c.name, c.dms) for c in typed.target.columns if c.dms.startswith("STRING")] == [("code", "STRING(30)")]


def test_define_primary_key_and_a_delete_without_it() -> None:
    m = mapped(rule(2, "define-primary-key", "table", **{"primary-key-def": {"name": "pk", "columns": ["status",
                                                                                                         "id"]}}))
    assert m.target.key == ("status", "id")
    with pytest.raises(DataError, match='run ALTER TABLE "public"."orders" REPLICA IDENTITY FULL on the source'):
        m.changes(Change(ORDERS.table, Op.DELETE, pos(1), {"id": 3}))


def test_the_cure_for_a_delete_without_the_target_key_is_the_source_engines() -> None:
    """The words of the cure come from the source's connector; an engine that has none gets the base's."""
    keyed = rule(2, "define-primary-key", "table", **{"primary-key-def": {"name": "pk", "columns": ["status", "id"]}})
    for engine, cure in (("memory", "make the source log whole old rows of public.orders"),
                         ("nosuch", "make the source log whole old rows of public.orders")):
        m = mapped(keyed, schema=replace(ORDERS, engine=engine))
        with pytest.raises(DataError, match=f": {cure}, or key the target as the source is keyed"):
            m.changes(Change(ORDERS.table, Op.DELETE, pos(1), {"id": 3}))


def test_a_keyless_full_row_table_maps_to_a_keyless_full_row_target() -> None:
    keyless = replace(ORDERS, key=(), full_row=True)
    m = mapped(schema=keyless)
    assert (m.target.key, m.target.full_row) == ((), True)
    keyed = mapped({"rule-type": "transformation", "rule-id": "5", "rule-action": "define-primary-key",
                    "rule-target": "table", "object-locator": {"schema-name": "public", "table-name": "orders"},
                    "primary-key-def": {"name": "pk", "columns": ["id"]}}, schema=keyless)
    assert (keyed.target.key, keyed.target.full_row) == (("id",), False)  # keyed apply on the target
    # A row leaving the filter goes as a delete of the one row equal to its old image, never of "any row".
    sel = {"rule-type": "selection", "rule-id": "2", "rule-action": "include",
           "object-locator": {"schema-name": "public", "table-name": "orders"},
           "filters": [{"column-name": "status", "filter-conditions": [{"filter-operator": "eq", "value": "paid"}]}]}
    m = mapped(sel, schema=keyless)
    old = {"id": 1, "status": "paid", "total": Decimal("5"), "note": "", "created": None}
    (gone,) = m.changes(Change(ORDERS.table, Op.UPDATE, pos(1), old, {**old, "status": "open"}))
    assert (gone.op, gone.before, gone.after) == (Op.DELETE, old, None)
