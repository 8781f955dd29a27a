"""The MongoDB source on a real wire-protocol server (mongo-java-server, tests/servers_mongodb.py): BSON values
through document mode into PostgreSQL and back, table mode, resume from the target's checkpoint, and the
errors a user meets (not a replica set, a position the oplog no longer holds, a refused auth mechanism)."""

from __future__ import annotations

import datetime
import secrets
import time
import uuid
from decimal import Decimal

import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Timestamp

from connectors.base import DOC_BODY, DOC_ID, Change, Endpoint, Positions, TableId, TableRule
from connectors.errors import ConfigError, PositionLost
from connectors.mongodb.values import from_json
from connectors.registry import open_source

from .engines import ENGINES
from .pipeline import Pipeline

pytestmark = pytest.mark.integration

UTC = datetime.UTC
OID = ObjectId("65a1b2c3d4e5f60718293a4b")
DOCS = [
    {"_id": OID, "when": datetime.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC),
     "price": Decimal128("12345678901234567890.123456789"), "blob": Binary(b"\x00\xff\x10"),
     "uuid": Binary.from_uuid(uuid.UUID("12345678-1234-5678-1234-567812345678")),
     "nested": {"list": [1, "two", {"three": [3.5, None, True]}], "empty": {}}, "big": Int64(2**40)},
    {"_id": "text-id", "ts": datetime.datetime(1969, 7, 20, 20, 17, tzinfo=UTC), "unicode": "Grüße 😀 \"q\"\n"},
    # (not -0.0 nor 1e308: PostgreSQL's jsonb keeps numbers as numeric, giving back 0 and 1 and 308 zeros)
    {"_id": 7, "half": -2.5, "tiny": 1.25e-10, "long": Int64(-(2**62))},
]


@pytest.fixture(scope="module")
def mongo(engines):
    return engines[("mongodb", "source")]


def _endpoint(server, database: str, **settings: str) -> Endpoint:
    return Endpoint("mongo-src", "source", "mongodb", host="127.0.0.1", port=server.port, database=database,
                    extra=settings)


def _docs(rows) -> dict:
    return {r[DOC_ID]: from_json(r[DOC_BODY]) if isinstance(r[DOC_BODY], str) else r[DOC_BODY] for r in rows}


def _pipeline(engines, mongo, target: str, table: TableId, task: str) -> Pipeline:
    return Pipeline(mongo, engines[(target, "target")], table, task).open()


def test_bson_values_survive_document_mode_into_postgres_by_load_and_by_changes(engines, mongo):
    table = mongo.create_documents(f"bson_{secrets.token_hex(3)}")
    mongo.write_documents(table, [("insert", d) for d in DOCS[:2]])
    p = _pipeline(engines, mongo, "postgres", table, f"bson{secrets.token_hex(3)}")
    try:
        p.start_cdc()
        assert p.load() == 2
        changed = {**DOCS[1], "added": Decimal128("-0.001"), "at": datetime.datetime(2030, 1, 1, tzinfo=UTC)}
        mongo.write_documents(table, [("insert", DOCS[2]), ("replace", changed), ("delete", OID)])
        assert p.replicate(3) == 3
        got = _docs(p.target_rows())
        assert got == {"text-id": changed, "7": DOCS[2]}  # every value back as itself from the target's jsonb
    finally:
        p.close()


def test_table_mode_makes_columns_from_the_sampled_documents_and_drops_later_fields(engines, mongo):
    table = mongo.create_documents(f"flat_{secrets.token_hex(3)}")
    mongo.write_documents(table, [
        ("insert", {"_id": 1, "name": "a", "n": 1, "address": {"city": "Köln", "geo": {"lat": 1.5}}}),
        ("insert", {"_id": 2, "name": "b", "n": 2**40, "when": datetime.datetime(2024, 1, 1, tzinfo=UTC),
                    "price": Decimal128("9.99"), "tags": ["x", "y"]}),
    ])
    source = open_source(_endpoint(mongo.server, table.schema, NestingLevel="one", DocsToInvestigate="2"))
    try:
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        assert [(c.name, c.type) for c in schema.columns] == [
            ("_id", "string"), ("name", "text"), ("n", "int8"), ("address.city", "text"),
            ("address.geo.lat", "float8"), ("when", "timestamptz"), ("price", "numeric"), ("tags", "json")]
        mongo.write_documents(table, [("insert", {"_id": 3, "name": "c", "later": "not in the sample"})])
        rows = {r["_id"]: r for b in source.snapshot(schema) for r in b.rows()}
        assert rows["1"]["address.geo.lat"] == 1.5 and rows["2"]["price"] == Decimal("9.99")
        assert rows["2"]["tags"] == '["x", "y"]' and rows["2"]["when"] == "2024-01-01T00:00:00+00:00"
        assert rows["3"] == {c.name: None for c in schema.columns} | {"_id": "3", "name": "c"}
    finally:
        source.close()


