"""DMS's JSON records for stream targets: one message per row change, ``data`` + ``metadata``
(/work/shared/reference/dms-formats.md, section 7; AWS DMS's pages on its Kafka and Kinesis targets).

A data record::

    {"data": {"id": 1, "name": "a"},
     "metadata": {"timestamp": "2026-12-07T01:02:03.456789Z", "record-type": "data", "operation": "insert",
                  "partition-key-type": "schema-table", "schema-name": "public", "table-name": "items"}}

- ``operation`` is ``load`` (full load), ``insert``, ``update`` (``data`` is the new image) or ``delete``
  (``data`` is the old image: its key at least).
- ``partition-key-type`` is ``primary-key`` for the full load and ``schema-table`` for changes, unless an
  object-mapping rule says otherwise (``RecordSettings.cdc_partition``); the partition key is the row's key
  values joined by ``.`` (prefixed by ``schema.table.`` with PartitionIncludeSchemaTable), or ``schema.table``.
  ``partition-key-value`` is shown with IncludePartitionValue.
- IncludeTransactionDetails adds ``transaction-id``, ``transaction-record-id``, ``prev-transaction-id``,
  ``prev-transaction-record-id``, ``commit-timestamp`` and ``stream-position`` (the source position's token).
- With BeforeImageSettings the record of an update or a delete has the old values under ``FieldName``.
- Values: numbers as JSON numbers, exact numerics as strings (``"12.50"``: JSON numbers lose digits), NaN
  and infinities as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, bytes as hexadecimal with ``0x`` (without it
  under NoHexPrefix), everything else (dates, times, JSON, UUIDs) as the text the row carries. NULLs and
  empty strings are left out unless IncludeNullAndEmpty (DMS's default), so a reader cannot tell them apart.
- Control records (``record-type`` ``control``, partition key ``schema.table``): ``create-table`` with the
  table's definition (IncludeControlDetails), ``drop-table`` when a load starts afresh and ``truncate-table``
  when the source empties a table (OpenDMS sends these two always: a consumer folding the stream into rows
  needs them; DMS has no ``truncate-table``), and a source's DDL (IncludeTableAlterOperations, see
  ``schema_change``), in order with the data records around it.

Each record also carries, outside the JSON (Kafka headers, or whatever the store has), its source position
(``Record.position``: the identity of a duplicate after an at-least-once replay) and, for an update that
changes the key, the old key (``Record.old_key``), so that ``Fold`` turns a stream back into rows.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from connectors.base import Change, Column, Op, Row, TableSchema
from connectors.positions import Position

FORMATS = ("json", "json-unformatted")
PARTITION_TYPES = ("primary-key", "schema-table")
BEFORE_IMAGE_COLUMNS = ("pk-only", "non-lob", "all")
_LOB_TYPES = ("bytes", "text", "json")  # value classes DMS treats as LOBs for ColumnFilter non-lob


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """The message keys of DMS's KafkaSettings/KinesisSettings, and BeforeImageSettings."""

    message_format: str = "json"
    include_transaction_details: bool = False
    include_partition_value: bool = False
    partition_include_schema_table: bool = False
    include_table_alter_operations: bool = False
    include_control_details: bool = False
    include_null_and_empty: bool = False
    no_hex_prefix: bool = False
    before_image_field: str = ""  # BeforeImageSettings.FieldName when EnableBeforeImage, else ""
    before_image_columns: str = "pk-only"  # BeforeImageSettings.ColumnFilter
    cdc_partition: str = "schema-table"  # partition-key-type of change records

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RecordSettings:
        """From a settings object's values by DMS's key names (absent keys: DMS's defaults)."""
        def flag(name: str) -> bool:
            return bool(values.get(name) or False)

        return cls(message_format=values.get("MessageFormat") or "json",
                   include_transaction_details=flag("IncludeTransactionDetails"),
                   include_partition_value=flag("IncludePartitionValue"),
                   partition_include_schema_table=flag("PartitionIncludeSchemaTable"),
                   include_table_alter_operations=flag("IncludeTableAlterOperations"),
                   include_control_details=flag("IncludeControlDetails"),
                   include_null_and_empty=flag("IncludeNullAndEmpty"),
                   no_hex_prefix=flag("NoHexPrefix"))

    def with_before_image(self, settings: Mapping[str, Any] | None) -> RecordSettings:
        """With a task's BeforeImageSettings object ({EnableBeforeImage, FieldName, ColumnFilter}) applied."""
        if not settings or not settings.get("EnableBeforeImage"):
            return self
        return replace(self, before_image_field=settings.get("FieldName") or "",
                       before_image_columns=settings.get("ColumnFilter") or "pk-only")


