"""Rows as MongoDB documents for the target, and back (for read-back and validation).

As DMS builds a document for DocumentDB: ``_id`` from a column named ``_id``, else the primary key (its
value, or a sub-document of its columns for a key of several), the key's columns staying ordinary fields;
a column named ``json_<name>`` becomes the nested document ``<name>``, ``array_<name>`` the array ``<name>``
(both from JSON text). A documents-mode table (``_id`` + ``_doc``, from a MongoDB source) is its ``_doc``,
read back from extended JSON with its own ``_id``.

Values: booleans, integers, doubles, strings and bytes as themselves; JSON columns as sub-documents and
arrays; numerics as their decimal text (DMS: NUMERIC -> String, no digit lost); dates, times, timestamps
and UUIDs as the text they travel as (kept exact, where a BSON date would keep milliseconds only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.base import DOC_BODY, DOC_ID, Row, TableSchema

from .values import doc_json, from_json, id_text, id_values

PREFIXES = ("json_", "array_")


def is_documents(schema: TableSchema) -> bool:
    """A documents-mode table, by its flag or by its shape (a plan stored with a task may lack the flag)."""
    return schema.documents or (schema.column_names == (DOC_ID, DOC_BODY) and schema.key == (DOC_ID,))


def field_name(column: str) -> str:
    for prefix in PREFIXES:
        if column.startswith(prefix) and len(column) > len(prefix):
            return column[len(prefix):]
    return column


def _to_bson(value: Any, kind: str, column: str) -> Any:
    if value is None:
        return None
    if kind == "json" or column.startswith(PREFIXES):
        try:
            return json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return value  # not JSON after all: kept as its text, as DMS does
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def _from_bson(value: Any, kind: str, column: str) -> Any:
    if value is None:
        return None
    if kind == "json" or (column.startswith(PREFIXES) and not isinstance(value, str)):
        return json.dumps(value, ensure_ascii=False)
    if kind == "numeric":
        return Decimal(value)
    if kind == "bytes":
        return bytes(value)
    if kind in ("float4", "float8") and isinstance(value, int):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # not bson's Int64, which compares equal but is another type
    return value


def doc_id(schema: TableSchema, row: Row) -> Any:
    """The document's ``_id`` for a row (its key values): see the module's words."""
    types = {c.name: c.type for c in schema.columns}
    if is_documents(schema):
        return from_json(row[DOC_BODY])["_id"] if row.get(DOC_BODY) else row[DOC_ID]
    if "_id" in types:
        return _to_bson(row.get("_id"), types["_id"], "_id")
    key = schema.key
    if len(key) == 1:
        return _to_bson(row.get(key[0]), types[key[0]], key[0])
    return {k: _to_bson(row.get(k), types[k], k) for k in key}


def ids_of_key(schema: TableSchema, key: tuple) -> list[Any]:
    """The ``_id`` values that a row's key may be stored under (a documents table's key is the id's text)."""
    if is_documents(schema):
        return id_values(key[0])
    return [doc_id(schema, dict(zip(schema.key, key, strict=True)))]


def document(schema: TableSchema, row: Row) -> dict[str, Any]:
    """The whole row as its document."""
    if is_documents(schema):
        return dict(from_json(row[DOC_BODY]))
    doc: dict[str, Any] = {"_id": doc_id(schema, row)}
    for column in schema.columns:
        if column.name != "_id":
            doc[field_name(column.name)] = _to_bson(row.get(column.name), column.type, column.name)
    return doc


def fields(schema: TableSchema, row: Row) -> dict[str, Any]:
    """The columns a row has (an update's image may lack unchanged ones) as document fields."""
    types = {c.name: c.type for c in schema.columns}
    return {field_name(n): _to_bson(v, types.get(n, "text"), n) for n, v in row.items() if n != "_id"}


def row(schema: TableSchema, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document back as the table's row."""
    if is_documents(schema):
        return {DOC_ID: id_text(doc.get("_id")), DOC_BODY: doc_json(doc)}
    out: dict[str, Any] = {}
    for column in schema.columns:
        name = column.name
        if name == "_id":
            out[name] = _from_bson(doc.get("_id"), column.type, name)
        else:
            out[name] = _from_bson(doc.get(field_name(name)), column.type, name)
    return out


def key(schema: TableSchema, row_: Row) -> tuple:
    return tuple(row_.get(k) for k in schema.key)
