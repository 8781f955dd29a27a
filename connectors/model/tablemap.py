"""The mapping layer: one source table + the task's rules and settings -> a TableMap.

A TableMap knows the target table (names, types, key) and turns the source's batches and changes
into the target's. The worker puts it between source and target, so connectors never see a rule:
the source only receives a projection (the columns to read) and filters to push into its query.

Full-load batches keep the source's bulk bytes whenever every target column is a source column
(renames, removed columns, type changes, prefixes all qualify): the target loads them under its
own column names. Only computed columns and LOB truncation make rows go through Python.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import Batch, Change, Column, Filter, Op, Row, TableId, TableSchema, wildcard_regex
from connectors.errors import ConfigError, DataError
from connectors.filters import converter, holds
from connectors.registry import engine_source
from connectors.types import DMS_PORTABLE, DmsType, common_type

from .lobs import LobLimit, lob_limit
from .mappings import NAME_ACTIONS, DataType, TableMappings, Transformation
from .settings import TaskSettings

_TRUNCATABLE = ("text", "bytes")  # a truncated JSON document would no longer be JSON
_HEADERS = ("AR_H_OPERATION", "AR_H_TIMESTAMP", "AR_H_COMMIT_TIMESTAMP", "AR_H_STREAM_POSITION", "AR_H_USER",
            "AR_H_CHANGE_SEQ", "AR_M_SOURCE_SCHEMA", "AR_M_SOURCE_TABLE_NAME")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_OP_NAMES = {Op.INSERT: "INSERT", Op.UPDATE: "UPDATE", Op.DELETE: "DELETE"}


@dataclass(frozen=True, slots=True)
class _Out:
    """One target column and where its value comes from (exactly one of the three)."""

    name: str
    source: str | None = None  # a source column
    expression: str | None = None  # add-column: a SQLite expression over $columns
    before: str | None = None  # add-before-image-columns: the old value of this source column


class TableMap:
    """Source table -> target table, for batches (full load) and changes (CDC)."""

    def __init__(self, source: TableSchema, target: TableSchema, outs: Sequence[_Out], filters: Sequence[Filter],
                 lob_limit: int | None, truncation_fails: bool) -> None:
        self.source = source
        self.target = target
        self.filters = tuple(filters)
        self.outs = tuple(outs)
        by_name = {c.name: c for c in source.columns}
        needed = {o.source for o in outs if o.source} | {
            name for o in outs if o.expression for name in _PARAM.findall(o.expression) if name in by_name}
        if any(o.expression for o in outs):
            needed |= set(source.key)
        #: the projection the source reads: its columns in source order
        self.read = replace(source, columns=tuple(c for c in source.columns if c.name in needed))
        #: the target columns a full load writes (before-image columns stay NULL)
        self.load = replace(target, columns=tuple(c for c in target.columns
                                                  if any(o.name == c.name and not o.before for o in outs)))
        #: the target columns validation compares: copied ones (computed values depend on when they ran)
        self.copied = replace(target, columns=tuple(c for c in target.columns
                                                    if any(o.name == c.name and o.source for o in outs)))
        self.passthrough = all(o.source for o in outs if not o.before) and [
            o.source for o in outs if o.source] == list(self.read.column_names)
        self.lob_limit = lob_limit
        # LOBs as DMS counts them: text and binary columns without a declared length (varchar(40) is no LOB)
        self.lob_columns = tuple(o for o in outs if o.source and by_name[o.source].type in _TRUNCATABLE
                                 and "(" not in (by_name[o.source].native or ""))
        self._lob_names = tuple(o.source for o in self.lob_columns)
        self.truncation_fails = truncation_fails
        self.lob_setting: LobLimit | None = None  # the setting that asks for lob_limit (build_map sets it)
        self.truncated = 0  # LOB values cut to lob_limit since last taken (take_truncations)
        self._predicates = [_predicate(f, by_name[f.column]) for f in filters]
        self._expressions = _Expressions(source, [o for o in outs if o.expression]) if any(
            o.expression for o in outs) else None
        self._renamed = {o.source: o.name for o in outs if o.source}
        # Unchanged by the rules: only a LOB over the limit, if any, needs a change rewritten.
        self._plain = (self.passthrough and source.table == target.table and source.key == target.key and not filters
                       and len(outs) == len(source.columns) and all(o.source == o.name for o in outs))
        self.identity = self._plain and (lob_limit is None or not self.lob_columns)

    # -- full load ------------------------------------------------------------------------------

    def batches(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """The source's batches (read with ``self.read`` and ``self.filters``) as batches of ``self.load``."""
        for batch in batches:
            if self.passthrough and not self._may_truncate(batch):
                yield batch
            else:
                yield Batch(batch.count, rows=self.target_rows(batch.rows()))

    def _may_truncate(self, batch: Batch) -> bool:
        """Could a value be longer than the limit? A row's text line is at least as long as any of its values,
        and when every half-limit stretch of the bytes holds a newline, no line reaches the limit. One memchr
        per stretch: a 16 MB batch costs a tenth of a millisecond, where splitting it into lines costs 50."""
        if self.lob_limit is None or not self.lob_columns:
            return False
        if batch.raw is None:
            return True
        data, half = batch.raw[1], max(1, self.lob_limit // 2)
        return any(data.find(b"\n", at, at + half) < 0 for at in range(0, len(data), half))

    def target_rows(self, rows: Iterable[Row], whole: bool = False) -> list[dict[str, Any]]:
        """Rows read with ``self.read`` as rows of ``self.load`` (target names, computed columns); ``whole``:
        LOBs as the source holds them, not cut to the limit (validation compares what the source holds)."""
        return [self._row(r, "INSERT", whole=whole) for r in rows]

    def take_truncations(self) -> int:
        n, self.truncated = self.truncated, 0
        return n

    def _row(self, row: Row, op: str, change: Change | None = None, before: Row | None = None,
             whole: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cuts = () if whole else self._lob_names
        for o in self.outs:
            if o.source:
                if o.source in row:  # absent: an unchanged TOAST value stays absent
                    value = row[o.source]
                    out[o.name] = self._cut(value, o.name) if o.source in cuts else value
            elif o.before and change is not None:
                # Without an old image the key is unchanged, so its old value is the new one.
                old = before.get(o.before) if before else (row.get(o.before) if o.before in self.source.key else None)
                out[o.name] = old if op == "UPDATE" else None
        if self._expressions is not None:
            out.update(self._expressions.evaluate(row, op, change, self.source.table))
        return out

    def _cut(self, value: Any, column: str) -> Any:
        limit = self.lob_limit
        if limit is None or not isinstance(value, str | bytes) or len(value) <= limit:
            return value
        if self.truncation_fails:
            raise DataError(f"a value of {self.target.table}.{column} is longer than LobMaxSize ({limit // 1024} KB) "
                            "and DataTruncationErrorPolicy forbids truncating it: raise LobMaxSize, or use "
                            "FullLobMode")
        self.truncated += 1
        return value[:limit]

    # -- changes --------------------------------------------------------------------------------

    def keeps(self, ch: Change) -> bool:
        """The change reaches the target as it is. Text values qualify too: a value's text is never
        shorter than the value (bytea's is hex), so text within the LOB limit needs no cut."""
        if not self._plain:
            return False
        limit = self.lob_limit
        if limit is None or not ch.after:
            return True
        after = ch.after
        for name in self._lob_names:  # only LOBs are cut (a plain map keeps the source's names)
            v = after.get(name)
            if v is not None and len(v) > limit:
                return False
        return True

    def changes(self, ch: Change) -> list[Change]:
        """A source change as the target's changes: none (filtered out), one, or two deletes (a row
        re-keyed out of the filter)."""
        if ch.op is Op.TRUNCATE:
            return [replace(ch, table=self.target.table)]
        if self.keeps(ch):
            return [ch]
        if self._predicates and ch.op is not Op.DELETE:
            after = ch.after or {}
            judged = [p for f, p in zip(self.filters, self._predicates, strict=True) if f.column in after]
            if len(judged) == len(self._predicates) and not all(p(after) for p in judged):
                if ch.op is Op.INSERT:
                    return []
                # The row left the filter: it must not stay on the target.
                if not self.source.key:  # keyless: the one row equal to the old row goes
                    return [self._change(replace(ch, op=Op.DELETE, after=None))] if ch.before else []
                new_key = {k: after.get(k) for k in self.source.key}
                old_key = {k: ch.before.get(k) for k in self.source.key} if ch.before else new_key
                gone = [replace(ch, op=Op.DELETE, before=old_key, after=None)]
                if old_key != new_key:
                    gone.append(replace(ch, op=Op.DELETE, before=new_key, after=None))
                return [self._change(c) for c in gone]
        return [self._change(ch)]

    def _change(self, ch: Change) -> Change:
        op = _OP_NAMES[ch.op]
        before = {self._renamed[k]: v for k, v in ch.before.items() if k in self._renamed} if ch.before else None
        if ch.op is Op.DELETE:
            if before is None or any(k not in before for k in self.target.key):
                raise DataError(f"a delete on {self.source.table} lacks the target key "
                                f"({', '.join(self.target.key)}) of {self.target.table}: "
                                f"{engine_source(self.source.engine).whole_rows_cure(self.source.table)}, "
                                "or key the target as the source is keyed")
            if self._expressions is not None and self._expressions.soft_delete:
                after = {k: before[k] for k in self.target.key}
                after.update(self._expressions.evaluate(ch.before or {}, op, ch, self.source.table, soft=True))
                return replace(ch, table=self.target.table, op=Op.UPDATE, before=before, after=after)
            return replace(ch, table=self.target.table, before=before)
        after = self._row(ch.after or {}, op, ch, ch.before)
        return replace(ch, table=self.target.table, before=before, after=after)


class _Expressions:
    """add-column expressions, evaluated by SQLite as DMS does: ``$name`` binds a column or header."""

    def __init__(self, source: TableSchema, outs: Sequence[_Out]) -> None:
        self.outs = tuple(outs)
        self.names = (*source.column_names, *_HEADERS)
        self.op = "INSERT"
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.create_function("hash_sha256", 1, _sha256, deterministic=True)
        self.db.create_function("operation_indicator", 3, lambda d, u, i: {"DELETE": d, "UPDATE": u}.get(self.op, i))
        self.sql = "SELECT " + ", ".join(f"({o.expression})" for o in outs)
        self.soft_delete = any("operation_indicator" in (o.expression or "").lower() for o in outs)
        self.soft_sql = "SELECT " + ", ".join(f"({o.expression})" for o in outs
                                              if "operation_indicator" in (o.expression or "").lower())

    def evaluate(self, row: Row, op: str, change: Change | None, table: TableId, soft: bool = False) -> dict:
        self.op = op
        params = {n: _bindable(row.get(n)) for n in self.names}
        params.update(AR_H_OPERATION=op, AR_M_SOURCE_SCHEMA=table.schema, AR_M_SOURCE_TABLE_NAME=table.name)
        if change is not None:
            params.update(AR_H_STREAM_POSITION=change.position.token, AR_H_CHANGE_SEQ=change.position.stream_id,
                          AR_H_COMMIT_TIMESTAMP=change.commit_time, AR_H_TIMESTAMP=change.commit_time)
        outs = [o for o in self.outs if not soft or "operation_indicator" in (o.expression or "").lower()]
        try:
            values = self.db.execute(self.soft_sql if soft else self.sql, params).fetchone()
        except sqlite3.Error as exc:
            raise DataError(f"an add-column expression on {table} failed: {exc}") from None
        return {o.name: v for o, v in zip(outs, values, strict=True)}


def _sha256(value: Any) -> str | None:
    if value is None:
        return None
    return hashlib.sha256(value if isinstance(value, bytes) else str(value).encode()).hexdigest()


def _bindable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- filters on changes ------------------------------------------------------------------------------


def _predicate(f: Filter, column: Column):
    """The filter as a test on a row image, comparing values as the column's type (like the SQL pushdown)."""
    convert = converter(column.type)
    tests = []
    for c in f.conditions:
        lo = convert(c.value) if c.value is not None else None
        hi = convert(c.end) if c.end is not None else None
        tests.append((c.op, lo, hi))
    name = f.column

    def passes(row: Row) -> bool:
        v = row.get(name)
        return any(holds(op, v, lo, hi) for op, lo, hi in tests)

    return passes


# --- building -----------------------------------------------------------------------------------------


def build_map(mappings: TableMappings, settings: TaskSettings, schema: TableSchema,
              before_images: bool = True) -> TableMap:
    """Apply the rules to one selected source table. Rules that cannot apply fail with their id and why."""
    table = schema.table
    source_cols = {c.name: c for c in schema.columns}
    rules = mappings.transformations_for(table)

    def col_rules(name: str, *actions: str) -> list[Transformation]:
        col = source_cols[name]
        return [t for t in rules if t.target == "column" and t.action in actions and _match_col(t, name, col)]

    for t in rules:  # a rule naming one column (no wildcard) must find it
        if t.target == "column" and not any(ch in t.column for ch in "%_[") and t.column not in source_cols:
            raise ConfigError(f"transformation rule {t.rule_id} names column {t.column!r}, which {table} does not "
                              f"have (columns: {', '.join(schema.column_names)})")
    filters = []
    for rule, fs in mappings.filter_rules_for(table):
        for f in fs:
            if f.column not in source_cols:
                raise ConfigError(f"selection rule {rule.rule_id} filters on column {f.column!r}, which {table} "
                                  f"does not have (columns: {', '.join(schema.column_names)})")
            _check_filter_values(rule.rule_id, f, source_cols[f.column])
            filters.append(f)

    tm = settings.target_metadata
    included = [t for t in rules if t.action == "include-column"]
    outs: list[_Out] = []
    columns: list[Column] = []
    for col in schema.columns:
        if col_rules(col.name, "remove-column") or (included and not col_rules(col.name, "include-column")):
            continue
        if not tm.SupportLobs and common_type(col).lob and col.name not in schema.key:
            continue  # DMS drops LOB columns when SupportLobs is off
        name = _rename(col.name, col_rules(col.name, *NAME_ACTIONS))
        typed = col_rules(col.name, "change-data-type")
        new = replace(col, name=name)
        if typed:
            new = replace(new, type=_portable(typed[0].data_type), native="", dms=_dms(typed[0].data_type))
        outs.append(_Out(name, source=col.name))
        columns.append(new)
    kept = {o.source: o.name for o in outs}

    key: tuple[str, ...] = ()
    defined = [t for t in rules if t.action == "define-primary-key"]
    if defined:
        t = defined[0]
        for c in t.key_columns:
            if c not in kept and c not in kept.values():
                raise ConfigError(f"transformation rule {t.rule_id} (define-primary-key) names column {c!r}, which "
                                  f"the target table of {table} does not have")
        key = tuple(kept.get(c, c) for c in t.key_columns)
    else:
        lost = [k for k in schema.key if k not in kept]
        if lost:
            raise ConfigError(f"the rules remove key column(s) {', '.join(lost)} of {table}: keep them, or give the "
                              "table another key with a define-primary-key rule")
        key = tuple(kept[k] for k in schema.key)

    for t in rules:
        if t.action == "add-column":
            if t.value in {c.name for c in columns}:
                raise ConfigError(f"transformation rule {t.rule_id} adds column {t.value!r}, which {table} already "
                                  "has: add-column cannot reuse a name")
            _check_expression(t, schema)
            outs.append(_Out(t.value, expression=t.expression))
            columns.append(Column(t.value, _portable(t.data_type), True, "", _dms(t.data_type)))
    for t in rules:
        if t.action == "add-before-image-columns":
            if not before_images:
                raise ConfigError(f"transformation rule {t.rule_id} (add-before-image-columns): the source of {table} "
                                  "gives no before images")
            for col in schema.columns:
                wanted = {"pk-only": col.name in schema.key, "non-lob": not common_type(col).lob,
                          "all": True}[t.before_filter]
                if wanted and col.name in kept:
                    name = f"{t.before_prefix}{kept[col.name]}{t.before_suffix}"
                    outs.append(_Out(name, before=col.name))
                    columns.append(replace(col, name=name, nullable=True))
            break  # one action per object: the lowest rule id wins
    seen: set[str] = set()
    for c in columns:
        if c.name in seen:
            raise ConfigError(f"the rules give {table} two target columns named {c.name!r}: rename one of them")
        seen.add(c.name)

    schema_name = _rename(table.schema, [t for t in rules if t.target == "schema" and t.action in NAME_ACTIONS],
                          tm.TargetSchema or table.schema)
    table_name = _rename(table.name, [t for t in rules if t.target == "table" and t.action in NAME_ACTIONS])
    # Unique indexes follow their columns' renames; one over a removed column, or the key's own, goes.
    unique = tuple(dict.fromkeys(tuple(kept[c] for c in u) for u in schema.unique
                                 if all(c in kept for c in u) and tuple(kept[c] for c in u) != key))
    target = TableSchema(TableId(schema_name, table_name), tuple(columns), key, schema.engine, unique=unique,
                         full_row=schema.full_row and not key)

    limit = lob_limit(settings, mappings.lob_settings.get(table))
    fails = settings.errors.DataTruncationErrorPolicy in ("SUSPEND_TABLE", "STOP_TASK")
    mapped = TableMap(schema, target, outs, filters, limit.bytes if limit else None, fails)
    mapped.lob_setting = limit
    return mapped


def build_maps(mappings: TableMappings, settings: TaskSettings, schemas: Iterable[TableSchema],
               before_images: bool = True) -> dict[TableId, TableMap]:
    """Every selected table's map, keyed by SOURCE table; two tables mapped onto one target fail."""
    maps = {s.table: build_map(mappings, settings, s, before_images) for s in schemas}
    targets: dict[TableId, TableId] = {}
    for m in maps.values():
        other = targets.setdefault(m.target.table, m.source.table)
        if other != m.source.table:
            raise ConfigError(f"the rules map both {other} and {m.source.table} onto {m.target.table}: "
                              "two source tables cannot share one target table")
    return maps


def _match_col(t: Transformation, name: str, col: Column) -> bool:
    if not _like(t.column, name):
        return False
    return t.column_type is None or common_type(col).name.lower() == t.column_type


def _like(pattern: str, name: str) -> bool:
    return bool(wildcard_regex(pattern).fullmatch(name))


def _rename(name: str, rules: Sequence[Transformation], base: str | None = None) -> str:
    """The first (lowest rule id) naming rule that applies; DMS applies one action per object."""
    name_out = name if base is None else base
    for t in rules:
        value, old = t.value or "", t.old_value or ""
        a = t.action
        if a == "rename":
            return value
        if a == "convert-lowercase":
            return name_out.lower()
        if a == "convert-uppercase":
            return name_out.upper()
        if a == "add-prefix":
            return value + name_out
        if a == "add-suffix":
            return name_out + value
        if a == "remove-prefix" and name_out.startswith(value):
            return name_out[len(value):]
        if a == "remove-suffix" and value and name_out.endswith(value):
            return name_out[: -len(value)]
        if a == "replace-prefix" and name_out.startswith(old):
            return value + name_out[len(old):]
        if a == "replace-suffix" and old and name_out.endswith(old):
            return name_out[: -len(old)] + value
    return name_out


def _portable(dt: DataType | None) -> str:
    if dt is None:
        return "string"
    if dt.type in ("string", "wstring") and dt.length is None:
        return "text"
    return DMS_PORTABLE[dt.type.upper()]


def _dms(dt: DataType | None) -> str:
    """The rule's DMS type as a column carries it ("STRING(10)", "NUMERIC(12,2)", "DATETIME(6)")."""
    if dt is None:
        return "STRING"
    params = (dt.length,) if dt.length is not None else (dt.precision, dt.scale or 0) if dt.precision else ()
    if dt.type == "datetime" and dt.precision is not None:
        params = (dt.precision,)
    return str(DmsType.of(dt.type, [p for p in params if p is not None]))


def _check_expression(t: Transformation, schema: TableSchema) -> None:
    names = set(schema.column_names) | set(_HEADERS)
    for name in _PARAM.findall(t.expression or ""):
        if name not in names:
            raise ConfigError(f"transformation rule {t.rule_id} (add-column) uses ${name}, which is neither a column "
                              f"of {schema.table} nor a DMS header; columns: {', '.join(schema.column_names)}")
    db = sqlite3.connect(":memory:")
    db.create_function("hash_sha256", 1, _sha256)
    db.create_function("operation_indicator", 3, lambda d, u, i: i)
    try:
        db.execute(f"SELECT ({t.expression})", dict.fromkeys(names))
    except sqlite3.Error as exc:
        raise ConfigError(f"transformation rule {t.rule_id} (add-column): the expression {t.expression!r} is not "
                          f"valid SQLite: {exc}") from None
    finally:
        db.close()


def _check_filter_values(rule_id: int, f: Filter, column: Column) -> None:
    convert = converter(column.type)
    for c in f.conditions:
        for v in (c.value, c.end):
            if v is None:
                continue
            try:
                convert(v)
            except (ValueError, InvalidOperation):
                raise ConfigError(f"selection rule {rule_id} compares column {f.column} ({column.type}) with "
                                  f"{v!r}, which is not a {column.type} value") from None
