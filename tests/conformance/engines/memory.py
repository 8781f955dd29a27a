"""The memory engine: the oracle every other engine is compared with."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import pytest

from connectors import memory
from connectors.base import Column, Endpoint, TableId, TableSchema, document_row, document_table

from . import PORTABLE, Engine, key_tuple, register
from .postgres import DECLS as NATIVE  # a memory column keeps a native declaration; PostgreSQL's has the limits


@register
class MemoryEngine(Engine):
    name = "memory"
    schema = "public"
    core = True
    doc_type = ""
    doc_source = True

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls()

    def __init__(self) -> None:
        self.database = f"conformance-{secrets.token_hex(4)}"
        self.db = memory.database(self.database)

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"mem-{kind}", kind, "memory", database=self.database)

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        tid = TableId(self.schema, table)
        cols = tuple(Column(n, PORTABLE[t], n not in key, NATIVE[t]) for n, t in columns)
        self.db.create_table(TableSchema(tid, cols, tuple(key), "memory"))
        return tid

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        with self.db.transaction() as tx:
            for op, *args in ops:
                if op == "insert":
                    tx.insert(table, args[0])
                elif op == "update":
                    tx.update(table, key_tuple(args[0]), args[1])
                elif op == "delete":
                    tx.delete(table, key_tuple(args[0]))
                else:
                    tx.truncate(table)

    def create_documents(self, name: str) -> TableId:
        tid = TableId(self.schema, name)
        self.db.create_table(document_table(tid, engine="memory"))
        return tid

    def write_documents(self, table: TableId, ops: Sequence[tuple]) -> None:
        for op, arg in ops:
            if op == "insert":
                self.db.insert(table, document_row(arg["_id"], arg))
            elif op == "replace":
                self.db.update(table, (str(arg["_id"]),), {"_doc": document_row(arg["_id"], arg)["_doc"]})
            else:
                self.db.delete(table, (str(arg),))

    def close(self) -> None:
        memory.drop_database(self.database)
