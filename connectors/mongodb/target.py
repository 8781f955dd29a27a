"""MongoDB / DocumentDB target (keyed): each row a document upserted or deleted by ``_id`` (connectors/mongodb/
documents.py), a collection per table in the endpoint's database (else one named after the source schema).

A CDC batch is worked out here first, change by change as the Target contract states the result (the rows
its keys have now read first, the apply-error policies checked against them), then each key it touched is
written once, to its final document or deleted, by one ordered bulk write per table; each table's checkpoint
is written after the server acknowledged those writes (collection ``awsdms_txn_state``). A crash between the
two replays writes that are already there, which changes nothing (the keyed kind's promise).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from connectors.base import (
    Batch,
    Change,
    Changes,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    Position,
    PrepMode,
    TableId,
    TableSchema,
    parts_of,
)
from connectors.errors import DataError
from connectors.keyed import work_out_batch
from connectors.store_target import KeyedTarget

from . import documents as D
from .connect import classify, client

CHECKPOINTS = "awsdms_txn_state"
EXCEPTIONS = "awsdms_apply_exceptions"
LOAD_DOCS = 1_000  # documents per bulk write of a full load
MAX_DOCUMENT = 16 * 1024 * 1024  # MongoDB's and DocumentDB's limit on one document


def sized(table: TableSchema, doc: dict[str, Any]) -> dict[str, Any]:
    """The document, or a DataError in one line when it is over the server's size limit (checked here: a
    server may just drop the connection)."""
    from bson import encode

    size = len(encode(doc))
    if size > MAX_DOCUMENT:
        raise DataError(f"the document of {table.table} with _id {doc.get('_id')!r} is {size / 2**20:.1f} MB, over "
                        "MongoDB's 16 MB limit: exclude or shorten the column that makes it (a LOB setting, "
                        "a transformation), or keep the table elsewhere")
    return doc


class MongoTarget(KeyedTarget):
    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.client = client(endpoint)

    def _fail(self, exc: BaseException):
        return classify(exc, self.ep.where())

    def _db(self, table: TableId):
        return self.client[self.ep.database or table.schema]

    def _coll(self, table: TableId):
        return self._db(table)[table.name]

    def _control(self):
        return self.client[self.ep.database or "awsdms_control"]

    def check(self) -> list[str]:
        try:
            self.client.admin.command("ping")
        except Exception as exc:  # noqa: BLE001 -- every driver error becomes one line
            return [str(self._fail(exc))]
        return []

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """A collection needs no definition: "drop" drops it, "truncate" empties it, "keep" leaves it."""
        try:
            if mode == "drop":
                self._coll(table.table).drop()
            elif mode == "truncate":
                self._coll(table.table).delete_many({})
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        if mode != "truncate":
            return []
        try:
            found = [t for t in tables if t.table.name in self._db(t.table).list_collection_names()]
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        for t in found:
            self.prepare(t, "truncate")
        return [f"TRUNCATE_BEFORE_LOAD emptied the {len(found)} selected table(s) (collections)"]

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """Documents in unordered bulk writes; a chunk loaded again replaces its documents (upserts), so a
        reload is harmless."""
        from pymongo import InsertOne, ReplaceOne

        coll = self._coll(table.table)
        again = within is not None and not within.whole
        count = 0
        try:
            for batch in batches:
                docs = [sized(table, D.document(table, r)) for r in batch.rows()]
                for i in range(0, len(docs), LOAD_DOCS):
                    part = docs[i:i + LOAD_DOCS]
                    ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) if again else InsertOne(d) for d in part]
                    if ops:
                        coll.bulk_write(ops, ordered=False)
                    count += len(part)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        return count

    # -- change apply ----------------------------------------------------------------------------

    def _current(self, table: TableSchema, keys: set[tuple]) -> dict[tuple, dict[str, Any] | None]:
        """The rows the keys have now."""
        ids = [i for k in keys for i in D.ids_of_key(table, k)]
        found: dict[tuple, dict[str, Any] | None] = {}
        for i in range(0, len(ids), 1000):
            for doc in self._coll(table.table).find({"_id": {"$in": ids[i:i + 1000]}}):
                r = D.row(table, doc)
                found[D.key(table, r)] = r
        return found

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        parts = list(parts_of(changes))  # a batch that fails to arrive fails as itself, not as this endpoint's
        try:
            plans, conflicts = work_out_batch(parts, self._current, on_conflict)
            for schema, _, emptied, final in plans:
                self._write(schema, emptied, final)
            for schema, at, _, _ in plans:
                self._control()[CHECKPOINTS].replace_one(
                    {"_id": f"{task}|{schema.table}"},
                    {"task_name": task, "table_name": str(schema.table), "position": at.encode(),
                     "updated_at": datetime.datetime.now(datetime.UTC)}, upsert=True)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        return conflicts

    def _write(self, schema: TableSchema, emptied: bool, final: Mapping[tuple, dict[str, Any] | None]) -> None:
        from pymongo import DeleteMany, ReplaceOne

        coll = self._coll(schema.table)
        if emptied:
            coll.delete_many({})
        ops: list[Any] = []
        for k, r in final.items():
            ops.append(DeleteMany({"_id": {"$in": D.ids_of_key(schema, k)}}))
            if r is not None:
                doc = sized(schema, D.document(schema, r))
                ops.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        for i in range(0, len(ops), LOAD_DOCS):
            coll.bulk_write(ops[i:i + LOAD_DOCS], ordered=True)

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        image = change.after if change.after is not None else change.before or {}
        try:
            self._control()[EXCEPTIONS].insert_one({
                "TASK_NAME": task, "TABLE_OWNER": table.table.schema, "TABLE_NAME": table.table.name,
                "ERROR_TIME": datetime.datetime.now(datetime.UTC), "STATEMENT": f"{change.op.value} {dict(image)!r}",
                "ERROR": error})
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc

    def applied(self, task: str) -> dict[TableId, Position]:
        try:
            found = list(self._control()[CHECKPOINTS].find({"task_name": task}))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        return {TableId.parse(d["table_name"]): Position.decode(d["position"]) for d in found}

    def forget(self, task: str) -> list[str]:
        try:
            self._control()[CHECKPOINTS].delete_many({"task_name": task})
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        try:
            rows = sorted((D.row(table, d) for d in self._coll(table.table).find()),
                          key=lambda r: D.key(table, r))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc) from exc
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def close(self) -> None:
        self.client.close()
