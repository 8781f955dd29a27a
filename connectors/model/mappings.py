"""DMS's table-mapping JSON (``--table-mappings FILE``) -> TableMappings, plain frozen data.

Selection and transformation rules and table-settings rules are checked here as far as the
document alone allows (keys, actions, wildcards, filter operators, parameters); checks that need
the source's tables (a column that does not exist) happen when the rules meet the tables, in
connectors/model/tablemap.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from connectors.base import Condition, Filter, RuleIndex, Selection, TableId, TableRule, wildcard_regex
from connectors.errors import ConfigError
from connectors.patterns import PatternIndex, check_wildcard

from .spec import DmsModel, Int, Text, closest, int_range, load_json_document, no_effect, no_effect_warnings, validate

DMS_TYPES = ("bytes", "date", "time", "datetime", "int1", "int2", "int4", "int8", "numeric", "real4", "real8",
             "string", "uint1", "uint2", "uint4", "uint8", "wstring", "blob", "nclob", "clob", "boolean")
NAME_ACTIONS = ("rename", "convert-lowercase", "convert-uppercase", "add-prefix", "remove-prefix", "replace-prefix",
                "add-suffix", "remove-suffix", "replace-suffix")
_REFUSED = ("data-masking-digits-mask", "data-masking-digits-randomize", "data-masking-hash-mask")
_TRANSFORM_ACTIONS = NAME_ACTIONS + ("add-column", "include-column", "remove-column", "define-primary-key",
                                     "change-data-type", "add-before-image-columns") + _REFUSED
_OTHER_RULE_TYPES = {
    "object-mapping": "object mapping is for DynamoDB, Kinesis, Kafka and OpenSearch targets (DynamoDB, Kinesis "
                      "and Kafka targets read it: docs/engines/)",
    "post-processing": "post-processing tags S3 objects, and S3 is not a target here yet",
    "validation": "validation function overrides are for Oracle and SQL Server, which OpenDMS does not have",
}
_RULE_TYPES = ("selection", "transformation", "table-settings", *_OTHER_RULE_TYPES)
_OPERATORS = ("eq", "noteq", "lte", "ste", "gte", "between", "notbetween", "null", "notnull")
_NEGATIVE = ("noteq", "notbetween", "notnull")

# DMS's own limit ("AWS DMS can only process table mapping JSON files up to 2 MB in size"): about
# 10,000 rules, which are parsed and matched against the source's tables in well under a second.
MAX_MAPPINGS_BYTES = 2 * 2**20
Names = Annotated[list[Text], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class _Locator(DmsModel):
    schema_name: Text | None = Field(None, alias="schema-name")
    table_name: Text | None = Field(None, alias="table-name")
    column_name: Text | None = Field(None, alias="column-name")
    table_type: Literal["table", "view", "all"] = Field("table", alias="table-type")
    data_type: Text | None = Field(None, alias="data-type")
    table_tablespace_name: Any = Field(None, alias="table-tablespace-name")
    index_tablespace_name: Any = Field(None, alias="index-tablespace-name")


class _Condition(DmsModel):
    filter_operator: Literal[_OPERATORS] = Field(alias="filter-operator")  # type: ignore[valid-type]
    value: Text | None = None
    start_value: Text | None = Field(None, alias="start-value")
    end_value: Text | None = Field(None, alias="end-value")


class _Filter(DmsModel):
    filter_type: Literal["source"] = Field("source", alias="filter-type")
    column_name: Text = Field(alias="column-name")
    filter_conditions: list[_Condition] = Field(alias="filter-conditions")


class _DataType(DmsModel):
    type: Literal[DMS_TYPES]  # type: ignore[valid-type]
    precision: int_range(1, 1000) | None = None
    scale: int_range(0, 1000) | None = None
    length: int_range(1, 1 << 30) | None = None


class _PrimaryKeyDef(DmsModel):
    name: Text = ""
    origin: Literal["primary-key", "unique-index"] = "primary-key"
    columns: Names


class _BeforeImageDef(DmsModel):
    column_prefix: Text = Field("BI_", alias="column-prefix")
    column_suffix: Text = Field("", alias="column-suffix")
    column_filter: Literal["pk-only", "non-lob", "all"] = Field("pk-only", alias="column-filter")


class _ParallelLoad(DmsModel):
    type: Literal["partitions-auto", "subpartitions-auto", "partitions-list", "ranges", "none"]
    partitions: Names = []
    subpartitions: Names = []
    columns: Names = []
    boundaries: list[list[Any]] = []
    # partitions-auto of a source that segments by key (MongoDB's autosegmentation): how many segments
    number_of_partitions: int_range(1, 1_000) | None = Field(None, alias="number-of-partitions")
    collection_count_from_metadata: Any = no_effect("MongoDB autosegmentation", None,
                                                    alias="collection-count-from-metadata")
    max_records_skip_per_page: Any = no_effect("MongoDB autosegmentation", None, alias="max-records-skip-per-page")
    batch_size: Any = no_effect("MongoDB autosegmentation", None, alias="batch-size")


class _LobSettings(DmsModel):
    mode: Literal["limited", "unlimited", "none"]
    bulk_max_size: int_range(0, 102_400) = Field(0, alias="bulk-max-size")  # KB


class _Rule(DmsModel):
    """Every key of selection, transformation and table-settings rules; which belongs where is checked after."""

    rule_type: Text = Field(alias="rule-type")
    rule_id: Int = Field(alias="rule-id")
    rule_name: Text = Field("", alias="rule-name")
    rule_action: Text | None = Field(None, alias="rule-action")
    rule_target: Literal["schema", "table", "column", "table-tablespace", "index-tablespace"] | None = Field(
        None, alias="rule-target")
    object_locator: _Locator = Field(alias="object-locator")
    load_order: int_range(0, 2_147_483_647) = Field(0, alias="load-order")
    filters: list[_Filter] = []
    value: Text | None = None
    old_value: Text | None = Field(None, alias="old-value")
    expression: Text | None = None
    data_type: _DataType | None = Field(None, alias="data-type")
    primary_key_def: _PrimaryKeyDef | None = Field(None, alias="primary-key-def")
    before_image_def: _BeforeImageDef | None = Field(None, alias="before-image-def")
    parallel_load: _ParallelLoad | None = Field(None, alias="parallel-load")
    lob_settings: _LobSettings | None = Field(None, alias="lob-settings")


_KEYS_OF = {
    "selection": {"rule-action", "object-locator", "load-order", "filters"},
    "transformation": {"rule-action", "rule-target", "object-locator", "value", "old-value", "expression",
                       "data-type", "primary-key-def", "before-image-def"},
    "table-settings": {"object-locator", "parallel-load", "lob-settings", "rule-action"},
}
_COMMON = {"rule-type", "rule-id", "rule-name"}


# --- the parsed form --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataType:
    """A DMS data type (``type`` is one of DMS_TYPES)."""

    type: str
    precision: int | None = None
    scale: int | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class Transformation:
    """One transformation rule. Patterns are DMS wildcards over SOURCE names."""

    rule_id: int
    target: str  # schema | table | column
    action: str
    schema: str
    table: str = "%"
    column: str = "%"
    column_type: str | None = None  # object-locator data-type: only columns of this DMS type
    value: str | None = None
    old_value: str | None = None
    expression: str | None = None
    data_type: DataType | None = None
    key_columns: tuple[str, ...] = ()  # define-primary-key
    before_prefix: str = "BI_"  # add-before-image-columns
    before_suffix: str = ""
    before_filter: str = "pk-only"

    def matches(self, table: TableId, column: str | None = None) -> bool:
        if not (_match(self.schema, table.schema) and _match(self.table, table.name)):
            return False
        return column is None or _match(self.column, column)


@dataclass(frozen=True, slots=True)
class ParallelLoad:
    """A table-settings ``parallel-load`` rule, for whoever splits a table's full load into segments.

    type: "ranges" | "partitions-auto" | "subpartitions-auto" | "partitions-list" | "none"
    columns: ranges only, the segment columns (source names, at most 10, all existing)
    boundaries: ranges only, each the upper bound of one segment, one text value per column; N
        boundaries make N+1 segments, compared lexicographically over ``columns``
    partitions / subpartitions: partitions-list only, source partition names
    number_of_partitions: partitions-auto of a source that segments a table by key ranges (Source.segments)
    """

    rule_id: int
    table: TableId
    type: str
    columns: tuple[str, ...] = ()
    boundaries: tuple[tuple[str | None, ...], ...] = ()
    partitions: tuple[str, ...] = ()
    subpartitions: tuple[str, ...] = ()
    number_of_partitions: int = 0  # partitions-auto: segments of a source that splits by key (0: its default)


@dataclass(frozen=True, slots=True)
class LobSettings:
    """A table-settings ``lob-settings`` rule: limited (truncate at max_kb), unlimited, none (task settings)."""

    rule_id: int
    table: TableId
    mode: str
    max_kb: int = 0


@dataclass(frozen=True)
class TableMappings:
    selections: tuple[TableRule, ...]
    transformations: tuple[Transformation, ...] = ()
    load_orders: tuple[tuple[TableRule, int], ...] = ()  # include rules with a load-order
    filters: tuple[tuple[TableRule, tuple[Filter, ...]], ...] = ()  # include rules with filters
    parallel_loads: dict[TableId, ParallelLoad] = field(default_factory=dict)
    lob_settings: dict[TableId, LobSettings] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    # Indexes built on first use: finding a table's rules costs the same for 10 rules or 100,000.
    @cached_property
    def selection(self) -> Selection:
        return Selection(self.selections)

    @cached_property
    def _load_orders(self) -> RuleIndex[int]:
        return RuleIndex(self.load_orders)

    @cached_property
    def _filters(self) -> RuleIndex[tuple[TableRule, tuple[Filter, ...]]]:
        return RuleIndex((rule, (rule, fs)) for rule, fs in self.filters)

    @cached_property
    def _transformations(self) -> PatternIndex[Transformation]:
        index: PatternIndex[Transformation] = PatternIndex()
        for t in self.transformations:
            index.add(t.schema, t.table, t)
        return index

    def selects(self, table: TableId) -> bool:
        return self.selection.selects(table)

    def load_order(self, table: TableId) -> int:
        """The highest load-order of the include rules that select the table (higher loads first)."""
        return max(self._load_orders.find(table), default=0)

    def filter_rules_for(self, table: TableId) -> list[tuple[TableRule, tuple[Filter, ...]]]:
        """The include rules with filters that select the table, with their filters."""
        return self._filters.find(table)

    def filters_for(self, table: TableId) -> tuple[Filter, ...]:
        return tuple(f for _, fs in self.filter_rules_for(table) for f in fs)

    def transformations_for(self, table: TableId) -> list[Transformation]:
        """The transformation rules whose schema and table patterns match the table, by rule id."""
        return self._transformations.find(table.schema, table.name)


def _match(pattern: str, name: str) -> bool:
    return bool(wildcard_regex(pattern).fullmatch(name))


# --- parsing ----------------------------------------------------------------------------------------


def check_mappings_size(size: int, what: str) -> None:
    """DMS's cap on a table-mapping document (``size`` in bytes)."""
    if size > MAX_MAPPINGS_BYTES:
        raise ConfigError(f"{what} is {size / 2**20:.1f} MB: DMS takes table mappings of at most 2 MB "
                          f"({MAX_MAPPINGS_BYTES:,} bytes); split the tables across several tasks, or select them "
                          "with wildcards (%) instead of one rule per table")


