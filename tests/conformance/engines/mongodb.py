"""MongoDB (mongo-java-server, a one-member replica set: tests/servers_mongodb.py): a keyed target of every
table, and a source of schemaless tables in documents mode; one database per test module and role."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import pytest

from connectors.base import Endpoint, TableId

from . import Engine, register


@register
class MongoEngine(Engine):
    name = "mongodb"
    roles = ("target",)  # as a source its collections are documents (doc_source), not tables of typed columns
    pairs = (("postgres", "mongodb"),)
    doc_source = True

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(request.getfixturevalue("mongodb"))

    def __init__(self, server) -> None:
        self.server = server
        self.schema = f"conformance_{secrets.token_hex(4)}"  # a database, as a target's too
        self.client = server.client()

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"mongodb-{kind}", kind, "mongodb", host="127.0.0.1", port=self.server.port,
                        database=self.schema)

    def create_documents(self, name: str) -> TableId:
        self.client[self.schema].create_collection(name)
        return TableId(self.schema, name)

    def write_documents(self, table: TableId, ops: Sequence[tuple]) -> None:
        coll = self.client[table.schema][table.name]
        for op, arg in ops:
            if op == "insert":
                coll.insert_one(dict(arg))
            elif op == "replace":
                coll.replace_one({"_id": arg["_id"]}, dict(arg))
            else:
                coll.delete_one({"_id": arg})

    def close(self) -> None:
        self.client.drop_database(self.schema)
        self.client.close()
