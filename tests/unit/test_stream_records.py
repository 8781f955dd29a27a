"""DMS's JSON records of stream targets (connectors/streams/records.py): the layout, the settings that
change it, and the fold of a stream back into rows."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from connectors.base import Change, Column, Op, TableId, TableSchema
from connectors.positions import Position
from connectors.streams.records import Fold, Records, RecordSettings

T = TableId("public", "items")
SCHEMA = TableSchema(T, (Column("id", "int8", False), Column("name", "text"), Column("price", "numeric"),
                         Column("data", "bytes"), Column("f", "float8")), ("id",))


def _change(op: Op, n: int, before=None, after=None) -> Change:
    return Change(T, op, Position("log", 100 + n, 1, f"0/{n:X}"), before, after, commit_time=0.5, txid=str(700 + n))


def test_a_load_record_is_dms_layout_keyed_by_the_primary_key() -> None:
    records = Records(RecordSettings(message_format="json-unformatted", include_partition_value=True))
    rec = records.load(SCHEMA, {"id": 7, "name": "", "price": Decimal("1.50"), "data": b"\x01\xff", "f": None})
    doc = json.loads(rec.value)
    assert b"\n" not in rec.value and b'"operation":"load"' in rec.value and rec.key == "7" and rec.position == ""
    assert doc["data"] == {"id": 7, "price": "1.50", "data": "0x01FF"}  # NULL and '' left out by default
    meta = doc["metadata"]
    assert list(meta) == ["timestamp", "record-type", "operation", "partition-key-type", "partition-key-value",
                          "schema-name", "table-name"]
    assert (meta["record-type"], meta["operation"], meta["partition-key-type"], meta["partition-key-value"]) == (
        "data", "load", "primary-key", "7")
    assert meta["timestamp"].endswith("Z") and (meta["schema-name"], meta["table-name"]) == ("public", "items")


def test_changes_are_keyed_by_schema_table_with_transaction_details_and_before_image() -> None:
    settings = RecordSettings(include_transaction_details=True, include_null_and_empty=True, no_hex_prefix=True,
                              partition_include_schema_table=True).with_before_image(
        {"EnableBeforeImage": True, "FieldName": "before", "ColumnFilter": "pk-only"})
    records = Records(settings)
    first = records.change(SCHEMA, _change(Op.INSERT, 1, None, {"id": 1, "name": None, "data": b"\x0a"}))
    second = records.change(SCHEMA, _change(Op.UPDATE, 2, {"id": 1, "name": "x"}, {"id": 2, "name": "y"}))
    assert first.key == second.key == "public.items"
    assert b"\n\t" in first.value  # MessageFormat json: formatted
    doc = json.loads(second.value)
    assert doc["data"] == {"id": 2, "name": "y"} and doc["before"] == {"id": 1}
    meta = doc["metadata"]
    assert (meta["operation"], meta["partition-key-type"], meta["transaction-id"], meta["transaction-record-id"],
            meta["prev-transaction-id"], meta["prev-transaction-record-id"], meta["stream-position"]) == (
        "update", "schema-table", 702, 1, 701, 1, "0/2")
    assert meta["commit-timestamp"] == "1970-01-01T00:00:00.500000Z"
    assert json.loads(first.value)["data"] == {"id": 1, "name": None, "data": "0A"}
    assert second.old_key == "[1]" and Position.decode(second.position).major == 102


def test_primary_key_partitioning_of_changes_prefixes_schema_and_table() -> None:
    records = Records(RecordSettings(cdc_partition="primary-key", partition_include_schema_table=True))
    rec = records.change(SCHEMA, _change(Op.DELETE, 3, {"id": 5}, None))
    assert rec.key == "public.items.5"
    assert json.loads(rec.value)["metadata"]["partition-key-type"] == "primary-key"


def test_control_records() -> None:
    records = Records(RecordSettings())
    made = json.loads(records.create_table(SCHEMA, task="t1").value)
    assert made["control"]["table-def"]["columns"]["id"] == {"type": "INT8", "nullable": False}
    assert made["metadata"]["record-type"] == "control" and made["metadata"]["partition-key-type"] == "task-id"
    assert records.change(SCHEMA, _change(Op.DDL, 4, None, {"columns": ["id"]})) is None  # not asked for
    truncate = records.change(SCHEMA, _change(Op.TRUNCATE, 5))
    assert json.loads(truncate.value)["metadata"]["operation"] == "truncate-table"


def test_schema_changes_are_dms_control_records_with_include_table_alter_operations() -> None:
    from dataclasses import replace

    from connectors.ddl import ColumnChange, ColumnDdl, SchemaChange, TableDdl

    records = Records(RecordSettings(include_table_alter_operations=True))
    added = Column("extra", "int4", True, "", "INT4")
    now = replace(SCHEMA, columns=(*SCHEMA.columns, added))

    def doc(sc: SchemaChange, schema: TableSchema = now, table: TableId = T) -> dict:
        ch = Change(table, Op.DDL, Position("log", 104, 1), after={"columns": list(schema.column_names)}, schema=sc)
        return json.loads(records.change(schema, ch).value)

    one = doc(SchemaChange(TableDdl.ALTER, now, "ALTER ...", columns=(ColumnChange(ColumnDdl.ADD, "extra", added),)))
    assert one["metadata"]["operation"] == "add-column" and one["control"]["column-name"] == "extra"
    assert one["control"]["table-def"]["columns"]["extra"] == {"type": "INT4", "nullable": True}
    renamed = doc(SchemaChange(TableDdl.ALTER, now, "", columns=(
        ColumnChange(ColumnDdl.RENAME, "old", added), ColumnChange(ColumnDdl.DROP, "f"))))
    assert renamed["metadata"]["operation"] == "change-columns" and renamed["control"]["columns"][-1] == "extra"
    assert doc(SchemaChange(TableDdl.DROP, None), SCHEMA)["metadata"]["operation"] == "drop-table"
    moved = doc(SchemaChange(TableDdl.RENAME, now), now, TableId("public", "was"))
    assert moved["metadata"]["operation"] == "rename-table" and moved["control"]["old-table-name"] == "was"
    assert doc(SchemaChange(TableDdl.CREATE, now))["metadata"]["operation"] == "create-table"
    assert json.loads(records.change(SCHEMA, _change(Op.TRUNCATE, 5)).value)["metadata"]["record-type"] == "control"


def test_a_stream_folds_back_into_the_rows() -> None:
    records = Records(RecordSettings(include_null_and_empty=True))
    loads = [records.load(SCHEMA, {"id": i, "name": f"n{i}", "price": Decimal(i), "data": b"", "f": math.inf})
             for i in (1, 2, 3)]
    changes = [records.change(SCHEMA, c) for c in (
        _change(Op.UPDATE, 1, {"id": 1}, {"id": 10, "price": Decimal("-0.5")}),  # key change, partial image
        _change(Op.DELETE, 2, {"id": 2}, None),
        _change(Op.INSERT, 3, None, {"id": 4, "name": "", "price": None, "data": b"\x00", "f": math.nan}),
    )]
    fold = Fold(SCHEMA)
    items = [(r.value, r.position, r.old_key) for r in [*changes[::-1], *loads]]  # out of order across partitions
    for value, _position, old_key in Fold.order(items):
        fold.add(value, old_key)
    rows = fold.result()
    assert [r["id"] for r in rows] == [3, 4, 10]
    assert rows[2] == {"id": 10, "name": "n1", "price": Decimal("-0.5"), "data": b"", "f": math.inf}
    assert rows[1]["name"] == "" and math.isnan(rows[1]["f"]) and rows[1]["data"] == b"\x00"
    fold.add(records.change(SCHEMA, _change(Op.TRUNCATE, 9)).value)
    assert fold.result() == []


def test_a_task_hands_its_object_mappings_and_before_image_settings_to_the_target() -> None:
    from connectors.model.catalog import TaskDef

    rules = [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
              "object-locator": {"schema-name": "%", "table-name": "%"}},
             {"rule-type": "object-mapping", "rule-id": "2", "rule-name": "2", "rule-action": "map-record-to-record",
              "object-locator": {"schema-name": "public", "table-name": "items"}, "kafka-target-topic": "t"}]
    task = TaskDef("t", "s", "d", "ri", "cdc", json.dumps({"rules": rules}),
                   json.dumps({"BeforeImageSettings": {"EnableBeforeImage": True, "FieldName": "bi"}}))
    options = task.target_options()
    assert json.loads(options["task.ObjectMappings"]) == rules[1:]
    assert json.loads(options["task.BeforeImageSettings"]) == {"EnableBeforeImage": True, "FieldName": "bi"}
    assert TaskDef("t", "s", "d", "ri", "cdc", json.dumps({"rules": rules[:1]})).target_options() == {}


def test_routes_key_records_by_an_attribute_or_the_transaction() -> None:
    from connectors.streams.records import Route

    records = Records(RecordSettings())
    load = records.load(SCHEMA, {"id": 1, "name": "ann"}, route=Route("attribute-name", "name"))
    assert load.key == "ann" and json.loads(load.value)["metadata"]["partition-key-type"] == "attribute-name"
    change = records.change(SCHEMA, _change(Op.INSERT, 1, None, {"id": 1}), route=Route("transaction-id"))
    assert change.key == "701"


def test_spliced_records_are_the_bytes_of_the_whole_document(monkeypatch) -> None:
    """The spliced fast path (data's JSON between bytes kept per table and operation) makes exactly the bytes
    of dumping the whole record, under every setting it serves, and leaves what it cannot dump to json."""
    import orjson

    from connectors.streams import records as module
    from connectors.streams.records import Route

    monkeypatch.setattr(module, "_now", lambda: "2026-12-07T01:02:03.000004Z")
    rows = [{"id": 1, "name": "a\"é\u2028", "price": Decimal("1.50"), "data": b"\x01", "f": 1.5},
            {"id": 2, "name": "", "price": None, "f": math.nan}, {"id": 3, "name": "z"}, {"id": 2**70}]
    settings = [RecordSettings(message_format="json-unformatted"),
                RecordSettings(message_format="json-unformatted", include_partition_value=True,
                               partition_include_schema_table=True, include_null_and_empty=True),
                RecordSettings(message_format="json-unformatted", cdc_partition="primary-key",
                               include_partition_value=True, no_hex_prefix=True).with_before_image(
                    {"EnableBeforeImage": True, "FieldName": "b\"i", "ColumnFilter": "all"}),
                RecordSettings(),  # MessageFormat json: formatted
                RecordSettings(cdc_partition="primary-key", include_partition_value=True).with_before_image(
                    {"EnableBeforeImage": True, "FieldName": "bi", "ColumnFilter": "all"})]
    for setting in settings:
        fast, whole = Records(setting), Records(setting)
        whole._spliced = False
        assert fast._spliced
        for n, row in enumerate(rows):
            for route in (None, Route("attribute-name", "name")):
                a, b = fast.load(SCHEMA, row, route=route), whole.load(SCHEMA, row, route=route)
                assert (a.key, a.value) == (b.key, b.value)
                for op in (Op.INSERT, Op.UPDATE, Op.DELETE):
                    ch = _change(op, n, {"id": 9, "name": "x"} if op is not Op.INSERT else None,
                                 row if op is not Op.DELETE else None)
                    a, b = fast.change(SCHEMA, ch, route=route), whole.change(SCHEMA, ch, route=route)
                    assert (a.key, a.value, a.position, a.old_key) == (b.key, b.value, b.position, b.old_key)
                    if n == 0 and setting.message_format == "json-unformatted":
                        assert a.value == orjson.dumps(json.loads(a.value))  # valid, compact, in order
                    elif n == 0:
                        assert a.value == json.dumps(json.loads(a.value), ensure_ascii=False, indent="\t",
                                                     separators=(",", ": ")).encode()


def test_json_records_are_tab_indented_as_the_json_module_spells_them() -> None:
    """MessageFormat json (DMS's default) is dumped by orjson and re-indented with tabs: byte for byte what
    json.dumps(indent="\\t") writes, nested levels, empty objects and characters outside ASCII included."""
    records = Records(RecordSettings(include_transaction_details=True).with_before_image(
        {"EnableBeforeImage": True, "FieldName": "bi", "ColumnFilter": "all"}))
    rows = [{"id": 1, "name": "a\"é\u2028\t\n😀", "price": Decimal("1.50"), "data": b"\x01", "f": 1.5},
            {"id": 2, "name": "", "price": None}, {"id": 3}]
    for n, row in enumerate(rows):
        for record in (records.load(SCHEMA, row), records.change(SCHEMA, _change(Op.UPDATE, n, {"id": 9}, row)),
                       records.control(SCHEMA, "create-table", body={"table-def": {"columns": {}, "a": [1, [2]]}})):
            doc = json.loads(record.value)
            assert record.value == json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ": ")).encode()
            assert b"\n\t\t" in record.value


def test_a_lone_surrogate_goes_as_its_json_escape() -> None:
    """A text value with a lone surrogate (a SQLite source can hold one) has no UTF-8 form: its record
    carries the JSON escape, and reading the record gives back the same string."""
    for fmt in ("json", "json-unformatted"):
        record = Records(RecordSettings(message_format=fmt)).change(
            SCHEMA, _change(Op.INSERT, 1, None, {"id": 1, "name": "a\udc80é"}))
        assert b"\\udc80" in record.value and "é".encode() in record.value
        assert json.loads(record.value)["data"]["name"] == "a\udc80é"