def parse_table_mappings(text: str, what: str = "table mappings") -> TableMappings:
    """``what`` names the document in a JSON syntax error ("table mappings file m.json")."""
    check_mappings_size(len(text.encode()), what)
    doc = load_json_document(text, what)
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ConfigError('table mappings must be an object with a "rules" list: {"rules": [...]}')
    extra = sorted(set(doc) - {"rules"})
    if extra:
        raise ConfigError(f"{extra[0]} is not a DMS key of table mappings: only \"rules\" belongs at the top")
    selections: list[TableRule] = []
    load_orders, filters, transformations = [], [], []
    parallel: dict[TableId, ParallelLoad] = {}
    lobs: dict[TableId, LobSettings] = {}
    warnings: list[str] = []
    for n, raw in enumerate(doc["rules"]):
        where = f"rules[{n}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object")
        kind = raw.get("rule-type")
        if not isinstance(kind, str) or kind not in _RULE_TYPES:
            raise ConfigError(f"{where}.rule-type is {kind!r}: use one of {', '.join(sorted(_RULE_TYPES))}"
                              f"{closest(kind, _RULE_TYPES) if isinstance(kind, str) else ''}")
        if kind in _OTHER_RULE_TYPES:
            warnings.append(f"{where} ({kind} rule {raw.get('rule-id')}) has no effect: {_OTHER_RULE_TYPES[kind]}")
            continue
        if "rule-id" not in raw or raw.get("rule-id") is None:
            raise ConfigError(f"{where}.rule-id is missing: give each rule a number such as \"1\"")
        label = str(raw["rule-id"]).strip()
        rule: _Rule = validate(_Rule, raw, f"{where} (rule {label})" if label.isdigit() else where)
        where = f"{where} (rule {rule.rule_id})"
        for key, value in raw.items():
            if key not in _COMMON and key not in _KEYS_OF[kind] and value not in (None, [], {}):
                raise ConfigError(f"{where}.{key} is not a key of a {kind} rule: remove it")
        warnings.extend(no_effect_warnings(rule, where))
        if kind == "selection":
            sel = _selection(rule, where, warnings)
            selections.append(sel)
            if rule.load_order:
                load_orders.append((sel, rule.load_order))
            if rule.filters:
                filters.append((sel, _filters(rule, where)))
        elif kind == "transformation":
            t = _transformation(rule, where, warnings)
            if t is not None:
                transformations.append(t)
        else:
            _table_settings(rule, where, parallel, lobs)
    if not any(r.action != "exclude" for r in selections):
        raise ConfigError("table mappings select nothing: add a selection rule with rule-action include")
    selections.sort(key=lambda r: r.rule_id)
    transformations.sort(key=lambda t: t.rule_id)
    return TableMappings(tuple(selections), tuple(transformations), tuple(load_orders), tuple(filters),
                         parallel, lobs, tuple(warnings))


