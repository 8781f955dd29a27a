"""BSON documents as rows: document mode's ``_id`` text and ``_doc`` extended JSON, and table mode's columns
(top-level fields, nested documents flattened to dotted names as DMS names them), inferred from a sample."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from bson import Decimal128, ObjectId, json_util
from bson.json_util import JSONMode, JSONOptions

from connectors.base import DOC_BODY, DOC_ID, Column, TableId, TableSchema

# Relaxed extended JSON (as mongoexport writes it): numbers and strings as plain JSON, and what JSON cannot
# spell as {"$oid": ...}, {"$date": ...}, {"$numberDecimal": ...}, {"$binary": ...}, so nothing is lost but
# the width of an integer (a 64-bit one that fits 32 bits reads back as 32-bit).
RELAXED = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=datetime.UTC)


def id_text(value: Any) -> str:
    """A document's identity as the key's text: an ObjectId's hex, a string as it is, anything else as its
    relaxed extended JSON (an integer 1 is "1", as a string "1" would be: a collection mixing both is not
    supported)."""
    if isinstance(value, str):
        return value
    if isinstance(value, ObjectId):
        return str(value)
    return json_util.dumps(value, json_options=RELAXED)


def id_values(text: str) -> list[Any]:
    """The BSON values an ``_id`` text may stand for (the inverse of id_text, ambiguous by nature)."""
    found: list[Any] = [text]
    if len(text) == 24 and ObjectId.is_valid(text):
        found.append(ObjectId(text))
    try:
        parsed = json_util.loads(text, json_options=RELAXED)
    except (ValueError, TypeError):
        return found
    if not isinstance(parsed, str):
        found.append(parsed)
    return found


def doc_json(doc: Mapping[str, Any]) -> str:
    return json_util.dumps(doc, json_options=RELAXED, ensure_ascii=False)


def document_row(doc: Mapping[str, Any]) -> dict[str, str]:
    return {DOC_ID: id_text(doc.get("_id")), DOC_BODY: doc_json(doc)}


def from_json(text: str) -> Any:
    """Extended JSON text -> BSON values (ObjectIds, dates, decimals back as themselves)."""
    return json_util.loads(text, json_options=RELAXED)


# -- table mode ----------------------------------------------------------------------------------

def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Top-level fields, nested documents' fields under dotted names ({"a": {"b": 1}} -> a.b)."""
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if isinstance(value, Mapping) and value and not prefix.count(".") > 96:
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def value_type(value: Any) -> str | None:
    """The portable value class of a BSON value (DMS: Int INT4, Long INT8, Double REAL8, String CLOB,
    Date DATETIME, OID string, Decimal NUMERIC, Binary BLOB, Array CLOB), None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int4" if -2**31 <= value < 2**31 else "int8"
    if isinstance(value, float):
        return "float8"
    if isinstance(value, Decimal128 | Decimal):
        return "numeric"
    if isinstance(value, datetime.datetime):
        return "timestamptz"
    if isinstance(value, ObjectId):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "json"
    return "text"


def _widest(a: str | None, b: str | None) -> str | None:
    if a is None or a == b:
        return b if a is None else a
    if b is None:
        return a
    if {a, b} <= {"int4", "int8"}:
        return "int8"
    return "text"  # DMS wants one type per field: mixed types travel as text


def infer(table: TableId, docs: Iterable[Mapping[str, Any]], rows_estimate: int = 0) -> TableSchema:
    """Table mode's schema from a sample of documents: ``_id`` (its text, the key) then every field in the
    order first met; a field only ever null is text."""
    types: dict[str, str | None] = {}
    for doc in docs:
        for name, value in flatten(doc).items():
            if name != "_id":
                types[name] = _widest(types.get(name), value_type(value)) if name in types else value_type(value)
    columns = (Column(DOC_ID, "string", nullable=False, native="objectId/string", dms="STRING(200)"),
               *(Column(name, kind or "text", native=kind or "null") for name, kind in types.items()))
    return TableSchema(table, columns, (DOC_ID,), "mongodb", rows_estimate)


def table_row(doc: Mapping[str, Any], schema: TableSchema) -> dict[str, Any]:
    """A document as a row of a table-mode schema: fields the schema lacks are dropped (as DMS drops fields
    met after the sample), missing ones are NULL."""
    flat = flatten(doc)
    row: dict[str, Any] = {}
    for column in schema.columns:
        if column.name == DOC_ID:
            row[DOC_ID] = id_text(doc.get("_id"))
            continue
        row[column.name] = _value(flat.get(column.name), column.type)
    return row


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("text", "json", "string"):
        if isinstance(value, str):
            return value
        if isinstance(value, ObjectId):
            return str(value)
        return json_util.dumps(value, json_options=RELAXED, ensure_ascii=False)
    if kind == "numeric":
        return value.to_decimal() if isinstance(value, Decimal128) else Decimal(str(value))
    if kind == "timestamptz" and isinstance(value, datetime.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return stamp.isoformat()
    if kind == "bytes":
        return bytes(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
