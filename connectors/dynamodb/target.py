"""DynamoDB target (keyed): a table per source table, named as it, its primary key the partition key (and
the sort key for a key of two columns); items written by BatchWriteItem, unprocessed items retried.

A CDC batch is worked out change by change on the items its keys have now (connectors/keyed.py), then each
touched key is written once (its final item, or deleted); each table's checkpoint is put in the table
``awsdms_txn_state`` after every write of the batch was acknowledged. A crash between the two writes the
same items again, which changes nothing.
"""

from __future__ import annotations

import datetime
import json
import time
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
)
from connectors.errors import ConfigError, DataError, DmsError, ObjectError, TransientError
from connectors.keyed import Rows, key_of, work_out_batch
from connectors.object_mapping import object_rules, rule_for
from connectors.store_target import KeyedTarget

from .mapping import TableMap, default_map, rule_map
from .settings import DYNAMO_DB_SETTINGS

CHECKPOINTS = "awsdms_txn_state"
EXCEPTIONS = "awsdms_apply_exceptions"
WRITE_ITEMS = 25  # BatchWriteItem's limit
GET_KEYS = 100  # BatchGetItem's limit
RETRIES = 8


class DynamoTarget(KeyedTarget):
    def __init__(self, endpoint: Endpoint) -> None:
        import boto3
        from botocore.config import Config

        self.ep = endpoint
        s = DYNAMO_DB_SETTINGS.values(endpoint)
        session = boto3.session.Session()
        region = s["Region"] or session.region_name or "us-east-1"
        self.db: Any = session.client("dynamodb", region_name=region, endpoint_url=s["EndpointUrl"] or None,
                                      config=Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=30))
        self.rules = object_rules(endpoint)
        self._maps: dict[TableId, TableMap] = {}

    def _fail(self, exc: BaseException) -> DmsError:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        if isinstance(exc, DmsError):
            return exc
        where = f"dynamodb endpoint {self.ep.id}"
        if isinstance(exc, NoCredentialsError):
            return ConfigError(f"{where}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                               "a profile, for the workers")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            text = exc.response.get("Error", {}).get("Message", str(exc))
            if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
                return ConfigError(f"{where}: {code}: {text}: check the credentials and their DynamoDB rights")
            if code in ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError",
                        "ServiceUnavailable", "RequestLimitExceeded"):
                return TransientError(f"{where}: {code}: {text}")
            if code == "ResourceNotFoundException":
                return ObjectError(f"{where}: {text}: the table is missing; reload the table")
            return DataError(f"{where}: {code}: {text}")
        if isinstance(exc, BotoCoreError):
            return TransientError(f"{where}: {exc}: is the service (EndpointUrl) reachable?")
        return DataError(f"{where}: {exc}")

    def _call(self, name: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, name)(**kwargs)
        except Exception as exc:  # noqa: BLE001 -- every driver error becomes one line of the error tree
            raise self._fail(exc) from exc

    def check(self) -> list[str]:
        try:
            self._call("list_tables", Limit=1)
        except DmsError as exc:
            return [str(exc)]
        return []

    # -- tables ----------------------------------------------------------------------------------

    def _map(self, table: TableSchema) -> TableMap:
        """The table's mapping: its object-mapping rule's (the first matching), else an item per row."""
        found = self._maps.get(table.table)
        if found is None or found.schema != table:
            rule = rule_for(self.rules, table.table)
            found = self._maps[table.table] = rule_map(table, rule) if rule else default_map(table)
        return found

    def _name(self, table: TableSchema) -> str:
        return self._map(table).name

    def _exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.db.describe_table(TableName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise self._fail(exc) from exc
        return True

    def _create(self, name: str, keys: Sequence[tuple[str, str]]) -> None:
        """A table of (attribute, type) keys: the partition key, then the sort key, billed per request."""
        roles = ("HASH", "RANGE")[:len(keys)]
        self._call("create_table", TableName=name, BillingMode="PAY_PER_REQUEST",
                   KeySchema=[{"AttributeName": k, "KeyType": r} for (k, _), r in zip(keys, roles, strict=True)],
                   AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys])
        self.db.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        name = self._name(table)
        keys = self._map(table).keys
        exists = self._exists(name)
        if exists and mode == "drop":
            self._call("delete_table", TableName=name)
            self.db.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
            exists = False
        if not exists:
            self._create(name, keys)
        elif mode == "truncate":
            self._empty(table)

    def _empty(self, table: TableSchema) -> None:
        name = self._name(table)
        keys = [k for k, _ in self._map(table).keys]
        found = [{k: item[k] for k in keys} for item in self._scan(name, keys)]
        self._write(name, [{"DeleteRequest": {"Key": k}} for k in found])

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        if mode != "truncate":
            return []
        found = [t for t in tables if self._exists(self._name(t))]
        for t in found:
            self._empty(t)
        return [f"TRUNCATE_BEFORE_LOAD emptied the {len(found)} selected table(s)"]

    # -- writes ----------------------------------------------------------------------------------

    def _write(self, name: str, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem 25 requests at a time, retrying what the service leaves unprocessed (backing off)."""
        for i in range(0, len(requests), WRITE_ITEMS):
            todo = {name: requests[i:i + WRITE_ITEMS]}
            for attempt in range(RETRIES + 1):
                left = self._call("batch_write_item", RequestItems=todo).get("UnprocessedItems") or {}
                if not left:
                    break
                if attempt == RETRIES:
                    raise TransientError(f"dynamodb endpoint {self.ep.id}: {len(left.get(name, []))} item(s) of "
                                         f"{name} still unprocessed after {RETRIES} retries: raise its capacity")
                todo = left
                time.sleep(min(2.0, 0.05 * 2 ** attempt))

    def _scan(self, name: str, attributes: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {"TableName": name}
        if attributes:
            args["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            args["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
        while True:
            page = self._call("scan", **args)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """Every row as an item (a put replaces an item of the same key, so a chunk loaded again is harmless)."""
        mapped = self._map(table)
        count = 0
        for batch in batches:
            rows = batch.rows()
            self._write(mapped.name, [{"PutRequest": {"Item": mapped.item(r)}} for r in rows])
            count += len(rows)
        return count

    # -- change apply ----------------------------------------------------------------------------

    def _current(self, table: TableSchema, keys: set[tuple]) -> Rows:
        mapped = self._map(table)
        name = mapped.name
        listed = list(keys)
        found: Rows = {}
        for i in range(0, len(listed), GET_KEYS):
            todo: dict[str, Any] = {name: {"Keys": [mapped.key_of(k) for k in listed[i:i + GET_KEYS]],
                                           "ConsistentRead": True}}
            while todo:
                answer = self._call("batch_get_item", RequestItems=todo)
                for item in answer.get("Responses", {}).get(name, []):
                    r = mapped.row(item)
                    found[key_of(table, r)] = r
                todo = answer.get("UnprocessedKeys") or {}
        return found

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        def check(schema: TableSchema) -> None:
            if self._map(schema).cdc_problem:
                raise ObjectError(self._map(schema).cdc_problem)

        plans, conflicts = work_out_batch(changes, self._current, on_conflict, check)
        for schema, _, emptied, final in plans:
            if emptied:
                self._empty(schema)
            mapped = self._map(schema)
            self._write(mapped.name, [
                {"DeleteRequest": {"Key": mapped.key_of(k)}} if r is None
                else {"PutRequest": {"Item": mapped.item(r)}} for k, r in final.items()])
        if plans and not self._exists(CHECKPOINTS):
            self._create(CHECKPOINTS, [("id", "S")])
        for schema, at, _, _ in plans:
            self._call("put_item", TableName=CHECKPOINTS, Item={
                "id": {"S": f"{task}|{schema.table}"}, "task_name": {"S": task},
                "table_name": {"S": str(schema.table)}, "position": {"S": at.encode()},
                "updated_at": {"S": datetime.datetime.now(datetime.UTC).isoformat()}})
        return conflicts

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        if not self._exists(EXCEPTIONS):
            self._create(EXCEPTIONS, [("id", "S")])
        image = change.after if change.after is not None else change.before or {}
        stamp = datetime.datetime.now(datetime.UTC).isoformat()
        self._call("put_item", TableName=EXCEPTIONS, Item={
            "id": {"S": f"{task}|{stamp}|{time.monotonic_ns()}"}, "TASK_NAME": {"S": task},
            "TABLE_OWNER": {"S": table.table.schema}, "TABLE_NAME": {"S": table.table.name},
            "ERROR_TIME": {"S": stamp}, "STATEMENT": {"S": f"{change.op.value} {json.dumps(dict(image), default=str)}"},
            "ERROR": {"S": error}})

    def applied(self, task: str) -> dict[TableId, Position]:
        if not self._exists(CHECKPOINTS):
            return {}
        return {TableId.parse(i["table_name"]["S"]): Position.decode(i["position"]["S"])
                for i in self._scan(CHECKPOINTS) if i["task_name"]["S"] == task}

    def forget(self, task: str) -> list[str]:
        if self._exists(CHECKPOINTS):
            mine = [i["id"] for i in self._scan(CHECKPOINTS) if i["task_name"]["S"] == task]
            self._write(CHECKPOINTS, [{"DeleteRequest": {"Key": {"id": k}}} for k in mine])
        return []

    # -- read back (validation) ------------------------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        mapped = self._map(table)
        rows = sorted((mapped.row(i) for i in self._scan(mapped.name)), key=lambda r: key_of(table, r))
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def close(self) -> None:
        self.db.close()
