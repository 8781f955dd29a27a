"""The MongoDB target's documents, as DMS builds them for DocumentDB: ``_id`` from the key (or a column named
``_id``), ``json_``/``array_`` columns as nested documents and arrays; and a document over the server's size
limit failing its table in one line."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest

from connectors.base import Column, TableId, TableRule, TableSchema
from connectors.errors import DataError

from .pipeline import Pipeline

pytestmark = pytest.mark.integration


def _table(src, columns: list[Column], key: tuple[str, ...]) -> TableId:
    tid = TableId(src.schema, f"shaped_{secrets.token_hex(3)}")
    src.db.create_table(TableSchema(tid, tuple(columns), key, "memory"))
    return tid


def test_rows_become_documents_as_dms_builds_them(engines):
    src, dst = engines[("memory", "source")], engines[("mongodb", "target")]
    tid = _table(src, [Column("id", "int4", False), Column("json_address", "text"), Column("array_tags", "text"),
                       Column("price", "numeric"), Column("note", "text")], ("id",))
    src.db.insert(tid, {"id": 1, "json_address": '{"city": "Köln", "geo": {"lat": 50.9}}',
                        "array_tags": '["a", "b"]', "price": Decimal("12.30"), "note": None},
                  {"id": 2, "json_address": "not json", "array_tags": None, "price": None, "note": "x"})
    p = Pipeline(src, dst, tid, f"shape{secrets.token_hex(3)}").open()
    try:
        p.start_cdc()
        assert p.load() == 2
        src.db.update(tid, (2,), {"note": "changed"})
        assert p.replicate(1) == 1
        coll = dst.client[dst.schema][tid.name]
        assert coll.find_one({"_id": 1}) == {"_id": 1, "id": 1, "address": {"city": "Köln", "geo": {"lat": 50.9}},
                                             "tags": ["a", "b"], "price": "12.30", "note": None}
        assert coll.find_one({"_id": 2})["address"] == "not json" and coll.find_one({"_id": 2})["note"] == "changed"
        assert p.target_rows()[0]["json_address"] == '{"city": "Köln", "geo": {"lat": 50.9}}'
    finally:
        p.close()


def test_a_key_of_two_columns_is_a_sub_document_id_and_an_id_column_wins(engines):
    src, dst = engines[("memory", "source")], engines[("mongodb", "target")]
    two = _table(src, [Column("a", "int4", False), Column("b", "text", False), Column("v", "text")], ("a", "b"))
    src.db.insert(two, {"a": 1, "b": "x", "v": "one"})
    named = _table(src, [Column("pk", "int4", False), Column("_id", "text"), Column("v", "text")], ("pk",))
    src.db.insert(named, {"pk": 1, "_id": "chosen", "v": "two"})
    target = dst.open_target()
    source = src.open_source()
    try:
        for tid in (two, named):
            (schema,) = source.tables([TableRule(tid.schema, tid.name, "explicit")])
            target.prepare(schema, "drop")
            target.load(schema, source.snapshot(schema))
        assert dst.client[dst.schema][two.name].find_one()["_id"] == {"a": 1, "b": "x"}
        assert dst.client[dst.schema][named.name].find_one()["_id"] == "chosen"
    finally:
        target.close()
        source.close()


def test_a_document_over_the_size_limit_fails_its_table_in_one_line(engines):
    src, dst = engines[("memory", "source")], engines[("mongodb", "target")]
    tid = _table(src, [Column("id", "int4", False), Column("big", "bytes")], ("id",))
    src.db.insert(tid, {"id": 1, "big": b"x" * (17 * 1024 * 1024)})
    target = dst.open_target()
    source = src.open_source()
    try:
        (schema,) = source.tables([TableRule(tid.schema, tid.name, "explicit")])
        target.prepare(schema, "drop")
        with pytest.raises(DataError) as failed:
            target.load(schema, source.snapshot(schema))
        assert "16 MB" in str(failed.value) and "\n" not in str(failed.value)
    finally:
        target.close()
        source.close()