ROUTE_TYPES = ("primary-key", "schema-table", "attribute-name", "transaction-id")


@dataclass(frozen=True, slots=True)
class Route:
    """An object-mapping rule's partitioning of one table: ``mapping-parameters.partition-key-type`` (one of
    ROUTE_TYPES) and, for ``attribute-name``, ``partition-key-name``, the column whose value is the key."""

    key_type: str = "schema-table"
    attribute: str = ""


@dataclass(slots=True)  # one per row change: a frozen dataclass costs four times as much to make
class Record:
    key: str  # the partition key
    value: bytes  # the JSON message
    position: str = ""  # Position.encode() of a change ("" for a load record)
    old_key: str = ""  # an update that moved its row: the old key's values, as JSON
    kind: str = "data"  # record-type


_clock: tuple[int, str] = (-1, "")  # the last whole second and its text: strftime once a second, not per record


def _now() -> str:
    global _clock
    now = time.time()
    second = int(now)
    clock = _clock  # one read: another thread may replace it meanwhile
    if clock[0] != second:
        clock = _clock = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{clock[1]}.{int((now - second) * 1_000_000):06d}Z"


def _time(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _nested(doc: Mapping[str, Any]) -> bytes:
    """An object as MessageFormat json spells it one level down: tab-indented, each line one tab further."""
    return _tabbed(orjson.dumps(doc, option=orjson.OPT_INDENT_2)).replace(b"\n", b"\n\t")


def _tabbed(text: bytes) -> bytes:
    """orjson's two-space indentation as DMS's MessageFormat json has it, a tab a level. A JSON string holds
    no raw newline or tab, so every newline and tab followed by spaces is indentation."""
    text = text.replace(b"\n  ", b"\n\t")
    while b"\t  " in text:
        text = text.replace(b"\t  ", b"\t\t")
    return text


_TRUNCATE, _DDL, _DELETE, _UPDATE = Op.TRUNCATE, Op.DDL, Op.DELETE, Op.UPDATE  # per change: a global is cheaper
_AS_THEY_ARE = frozenset({int, str, bool, type(None)})  # exact types a record carries unchanged


class Records:
    """Builds the records of one task's tables; keeps the previous change's transaction fields."""

    def __init__(self, settings: RecordSettings) -> None:
        self.settings = settings
        self._indent = "\t" if settings.message_format == "json" else None
        self._prev: tuple[Any, int] | None = None
        # Without per-record metadata (transaction details), a record is its data's JSON spliced between bytes
        # kept per table, operation and key type (_splice), the same bytes as dumping the whole record
        self._spliced = not settings.include_transaction_details
        self._tails: dict[tuple[int, str, str], tuple[TableSchema, bytes]] = {}  # by id(schema): no hashing of it
        self._image_key = orjson.dumps(settings.before_image_field) if settings.before_image_field else b""
        # The pieces a spliced record is made of, in the message format's spelling: an object one level down,
        # the bytes that open it (cut from the metadata's tail), the before image's separator, the frame
        if self._indent:
            self._object, self._opening, self._image_sep = _nested, 4, b",\n\t" + self._image_key + b": "
            self._frame = b'{\n\t"data": %b,\n\t"metadata": {\n\t\t"timestamp": "%b",\n\t\t%b\n}'
        else:
            self._object, self._opening, self._image_sep = orjson.dumps, 1, b"," + self._image_key + b":"
            self._frame = b'{"data":%b,"metadata":{"timestamp":"%b",%b}'
        self._table_keys: dict[int, tuple[TableSchema, str]] = {}  # id(schema) -> (schema, "schema.table")

    # -- values ------------------------------------------------------------------------------------

    def value(self, value: Any) -> Any:
        if type(value) in _AS_THEY_ARE:
            return value
        if type(value) is Decimal:  # the commonest of the rest (numeric columns)
            return str(value)
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            return value
        if isinstance(value, float):
            if math.isnan(value):
                return "NaN"
            return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return ("" if self.settings.no_hex_prefix else "0x") + bytes(value).hex().upper()
        return str(value)

    def data(self, row: Row) -> dict[str, Any]:
        keep = self.settings.include_null_and_empty
        value = self.value
        return {name: v if type(v) in _AS_THEY_ARE else value(v) for name, v in row.items()
                if keep or (v is not None and v != "")}

    def _dumps(self, doc: Mapping[str, Any]) -> bytes:
        try:  # the same bytes as below (bar an exponent's spelling: 1e-7, not 1e-07), several times sooner
            if not self._indent:
                return orjson.dumps(doc)
            return _tabbed(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        except (TypeError, orjson.JSONEncodeError):  # e.g. a lone surrogate, an int over 64 bits
            pass
        separators = (",", ": ") if self._indent else (",", ":")  # json-unformatted: no space either
        # A lone surrogate (a SQLite source can hold one) has no UTF-8 form: it goes as the JSON escape that
        # ensure_ascii would write (\udc80), which a reader decodes back to the same string
        return json.dumps(doc, ensure_ascii=False, indent=self._indent, separators=separators,
                          allow_nan=False).encode("utf-8", "backslashreplace")

    # -- partition keys ----------------------------------------------------------------------------

    def key_of(self, schema: TableSchema, row: Row) -> str:
        values = [str(self.value(row.get(c))) for c in schema.key] or [str(schema.table)]
        if self.settings.partition_include_schema_table:
            values = [schema.table.schema, schema.table.name, *values]
        return ".".join(values)

    # -- records -----------------------------------------------------------------------------------

    def _metadata(self, schema: TableSchema, operation: str, kind: str, key_type: str, key: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"timestamp": _now(), "record-type": kind, "operation": operation,
                                "partition-key-type": key_type}
        if self.settings.include_partition_value and key_type != "schema-table":
            meta["partition-key-value"] = key
        meta["schema-name"] = schema.table.schema
        meta["table-name"] = schema.table.name
        return meta

    def _key(self, schema: TableSchema, row: Row, key_type: str, route: Route | None, txid: Any = None
             ) -> tuple[str, str]:
        """(partition-key-type, partition key) of a record: an object-mapping rule's ``route`` where given."""
        if route is not None:
            key_type = route.key_type
            if key_type == "attribute-name":
                return key_type, str(self.value(row.get(route.attribute)))
            if key_type == "transaction-id":
                return key_type, str(txid if txid is not None else "")
        if key_type == "primary-key":
            return key_type, self.key_of(schema, row)
        return "schema-table", str(schema.table)

    def _splice(self, schema: TableSchema, operation: str, key_type: str, key: str, data: dict[str, Any],
                image: dict[str, Any] | None) -> bytes | None:
        """A data record's bytes as orjson would dump it whole, formatted or not (None: what orjson cannot dump,
        or a setting that needs the whole document)."""
        if not self._spliced:
            return None
        try:
            body = self._object(data)
            if image is not None:
                body += self._image_sep + self._object(image)
            varies = self.settings.include_partition_value and key_type != "schema-table"
            known = None if varies else self._tails.get((id(schema), operation, key_type))
            if known is not None and known[0] is schema:
                tail = known[1]
            else:
                meta = self._metadata(schema, operation, "data", key_type, key)
                del meta["timestamp"]
                tail = self._object(meta)[self._opening:]  # '"record-type": ...' to the metadata's closing brace
                if not varies:
                    self._tails[(id(schema), operation, key_type)] = (schema, tail)
        except (TypeError, orjson.JSONEncodeError):
            return None
        return self._frame % (body, _now().encode(), tail)

    def load(self, schema: TableSchema, row: Row, *, route: Route | None = None) -> Record:
        key_type, key = self._key(schema, row, "primary-key", route)
        data = self.data(row)
        value = self._splice(schema, "load", key_type, key, data, None)
        if value is None:
            meta = self._metadata(schema, "load", "data", key_type, key)
            value = self._dumps({"data": data, "metadata": meta})
        return Record(key, value)

    def change(self, schema: TableSchema, change: Change, previous: Row | None = None, *,
               route: Route | None = None) -> Record | None:
        """The record of one change (None for a change that has none: a column change without
        IncludeTableAlterOperations), keyed as ``route`` says (an object-mapping rule) or by the settings.
        ``previous``: nothing (the before image of an update is the change's)."""
        op = change.op
        if op is _TRUNCATE:
            return self.control(schema, "truncate-table", position=change.position)
        if op is _DDL:
            return self.schema_change(schema, change) if self.settings.include_table_alter_operations else None
        row = (change.before if op is _DELETE else change.after) or {}
        if route is None and self.settings.cdc_partition == "schema-table":  # DMS's default, most changes
            key_type = "schema-table"
            known = self._table_keys.get(id(schema))
            if known is not None and known[0] is schema:
                key = known[1]
            else:
                key = str(schema.table)
                self._table_keys[id(schema)] = (schema, key)
        else:
            key_type, key = self._key(schema, row, self.settings.cdc_partition, route,
                                      change.txid if change.txid is not None else change.position.major)
        data = self.data(row)
        image = self.before_image(schema, change) if self._image_key else None
        operation = op.value
        value = self._splice(schema, operation, key_type, key, data, image)
        if value is None:
            meta = self._metadata(schema, operation, "data", key_type, key)
            if self.settings.include_transaction_details:
                self._transaction(meta, change)
            doc: dict[str, Any] = {"data": data}
            if image is not None:
                doc[self.settings.before_image_field] = image
            doc["metadata"] = meta
            value = self._dumps(doc)
        old_key = ""
        if op is _UPDATE and change.before:
            old = [self.value(change.before.get(c)) for c in schema.key]
            if old != [self.value((change.after or {}).get(c)) for c in schema.key]:
                old_key = json.dumps(old, ensure_ascii=False)
        return Record(key, value, change.position.encode(), old_key)

    def _transaction(self, meta: dict[str, Any], change: Change) -> None:
        txid: Any = change.txid if change.txid is not None else change.position.major
        if isinstance(txid, str) and txid.isdigit():
            txid = int(txid)
        meta["transaction-id"] = txid
        meta["transaction-record-id"] = change.position.minor
        if self._prev is not None:
            meta["prev-transaction-id"], meta["prev-transaction-record-id"] = self._prev
        meta["commit-timestamp"] = _time(change.commit_time)
        meta["stream-position"] = change.position.token
        self._prev = (txid, change.position.minor)

    def before_image(self, schema: TableSchema, change: Change) -> dict[str, Any] | None:
        if not self.settings.before_image_field or change.op not in (Op.UPDATE, Op.DELETE) or not change.before:
            return None
        which = self.settings.before_image_columns
        if which == "pk-only":
            names = set(schema.key)
        elif which == "non-lob":
            names = {c.name for c in schema.columns if c.type not in _LOB_TYPES}
        else:
            names = {c.name for c in schema.columns}
        return {n: self.value(v) for n, v in change.before.items() if n in names}

    def control(self, schema: TableSchema, operation: str, *, task: str = "", position: Position | None = None,
                body: Mapping[str, Any] | None = None) -> Record:
        key = f"{task}.{schema.table}" if task else str(schema.table)
        meta = self._metadata(schema, operation, "control", "task-id" if task else "schema-table", key)
        doc = {"control": dict(body or {}), "metadata": meta}
        return Record(key, self._dumps(doc), position.encode() if position else "", kind="control")

    def schema_change(self, schema: TableSchema, change: Change) -> Record:
        """DMS's control record of a source's DDL (IncludeTableAlterOperations): ``create-table``, ``drop-table``,
        ``rename-table``, one column's ``add-column``, ``drop-column``, ``rename-column`` or
        ``column-type-change``, or ``change-columns`` for several at once; each but a drop carries the table's
        new ``table-def``, so a consumer learns the shape of the records that follow."""
        ddl = change.schema
        kind = ddl.kind.value if ddl is not None else "alter"
        if kind == "create":  # a table created during CDC: its definition, in order before its rows
            return self.control(schema, "create-table", position=change.position,
                                body={"table-def": _table_def(schema)})
        body: dict[str, Any] = {}
        operation = {"drop": "drop-table", "rename": "rename-table"}.get(kind, "change-columns")
        if kind == "rename":
            body["old-table-name"] = change.table.name
            body["old-schema-name"] = change.table.schema
        steps = ddl.columns if ddl is not None else ()
        if kind == "alter" and len(steps) == 1:
            step = steps[0]
            operation = _COLUMN_OPERATIONS[step.op.value]
            body["column-name"] = step.column.name if step.column is not None else step.name
            if step.op.value == "rename":
                body["old-column-name"] = step.name
        if kind == "alter":
            body["columns"] = list((change.after or {}).get("columns", schema.column_names))
        if kind != "drop":
            body["table-def"] = _table_def(schema)
        return self.control(schema, operation, position=change.position, body=body)

    def create_table(self, schema: TableSchema, task: str = "") -> Record:
        return self.control(schema, "create-table", task=task, body={"table-def": _table_def(schema)})


_COLUMN_OPERATIONS = {"add": "add-column", "drop": "drop-column", "rename": "rename-column",
                      "retype": "column-type-change"}


def _table_def(schema: TableSchema) -> dict[str, Any]:
    return {"columns": {c.name: _definition(c) for c in schema.columns}, "primary-key": list(schema.key)}


def _definition(column: Column) -> dict[str, Any]:
    dms = column.dms or column.type.upper()
    name, _, params = dms.partition("(")
    out: dict[str, Any] = {"type": name}
    numbers = [p.strip() for p in params.rstrip(")").split(",") if p.strip().isdigit()]
    if numbers and name in ("STRING", "WSTRING", "BYTES"):
        out["length"] = int(numbers[0])
    elif numbers and name == "NUMERIC":
        out["precision"] = int(numbers[0])
        if len(numbers) > 1:
            out["scale"] = int(numbers[1])
    out["nullable"] = column.nullable
    return out


# -- reading a stream back: the latest image per key -------------------------------------------------

_FLOATS = ("float4", "float8")
_INTS = ("int2", "int4", "int8")


def decode_value(column: Column, value: Any) -> Any:
    """A record's value of a column -> the Python value the row carried (the inverse of Records.value)."""
    if value is None:
        return None
    kind = column.type
    if kind in _FLOATS:
        return float(value)  # "NaN", "Infinity", "-Infinity" included
    if kind == "numeric":
        return Decimal(str(value))
    if kind == "bytes":
        text = str(value)
        return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)
    if kind in _INTS or kind == "bool":
        return value
    return value if isinstance(value, str) else json.dumps(value)


def _sortable(key: tuple) -> tuple:
    return tuple((v is not None, v) for v in key)


class Fold:
    """A table's records, read back in order, folded into its rows: what a consumer keeping the latest
    image per key holds (how `read`, and so validation, sees a stream target).

    Give ``add`` the full load's records first, then the changes in source order (``Fold.order``). A
    ``drop-table`` or ``truncate-table`` control record empties the table; an update merges its columns
    into the row it finds (a row's unchanged large values are not in its new image); a delete removes it."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.columns = {c.name: c for c in schema.columns}
        self.rows: dict[tuple, dict[str, Any]] = {}

    @staticmethod
    def order(records: Iterable[tuple[bytes, str, str]]) -> list[tuple[bytes, str, str]]:
        """(value, position, old key) of one table's records, each partition's in offset order, in the order
        a fold needs them: records without a position (the load) first, as they came, then by position."""
        items = list(records)
        loads = [r for r in items if not r[1]]
        changes = sorted((r for r in items if r[1]), key=lambda r: Position.decode(r[1]))
        return loads + changes

    def row_of(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {n: decode_value(self.columns[n], v) for n, v in data.items() if n in self.columns}

    def key_of(self, row: Mapping[str, Any]) -> tuple:
        return tuple(row.get(c) for c in self.schema.key)

    def add(self, value: bytes, old_key: str = "") -> None:
        doc = json.loads(value)
        meta = doc.get("metadata", {})
        op = meta.get("operation")
        if meta.get("record-type") == "control":
            if op in ("drop-table", "truncate-table"):
                self.rows.clear()
            return
        row = self.row_of(doc.get("data", {}))
        key = self.key_of(row)
        if op == "delete":
            self.rows.pop(key, None)
            return
        if op == "update":
            old = key
            if old_key:
                old = tuple(decode_value(self.columns[c], v) for c, v in zip(self.schema.key, json.loads(old_key),
                                                                                strict=True))
            current = self.rows.pop(old, None)
            if current is not None:
                row = {**current, **row}
            elif not all(c in row for c in self.columns):
                return  # an update of a row never seen, without its unchanged columns: nothing to keep
        self.rows[key] = row

    def result(self) -> list[dict[str, Any]]:
        names = self.schema.column_names
        return [{n: self.rows[k].get(n) for n in names} for k in sorted(self.rows, key=_sortable)]
