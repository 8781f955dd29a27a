"""A collection's life during capture on the MongoDB source (mongo-java-server, tests/servers_mongodb.py):
created, dropped, and renamed, as schema changes in the change stream (connectors/mongodb/changes.py)."""

from __future__ import annotations

import secrets
import time

import pytest

from connectors.base import DOC_ID, Change, Endpoint, Op, Position, TableId, TableRule
from connectors.ddl import TableDdl
from connectors.errors import DataError
from connectors.registry import open_source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mongo(engines):
    return engines[("mongodb", "source")]


def _read(stream, until, seconds: float = 30) -> list[Change]:
    """Changes of the stream (positions checked to grow) until ``until(changes)`` holds."""
    got: list[Change] = []
    last: Position | None = None
    deadline = time.monotonic() + seconds
    for item in stream:
        if isinstance(item, Change):
            assert last is None or item.position > last, (item, last)
            last = item.position
            got.append(item)
            if until(got):
                return got
        assert time.monotonic() < deadline, f"not seen in {seconds} s: {got}"
    raise AssertionError(got)


def test_a_new_collection_arrives_created_before_its_documents_and_a_dropped_one_as_dropped(mongo):
    database = f"life_{secrets.token_hex(3)}"
    db = mongo.client[database]
    db["kept"].insert_one({"_id": 1})
    db["gone"].insert_one({"_id": 1})
    source = open_source(Endpoint("life", "source", "mongodb", host="127.0.0.1", port=mongo.server.port,
                                  database=database))
    try:
        schemas = source.tables([TableRule(database, "%", "include")])
        at = source.start_cdc("life", schemas)
        stream = source.stream("life", at, schemas)
        db["fresh"].insert_many([{"_id": i, "v": i} for i in range(3)])  # created by its first insert
        db["kept"].insert_one({"_id": 2})
        db["gone"].drop()
        db["fresh"].delete_one({"_id": 0})
        got = _read(stream, lambda c: any(x.op is Op.DELETE and x.table.name == "fresh" for x in c)
                    and any(x.op is Op.DDL and x.table.name == "gone" for x in c))
        fresh = [c for c in got if c.table == TableId(database, "fresh")]
        assert fresh[0].op is Op.DDL and fresh[0].schema.kind is TableDdl.CREATE, fresh
        assert fresh[0].schema.schema.column_names == schemas[0].column_names  # _id and _doc
        assert [(c.op, c.after and c.after[DOC_ID] or c.before[DOC_ID]) for c in fresh[1:]] == [
            (Op.INSERT, "0"), (Op.INSERT, "1"), (Op.INSERT, "2"), (Op.DELETE, "0")]
        (gone,) = [c for c in got if c.table == TableId(database, "gone")]
        assert gone.op is Op.DDL and gone.schema.kind is TableDdl.DROP and gone.schema.schema is None
        assert [c.op for c in got if c.table.name == "kept"] == [Op.INSERT]
        # mongo-java-server neither logs nor reports a rename: the stream stops in one line, not silently
        db["kept"].rename("moved")
        with pytest.raises(DataError, match="neither a drop nor a rename"):
            _read(stream, lambda c: False)
    finally:
        source.close()
        mongo.client.drop_database(database)