def test_capture_resumes_from_the_targets_checkpoint_after_a_stop(engines, mongo):
    table = mongo.create_documents(f"resume_{secrets.token_hex(3)}")
    mongo.write_documents(table, [("insert", {"_id": i, "v": i}) for i in range(3)])
    task = f"resume{secrets.token_hex(3)}"
    p = _pipeline(engines, mongo, "memory", table, task)
    p.start_cdc()
    assert p.load() == 3
    mongo.write_documents(table, [("insert", {"_id": 10, "v": 10}), ("delete", 0)])
    assert p.replicate(2) == 2
    checkpoint = p.checkpoint()
    assert checkpoint is not None and ":" in checkpoint.token  # the resume token of the last change applied
    p.close()  # stopped: changes go on meanwhile
    mongo.write_documents(table, [("replace", {"_id": 1, "v": "one"}), ("insert", {"_id": 11, "v": 11})])
    p.open()
    p.p0 = checkpoint  # a worker resumes from the target's checkpoint
    try:
        assert p.replicate(2) == 2
        assert _docs(p.target_rows()) == {"1": {"_id": 1, "v": "one"}, "2": {"_id": 2, "v": 2},
                                          "10": {"_id": 10, "v": 10}, "11": {"_id": 11, "v": 11}}
    finally:
        p.close()


def test_a_position_the_oplog_no_longer_holds_is_lost(mongo):
    table = mongo.create_documents(f"lost_{secrets.token_hex(3)}")
    source = open_source(mongo.endpoint("source"))
    try:
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        p0 = source.start_cdc("lost", [schema])
        time.sleep(1.1)  # the oplog is cut at a later second (the check is by the second)
        mongo.write_documents(table, [("insert", {"_id": 1})])
        # the oplog rolls over: a capped collection on a real server; here its oldest entries are removed
        cut = Timestamp(int(time.time()), 0)
        mongo.client.local["oplog.rs"].delete_many({"ts": {"$lt": cut}})
        mongo.write_documents(table, [("insert", {"_id": 2})])
        assert "older than the oldest change the oplog" in source.can_resume("lost", Positions([p0]))
        with pytest.raises(PositionLost, match="reload the task"):
            next(source.stream("lost", p0, [schema]))
    finally:
        source.close()


def test_a_server_outside_a_replica_set_is_refused_for_capture_in_one_line(mongodb_standalone):
    source = open_source(Endpoint("alone", "source", "mongodb", host="127.0.0.1", port=mongodb_standalone.port,
                                  database="db"))
    try:
        assert source.check(cdc=False) == []
        (problem,) = source.check(cdc=True)
        assert "is not a replica set" in problem and "--replSet" in problem and "\n" not in problem
        with pytest.raises(ConfigError, match="is not a replica set"):
            source.start_cdc("alone", [])
    finally:
        source.close()


def test_the_mongodb_cr_auth_mechanism_is_refused_naming_the_fix(mongodb):
    ep = Endpoint("cr", "source", "mongodb", host="127.0.0.1", port=mongodb.port, database="db", user="u",
                  password="p", extra={"AuthMechanism": "mongodb_cr"})
    with pytest.raises(ConfigError, match="use scram_sha_1 or default"):
        open_source(ep)


def test_mongodb_is_registered_as_a_documents_source():
    assert ENGINES["mongodb"].doc_source


def test_table_mode_changes_carry_the_sampled_columns_only(mongo):
    table = mongo.create_documents(f"flatcdc_{secrets.token_hex(3)}")
    mongo.write_documents(table, [("insert", {"_id": 1, "name": "a", "address": {"city": "Köln"}})])
    source = open_source(_endpoint(mongo.server, table.schema, NestingLevel="one"))
    try:
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        p0 = source.start_cdc("flatcdc", [schema])
        mongo.write_documents(table, [("insert", {"_id": 2, "name": "b", "new": "dropped"}),
                                      ("replace", {"_id": 1, "name": "a2", "address": {"city": "Bonn"}}),
                                      ("delete", 2)])
        got = []
        for item in source.stream("flatcdc", p0, [schema]):
            if isinstance(item, Change):
                got.append((item.op.value, item.before, item.after))
            if len(got) == 3:
                break
        assert got == [("insert", None, {"_id": "2", "name": "b", "address.city": None}),
                       ("update", {"_id": "1"}, {"_id": "1", "name": "a2", "address.city": "Bonn"}),
                       ("delete", {"_id": "2"}, None)]
    finally:
        source.close()


def test_segments_of_object_ids_cover_the_collection_once_and_other_identities_load_whole(mongo):
    """DMS's autosegmentation (Source.segments): ranges of ObjectIds of about equal documents, each read by an
    _id range query, together every document once; a collection of other identities is one range."""
    from connectors.base import KeyRange

    table = mongo.create_documents(f"seg_{secrets.token_hex(3)}")
    mongo.write_documents(table, [("insert", {"_id": ObjectId(), "n": i}) for i in range(103)])
    mixed = mongo.create_documents(f"segmixed_{secrets.token_hex(3)}")
    mongo.write_documents(mixed, [("insert", {"_id": i if i % 2 else ObjectId(), "n": i}) for i in range(10)])
    source = mongo.open_source()
    try:
        (schema,) = source.tables([TableRule(table.schema, table.name, "explicit")])
        ranges = source.segments(schema, 4)
        assert len(ranges) == 4 and ranges[0].after is None and ranges[-1].upto is None
        sizes = [sum(b.count for b in source.snapshot(schema, within=r)) for r in ranges]
        assert sizes == [25, 26, 26, 26]
        ids = [row[DOC_ID] for r in ranges for b in source.snapshot(schema, within=r) for row in b.rows()]
        assert len(ids) == len(set(ids)) == 103
        assert source.split(schema, 50) == source.segments(schema, 3)
        (other,) = source.tables([TableRule(mixed.schema, mixed.name, "explicit")])
        assert source.segments(other, 4) == [KeyRange()]
    finally:
        source.close()
