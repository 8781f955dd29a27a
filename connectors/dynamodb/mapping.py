"""How a table's rows become DynamoDB items: by default an item per row, an attribute per column, in a table
of the source table's name keyed by its primary key (a partition key, and the second column as the sort
key); with an object-mapping rule (connectors/object_mapping.py), as DMS's DynamoDB target maps it:

- ``map-record-to-record``: every column not in ``exclude-columns`` is an attribute of its own name;
- ``map-record-to-document``: those columns go into one map attribute ``_doc`` instead (a key column
  named as a key attribute stays at the top too, since DynamoDB keys are top-level attributes);
- ``target-table-name`` names the table; ``partition-key-name`` and ``sort-key-name`` name its key
  attributes (a column's name, or an attribute the rule makes);
- ``attribute-mappings``: attributes made from templates: ``{"target-attribute-name": "Name",
  "attribute-type": "scalar", "attribute-sub-type": "string" | "number", "value": "${FirstName} ${LastName}"}``,
  or a map: ``"attribute-type": "document", "attribute-sub-type": "dynamodb-map"`` with ``value`` a
  DynamoDB map (``{"M": {"Home": {"M": {"Phone": {"S": "${HomePhone}"}}}}}``) whose strings are templates.

Items are read back into rows by the columns they still carry (validation, and the keyed apply's reads),
so a row's item must keep its key columns for CDC: a rule whose key attributes use other columns than the
table's key, or that excludes a key column, serves a full load only, and changes fail the table in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.base import TableSchema
from connectors.errors import ConfigError, ObjectError
from connectors.object_mapping import ObjectRule, check_template, fill, template_columns, whole_column

from . import values as V

DOC = "_doc"  # map-record-to-document's attribute (DMS's name)
SCALAR_TYPES = {"string": "S", "number": "N"}


def text(value: Any) -> str:
    """A value as it reads inside a template: bytes as hex, numerics in positional notation."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Made:
    """One attribute of ``attribute-mappings``."""

    name: str
    kind: str  # "S", "N", "column" (the column's own attribute), "M"
    value: Any  # the template, or the map with templates

    def attribute(self, schema: TableSchema, row: Mapping[str, Any]) -> dict[str, Any]:
        if self.kind == "column":
            column = whole_column(self.value) or ""
            return V.attribute(row.get(column), _types(schema).get(column, "text"))
        if self.kind == "M":
            return _filled(self.value, row)
        filled = fill(self.value, row, text)
        if self.kind == "N":
            return {"NULL": True} if filled == "" else {"N": filled}
        return {"S": filled}


def _filled(doc: Any, row: Mapping[str, Any]) -> Any:
    if isinstance(doc, dict):
        return {k: fill(v, row, text) if k in ("S", "N") and isinstance(v, str) else _filled(v, row)
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_filled(v, row) for v in doc]
    return doc


def _types(schema: TableSchema) -> dict[str, str]:
    return {c.name: c.type for c in schema.columns}


@dataclass(frozen=True)
class TableMap:
    schema: TableSchema
    name: str
    keys: tuple[tuple[str, str], ...]  # (attribute, S|N|B): the partition key, then the sort key
    columns: tuple[str, ...]  # the columns kept as attributes (top-level, or in _doc)
    document: bool = False
    made: tuple[Made, ...] = ()
    cdc_problem: str = ""  # why changes cannot find their items ("" when they can)

    def item(self, row: Mapping[str, Any]) -> dict[str, Any]:
        types = _types(self.schema)
        kept = {c: V.attribute(row.get(c), types.get(c, "text")) for c in self.columns if c in row}
        if self.document:
            out = {DOC: {"M": kept}}
            out.update({k: kept[k] for k, _ in self.keys if k in kept})
        else:
            out = kept
        out.update({m.name: m.attribute(self.schema, row) for m in self.made})
        return out

    def key(self, row: Mapping[str, Any]) -> dict[str, Any]:
        item = self.item(row)
        return {k: item[k] for k, _ in self.keys}

    def key_of(self, key: tuple) -> dict[str, Any]:
        """The item key of a source key (its values in the table's key order)."""
        return self.key(dict(zip(self.schema.key, key, strict=True)))

    def row(self, item: Mapping[str, Any]) -> dict[str, Any]:
        found = item.get(DOC, {}).get("M", {}) if self.document else item
        types = _types(self.schema)
        return {c.name: V.value(found[c.name], types[c.name]) if c.name in found and c.name in self.columns
                else None for c in self.schema.columns}