def _pattern(value: str | None, what: str, where: str) -> str:
    if not value:
        raise ConfigError(f"{where} needs object-locator with {what}")
    try:
        check_wildcard(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; close the bracket or remove it") from None
    return value


def _selection(rule: _Rule, where: str, warnings: list[str]) -> TableRule:
    action = rule.rule_action
    if action not in ("include", "exclude", "explicit"):
        raise ConfigError(f"{where}.rule-action is {action!r}: use include, exclude or explicit"
                          f"{closest(str(action), ('include', 'exclude', 'explicit'))}")
    loc = rule.object_locator
    if not loc.schema_name or not loc.table_name:
        raise ConfigError(f"{where} needs object-locator with schema-name and table-name")
    if action != "explicit":
        _pattern(loc.schema_name, "schema-name", where)
        _pattern(loc.table_name, "table-name", where)
    if loc.table_type != "table":
        warnings.append(f"{where}.object-locator.table-type = {loc.table_type!r}: only tables are migrated; "
                        "views are not loaded yet")
    if action == "exclude" and (rule.filters or rule.load_order):
        raise ConfigError(f"{where}: an exclude rule takes no filters or load-order; put them on an include rule")
    return TableRule(loc.schema_name, loc.table_name, action, rule.rule_id)


def _filters(rule: _Rule, where: str) -> tuple[Filter, ...]:
    out = []
    for i, f in enumerate(rule.filters):
        at = f"{where}.filters[{i}]"
        if not f.filter_conditions:
            raise ConfigError(f"{at}.filter-conditions is empty: give at least one condition")
        ops = [c.filter_operator for c in f.filter_conditions]
        if len(ops) > 1 and any(op in _NEGATIVE for op in ops):
            raise ConfigError(f"{at}: a {', '.join(o for o in ops if o in _NEGATIVE)} condition must be alone in "
                              "its filter (conditions of one filter are ORed); put it in a filter of its own")
        conditions = []
        for j, c in enumerate(f.filter_conditions):
            op = "lte" if c.filter_operator == "ste" else c.filter_operator
            cat = f"{at}.filter-conditions[{j}]"
            if op in ("between", "notbetween"):
                if c.start_value is None or c.end_value is None:
                    raise ConfigError(f"{cat}: {op} needs start-value and end-value")
                conditions.append(Condition(op, c.start_value, c.end_value))
            elif op in ("null", "notnull"):
                conditions.append(Condition(op))
            else:
                if c.value is None:
                    raise ConfigError(f"{cat}: {op} needs a value")
                conditions.append(Condition(op, c.value))
        out.append(Filter(f.column_name, tuple(conditions)))
    return tuple(out)


def _transformation(rule: _Rule, where: str, warnings: list[str]) -> Transformation | None:
    action, target, loc = rule.rule_action, rule.rule_target, rule.object_locator
    if action not in _TRANSFORM_ACTIONS:
        raise ConfigError(f"{where}.rule-action is {action!r}: not a transformation action"
                          f"{closest(str(action), _TRANSFORM_ACTIONS)}")
    if action in _REFUSED:
        raise ConfigError(f"{where}: {action} is not supported by OpenDMS yet, and unmasked data must not move "
                          "silently: remove the rule or mask the data at the source")
    if target is None:
        raise ConfigError(f"{where}.rule-target is missing: use schema, table or column")
    if target in ("table-tablespace", "index-tablespace"):
        warnings.append(f"{where} ({target} {action}) has no effect: tablespaces are Oracle's")
        return None
    allowed = {
        "schema": NAME_ACTIONS,
        "table": NAME_ACTIONS + ("define-primary-key", "add-column", "add-before-image-columns", "include-column"),
        "column": NAME_ACTIONS + ("remove-column", "include-column", "change-data-type", "add-column",
                                  "add-before-image-columns"),
    }[target]
    if action not in allowed:
        raise ConfigError(f"{where}: {action} does not apply to rule-target {target}")
    schema = _pattern(loc.schema_name, "schema-name", where)
    table = _pattern(loc.table_name, "table-name", where) if target != "schema" else "%"
    column = "%"
    if target == "column" and action not in ("add-column", "add-before-image-columns"):
        column = _pattern(loc.column_name, "column-name", where)
    need = {"rename": "value", "add-prefix": "value", "remove-prefix": "value", "add-suffix": "value",
            "remove-suffix": "value", "replace-prefix": "value", "replace-suffix": "value", "add-column": "value"}
    if action in need and not rule.value:
        raise ConfigError(f"{where}: {action} needs a value" + (" (the new column's name)" if action == "add-column"
                                                                else ""))
    if action.startswith("replace-") and rule.old_value is None:
        raise ConfigError(f"{where}: {action} needs old-value (the {action.split('-')[1]} to replace)")
    if action in ("add-column", "change-data-type") and rule.data_type is None:
        raise ConfigError(f"{where}: {action} needs data-type, e.g. {{\"type\": \"string\", \"length\": 50}}")
    if action == "add-column" and not rule.expression:
        raise ConfigError(f"{where}: add-column needs an expression, e.g. \"$first || ' ' || $last\"")
    if action == "define-primary-key" and (rule.primary_key_def is None or not rule.primary_key_def.columns):
        raise ConfigError(f"{where}: define-primary-key needs primary-key-def with columns")
    dt = rule.data_type
    bi = rule.before_image_def or _BeforeImageDef()
    return Transformation(
        rule.rule_id, target, action, schema, table, column, loc.data_type, rule.value, rule.old_value,
        rule.expression, DataType(dt.type, dt.precision, dt.scale, dt.length) if dt else None,
        tuple(rule.primary_key_def.columns) if rule.primary_key_def else (),
        bi.column_prefix, bi.column_suffix, bi.column_filter,
    )


def _table_settings(rule: _Rule, where: str, parallel: dict[TableId, ParallelLoad],
                    lobs: dict[TableId, LobSettings]) -> None:
    loc = rule.object_locator
    if not loc.schema_name or not loc.table_name:
        raise ConfigError(f"{where} needs object-locator with schema-name and table-name")
    if "%" in loc.schema_name + loc.table_name:  # DMS's own words
        raise ConfigError(f"{where}: Exact schema and table name required when using table settings rule")
    table = TableId(loc.schema_name, loc.table_name)
    p = rule.parallel_load
    if p is not None and p.type != "none":
        if p.type == "ranges":
            if not p.columns or not p.boundaries:
                raise ConfigError(f"{where}.parallel-load: ranges needs columns and boundaries")
            if len(p.columns) > 10:
                raise ConfigError(f"{where}.parallel-load.columns: at most 10 columns")
            for i, b in enumerate(p.boundaries):
                if len(b) != len(p.columns):
                    raise ConfigError(f"{where}.parallel-load.boundaries[{i}] has {len(b)} value(s) for "
                                      f"{len(p.columns)} column(s): give one value per column")
        elif p.type == "partitions-list" and not p.partitions:
            raise ConfigError(f"{where}.parallel-load: partitions-list needs partitions")
        elif p.type in ("partitions-auto", "subpartitions-auto") and (p.columns or p.boundaries):
            raise ConfigError(f"{where}.parallel-load: {p.type} takes no columns or boundaries")
        parallel[table] = ParallelLoad(
            rule.rule_id, table, p.type, tuple(p.columns),
            tuple(tuple(None if v is None else str(v) for v in b) for b in p.boundaries),
            tuple(p.partitions), tuple(p.subpartitions), p.number_of_partitions or 0)
    if rule.lob_settings is not None:
        lobs[table] = LobSettings(rule.rule_id, table, rule.lob_settings.mode, rule.lob_settings.bulk_max_size)


__all__ = ["DMS_TYPES", "MAX_MAPPINGS_BYTES", "DataType", "LobSettings", "ParallelLoad", "TableMappings",
           "Transformation", "check_mappings_size", "parse_table_mappings"]
