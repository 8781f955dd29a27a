"""DMS's object-mapping rules on the DynamoDB target (connectors/dynamodb/mapping.py), on dynalite: a key of
six columns mapped onto a partition key and a sort key (the suite's many-types key case, which needs a rule
naming its columns), the items a rule makes, and the rules that cannot serve changes."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

import boto3
import pytest

from connectors.base import Batch, Change, Column, Endpoint, Op, Position, TableId, TableSchema
from connectors.errors import ConfigError, ObjectError
from connectors.registry import open_target

from .engines.dynamodb import DynamoEngine
from .test_cdc import MANY_TYPES_COLUMNS, MANY_TYPES_KEY, Case, keys_of_many_types

pytestmark = pytest.mark.integration


class MappedDynamo(DynamoEngine):
    """The suite's DynamoDB target with the task's object-mapping rules on its endpoint (as a task puts them)."""

    def __init__(self, url: str, rules: list[dict[str, Any]]) -> None:
        super().__init__(url)
        self.rules = rules

    def endpoint(self, kind: str) -> Endpoint:
        ep = super().endpoint(kind)
        return Endpoint(ep.id, ep.kind, ep.engine, extra={**ep.extra, "task.ObjectMappings": json.dumps(self.rules)})


def _rule(rule_id: int, table: str, action: str = "map-record-to-record", **params: Any) -> dict[str, Any]:
    target = params.pop("target_table_name", None)
    rule = {"rule-type": "object-mapping", "rule-id": str(rule_id), "rule-name": str(rule_id), "rule-action": action,
            "object-locator": {"schema-name": "%", "table-name": table},
            "mapping-parameters": {k.replace("_", "-"): v for k, v in params.items()}}
    if target:
        rule["target-table-name"] = target
    return rule


def _client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")


@pytest.mark.parametrize("source", ["postgres", "memory"])
def test_a_key_of_six_columns_mapped_onto_partition_and_sort_keys_finds_its_rows(engines, dynamodb_server, source):
    """tests/conformance/test_cdc.py::test_keys_of_many_types_find_their_rows, with a rule: the partition key
    joins five key columns, the sort key is the sixth; updates (one moving its key) and deletes find items."""
    name = f"keys_{secrets.token_hex(3)}"
    target = MappedDynamo(dynamodb_server.url, [_rule(
        2, "%", target_table_name=name, partition_key_name="pk", sort_key_name="k_date",
        attribute_mappings=[{"target-attribute-name": "pk", "attribute-type": "scalar", "attribute-sub-type": "string",
                             "value": "${k_text}|${k_num}|${k_ts}|${k_uuid}|${k_bytes}"}])])
    keys_of_many_types(Case(engines[(source, "source")], target, columns=MANY_TYPES_COLUMNS, key=MANY_TYPES_KEY))
    client = _client(dynamodb_server.url)
    described = client.describe_table(TableName=name)["Table"]["KeySchema"]
    assert [(k["AttributeName"], k["KeyType"]) for k in described] == [("pk", "HASH"), ("k_date", "RANGE")]
    items = client.scan(TableName=name)["Items"]
    # each item's partition key joins the five columns as their text (numerics and times as the source spells them)
    parts = sorted(i["pk"]["S"].split("|") for i in items)
    assert [(p[0], p[3], p[4]) for p in parts] == [
        ("", "00000003-0000-4000-8000-000000000003", "0300ff"),
        ("plain", "00000004-0000-4000-8000-000000000004", "0400ff"),
        ("é ünïcode ☃", "00000001-0000-4000-8000-000000000001", "0100ff")]
    assert [Decimal(p[1]) for p in parts] == [Decimal("2.25"), 0, Decimal("1.5")]


def _people(name: str) -> TableSchema:
    return TableSchema(TableId("public", name), (Column("id", "int4", False), Column("first", "text"),
                                                 Column("last", "text"), Column("phone", "text"),
                                                 Column("qty", "int4")), ("id",))


def test_record_to_record_and_record_to_document_make_the_items_dms_describes(dynamodb_server):
    suffix = secrets.token_hex(3)
    flat, doc = _people(f"flat_{suffix}"), _people(f"doc_{suffix}")
    made = [{"target-attribute-name": "full_name", "attribute-type": "scalar", "attribute-sub-type": "string",
             "value": "${first} ${last}"},
            {"target-attribute-name": "count", "attribute-type": "scalar", "attribute-sub-type": "number",
             "value": "${qty}"},
            {"target-attribute-name": "contact", "attribute-type": "document", "attribute-sub-type": "dynamodb-map",
             "value": {"M": {"home": {"M": {"phone": {"S": "${phone}"}}}}}}]
    rules = [_rule(3, flat.table.name, target_table_name=f"people_{suffix}", partition_key_name="id",
                   exclude_columns=["first", "last"], attribute_mappings=made),
             _rule(4, doc.table.name, "map-record-to-document", partition_key_name="id", exclude_columns=["phone"])]
    target = MappedDynamo(dynamodb_server.url, rules).open_target()
    row = {"id": 7, "first": "Ann", "last": "Lee", "phone": "555", "qty": 3}
    try:
        for table in (flat, doc):
            target.prepare(table, "drop")
            target.load(table, [_batch([row])])
        target.apply("mapped", {flat: [Change(flat.table, Op.UPDATE, Position("l", 5, 1, "5"), {"id": 7},
                                              {**row, "qty": 4})]})
        # a kept column reads back; excluded ones read back as NULL (they are only in the made attributes)
        assert [r for rows in target.read(flat) for r in rows] == [
            {"id": 7, "first": None, "last": None, "phone": "555", "qty": 4}]
    finally:
        target.close()
    client = _client(dynamodb_server.url)
    (item,) = client.scan(TableName=f"people_{suffix}")["Items"]
    assert item == {"id": {"N": "7"}, "phone": {"S": "555"}, "qty": {"N": "4"}, "full_name": {"S": "Ann Lee"},
                    "count": {"N": "4"}, "contact": {"M": {"home": {"M": {"phone": {"S": "555"}}}}}}
    (item,) = client.scan(TableName=doc.table.name)["Items"]
    assert item == {"id": {"N": "7"}, "_doc": {"M": {"id": {"N": "7"}, "first": {"S": "Ann"}, "last": {"S": "Lee"},
                                                     "qty": {"N": "3"}}}}


def _batch(rows: list[dict[str, Any]]) -> Batch:
    return Batch(len(rows), rows)


def test_rules_that_cannot_serve_changes_or_name_missing_columns_say_so_in_one_line(dynamodb_server):
    suffix = secrets.token_hex(3)
    people = _people(f"bylast_{suffix}")
    by_last = _rule(5, people.table.name, partition_key_name="who", attribute_mappings=[
        {"target-attribute-name": "who", "attribute-type": "scalar", "value": "${last}-${id}"}])
    target = MappedDynamo(dynamodb_server.url, [by_last]).open_target()
    try:
        target.prepare(people, "drop")
        assert target.load(people, [_batch([{"id": 1, "first": "a", "last": "b", "phone": None, "qty": 1}])]) == 1
        with pytest.raises(ObjectError, match=r"object-mapping rule 5 .* uses column\(s\) last outside the table's "
                                              r"key \(id\): changes cannot find their items"):
            target.apply("t", {people: [Change(people.table, Op.DELETE, Position("l", 1, 1, "1"), {"id": 1}, None)]})
    finally:
        target.close()
    wrong = _rule(6, "%", partition_key_name="id", attribute_mappings=[
        {"target-attribute-name": "x", "attribute-type": "scalar", "value": "${nope}"}])
    target = open_target(MappedDynamo(dynamodb_server.url, [wrong]).endpoint("target"))
    try:
        with pytest.raises(ConfigError, match=r"names column\(s\) nope that the table does not have"):
            target.prepare(_people(f"bad_{suffix}"), "drop")
    finally:
        target.close()