def default_map(schema: TableSchema) -> TableMap:
    if not schema.key or len(schema.key) > 2:
        raise ObjectError(f"{schema.table} has {'no' if not schema.key else len(schema.key)} key column(s): a "
                          "DynamoDB table has a partition key and at most a sort key: give the table an "
                          "object-mapping rule with partition-key-name (and sort-key-name) whose attributes "
                          "join the columns (attribute-mappings, e.g. \"${a}|${b}\")")
    types = _types(schema)
    return TableMap(schema, schema.table.name, tuple((k, V.key_type(types[k])) for k in schema.key),
                    schema.column_names)


def rule_map(schema: TableSchema, rule: ObjectRule) -> TableMap:
    where = f"{rule.where} ({schema.table})"
    names = schema.column_names
    excluded = rule.get("exclude-columns") or []
    if not isinstance(excluded, list) or any(c not in names for c in excluded):
        raise ConfigError(f"{where}: exclude-columns must list columns of the table ({', '.join(names)})")
    made = tuple(_made(m, names, f"{where}.attribute-mappings[{i}]")
                 for i, m in enumerate(rule.get("attribute-mappings") or []))
    by_name = {m.name: m for m in made}
    columns = tuple(c for c in names if c not in excluded)
    key_names = [n for n in (rule.get("partition-key-name"), rule.get("sort-key-name")) if n]
    if not key_names:
        if not rule.get("attribute-mappings") and not excluded:
            base = default_map(schema)
            return TableMap(schema, rule.get("target-table-name") or base.name, base.keys, columns,
                            rule.action == "map-record-to-document")
        raise ConfigError(f"{where}: partition-key-name is needed: the attribute that keys the items")
    types = _types(schema)
    keys, uses = [], set()
    for n in key_names:
        if n in by_name:
            m = by_name[n]
            if m.kind == "M":
                raise ConfigError(f"{where}: key attribute {n} is a map: a key is a string, number or binary")
            column = whole_column(m.value)
            keys.append((n, "N" if m.kind == "N" else V.key_type(types[column]) if m.kind == "column" else "S"))
            uses.update(template_columns(m.value))
        elif n in columns:
            keys.append((n, V.key_type(types[n])))
            uses.add(n)
        else:
            raise ConfigError(f"{where}: key attribute {n} is neither a kept column nor a target-attribute-name "
                              "of attribute-mappings")
    problem = ""
    if outside := sorted(uses - set(schema.key)):
        problem = (f"{where}: the item key uses column(s) {', '.join(outside)} outside the table's key "
                   f"({', '.join(schema.key) or 'none'}): changes cannot find their items; such a rule serves a "
                   "full load only")
    elif dropped := [k for k in schema.key if k not in columns]:
        problem = (f"{where}: exclude-columns drops key column(s) {', '.join(dropped)}: changes find an item's "
                   "row by them; keep them for CDC")
    return TableMap(schema, rule.get("target-table-name") or schema.table.name, tuple(keys), columns,
                    rule.action == "map-record-to-document", made, problem)


def _made(raw: Any, columns: Sequence[str], where: str) -> Made:
    if not isinstance(raw, dict) or not raw.get("target-attribute-name"):
        raise ConfigError(f"{where}: needs target-attribute-name")
    name, kind, sub = raw["target-attribute-name"], raw.get("attribute-type", "scalar"), raw.get("attribute-sub-type")
    value = raw.get("value")
    if kind == "scalar":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: a scalar's value is a template string such as \"${{column}}\"")
        check_template(value, columns, where)
        if sub is None and whole_column(value):
            return Made(name, "column", value)
        if (sub or "string") not in SCALAR_TYPES:
            raise ConfigError(f"{where}: attribute-sub-type {sub!r} of a scalar is string or number")
        return Made(name, SCALAR_TYPES[sub or "string"], value)
    if kind == "document":
        if sub not in (None, "dynamodb-map") or not isinstance(value, dict) or "M" not in value:
            raise ConfigError(f"{where}: a document attribute is attribute-sub-type dynamodb-map with a value "
                              "{\"M\": {...}} in DynamoDB's JSON")
        for template in _strings(value):
            check_template(template, columns, where)
        return Made(name, "M", value)
    raise ConfigError(f"{where}: attribute-type {kind!r} is scalar or document")


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) else []
