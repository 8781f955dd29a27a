"""AWS DMS's data types: the common type system every connector maps its native types to and from.

A column carries three things (connectors.base.Column): its engine's own declaration (``native``,
kept so a same-engine target recreates it exactly: enums, domains, arrays, ranges), the plain Python
value class its rows travel as (``type``, the portable name: bool int2 ... uuid array other), and its
DMS type (``dms``: BOOLEAN, WSTRING(64), NUMERIC(12,4), DATETIME(6), ...). Between engines the DMS
type decides the target's column, refined by the value class where the target has a closer type
(a uuid, a JSON document, a timestamp with time zone): that refinement is the engine-specific detail
DMS's own types lose.

Each engine states its mapping as data, one :class:`TypeTable` in ``connectors/<engine>/types.py``:
rows native -> DMS type (used as a source) and rows DMS type -> native (used as a target), each with
the reason when the target cannot hold every value of the type (``lossy``). `dms task create
--dry-run` prints, per column, the source type, the DMS type, the target type and that reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.base import Column, TableSchema

DMS_TYPE_NAMES = ("BOOLEAN", "BYTES", "DATE", "TIME", "DATETIME", "INT1", "INT2", "INT4", "INT8", "UINT1", "UINT2",
                  "UINT4", "UINT8", "NUMERIC", "REAL4", "REAL8", "STRING", "WSTRING", "BLOB", "CLOB", "NCLOB")
LOB_NAMES = frozenset({"BLOB", "CLOB", "NCLOB"})
_LENGTHS = frozenset({"STRING", "WSTRING", "BYTES"})  # the DMS types whose one parameter is a length
_SPELLINGS = {"BYTE": "BYTES", "BOOL": "BOOLEAN"}  # DMS's pages spell BYTES both ways

# Value class (Column.type) -> DMS type, for a column no engine table described (a schema built by hand,
# or one kept in live state before columns carried their DMS type).
PORTABLE_DMS = {
    "bool": "BOOLEAN", "int2": "INT2", "int4": "INT4", "int8": "INT8", "float4": "REAL4", "float8": "REAL8",
    "numeric": "NUMERIC", "string": "STRING", "text": "NCLOB", "bytes": "BLOB", "date": "DATE", "time": "TIME",
    "timestamp": "DATETIME", "timestamptz": "DATETIME", "json": "NCLOB", "uuid": "STRING", "array": "NCLOB",
    "other": "STRING",
}
# DMS type -> the value class its values travel as (a change-data-type or add-column rule's type).
DMS_PORTABLE = {
    "BYTES": "bytes", "BLOB": "bytes", "DATE": "date", "TIME": "time", "DATETIME": "timestamp",
    "INT1": "int2", "INT2": "int2", "UINT1": "int2", "INT4": "int4", "UINT2": "int4", "INT8": "int8",
    "UINT4": "int8", "UINT8": "numeric", "NUMERIC": "numeric", "REAL4": "float4", "REAL8": "float8",
    "STRING": "string", "WSTRING": "string", "CLOB": "text", "NCLOB": "text", "BOOLEAN": "bool",
}


@dataclass(frozen=True, slots=True)
class DmsType:
    """One DMS type with its parameters: ``length`` (STRING, WSTRING, BYTES), ``precision`` and
    ``scale`` (NUMERIC), ``scale`` (DATETIME: fraction digits). None: not given."""

    name: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.length is not None:
            return f"{self.name}({self.length})"
        if self.precision is not None:
            return f"{self.name}({self.precision},{self.scale or 0})"
        if self.scale is not None:
            return f"{self.name}({self.scale})"
        return self.name

    @property
    def lob(self) -> bool:
        return self.name in LOB_NAMES

    @classmethod
    def of(cls, name: str, params: Sequence[int] = ()) -> DmsType:
        """``name`` with the native declaration's parameters put where the DMS type keeps them."""
        name = _SPELLINGS.get(name.upper(), name.upper())
        if name not in DMS_TYPE_NAMES:
            raise ValueError(f"{name!r} is not a DMS data type: use one of {', '.join(DMS_TYPE_NAMES)}")
        if not params:
            return cls(name)
        if name in _LENGTHS:
            return cls(name, length=params[0])
        if name == "NUMERIC":
            return cls(name, precision=params[0], scale=params[1] if len(params) > 1 else 0)
        if name in ("DATETIME", "TIME"):
            return cls(name, scale=params[0])
        return cls(name)

    @classmethod
    def parse(cls, text: str) -> DmsType:
        """``"NUMERIC(12,4)"``, ``"wstring(64)"``, ``"BYTE"`` -> a DmsType (ValueError when not one)."""
        base, params = split_native(text)
        return cls.of(base, params)


_PARAMS = re.compile(r"\(([^)]*)\)")


def split_native(declaration: str) -> tuple[str, tuple[int, ...]]:
    """``"character varying(64)"`` -> ("character varying", (64,)); ``"timestamp(3) with time zone"`` ->
    ("timestamp with time zone", (3,)). Names are lower case; parameters that are not numbers are dropped."""
    found = _PARAMS.search(declaration)
    params: tuple[int, ...] = ()
    if found:
        parts = [p.strip() for p in found.group(1).split(",")]
        params = tuple(int(p) for p in parts if p.lstrip("-").isdigit())
        declaration = declaration[:found.start()] + declaration[found.end():]
    return " ".join(declaration.lower().split()), params


@dataclass(frozen=True, slots=True)
class ToDms:
    """A row of an engine's source table: native type names (lower case, no parameters) -> a DMS type."""

    natives: tuple[str, ...]
    dms: str  # a DMS type, with fixed parameters if any ("STRING(128)")
    portable: str = ""  # the value class its rows travel as (Column.type), where the engine decides it by name
    keep_params: bool = True  # the declaration's parameters become the DMS type's (a length, a precision)


@dataclass(frozen=True, slots=True)
class FromDms:
    """A row of an engine's target table: a DMS type -> the declaration a target creates.

    ``native`` may use {length}, {precision}, {scale}; ``bare`` is the declaration when the DMS type has
    none of the parameters ``native`` uses. ``portable`` restricts the row to columns of that value
    class (the detail kept alongside). ``lossy`` says what the target cannot hold: always, or with
    ``above`` = (parameter, limit) only when the parameter is missing or over the limit."""

    dms: str
    native: str
    bare: str = ""
    portable: str = ""
    lossy: str = ""
    above: tuple[str, int] | None = None
    unbounded_lossy: bool = False  # with ``above``: a missing parameter (unbounded) is lossy too


@dataclass(frozen=True, slots=True)
class Mapped:
    """A column's type on a target: its declaration, and why some values change on the way ("" when none)."""

    native: str
    lossy: str = ""


class TypeTable:
    """One engine's type mapping, both ways, as data (see the module's docstring)."""

    def __init__(self, engine: str, sources: Sequence[ToDms], targets: Sequence[FromDms],
                 fallback: str = "STRING") -> None:
        self.engine = engine
        self.sources = tuple(sources)
        self.targets = tuple(targets)
        self.fallback = fallback
        self._by_native = {n: row for row in self.sources for n in row.natives}
        missing = [t for t in DMS_TYPE_NAMES if not any(r.dms == t and not r.portable for r in self.targets)]
        if missing:
            raise AssertionError(f"the {engine} type table maps no native type from {', '.join(missing)}")

    def dms_type(self, native: str, default: str | None = None) -> DmsType:
        """A native declaration -> its DMS type: by the table, else ``default`` (a DMS type name, e.g. the
        value class's), else the table's fallback (DMS sends unknown types as strings)."""
        base, params = split_native(native)
        row = self._by_native.get(base)
        if row is None:
            return DmsType(default or self.fallback)
        if params and row.keep_params:
            return DmsType.of(split_native(row.dms)[0], params)
        return DmsType.parse(row.dms)

    def portable(self, native: str, default: str = "other") -> str:
        """The value class of a native type by the table's name (``default`` when the table does not say)."""
        row = self._by_native.get(split_native(native)[0])
        return row.portable if row is not None and row.portable else default

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - tables live as long as the process
    def declare(self, dms: DmsType, portable: str = "") -> Mapped:
        """A DMS type (and the value class the column travels as) -> this engine's declaration."""
        rows = [r for r in self.targets if r.dms == dms.name and r.portable in ("", portable)]
        row = max(rows, key=lambda r: bool(r.portable))  # a row for the value class wins over the general one
        params = {"length": dms.length, "precision": dms.precision, "scale": dms.scale}
        used = [p for p in params if "{" + p + "}" in row.native]
        if row.bare and (not used or any(params[p] is None for p in used)):
            native = row.bare
        else:
            native = row.native.format(**{k: (v if v is not None else 0) for k, v in params.items()})
        lossy = row.lossy
        if row.above is not None:
            param, limit = row.above
            value = params[param]
            over = value > limit if value is not None else row.unbounded_lossy
            lossy = lossy if over else ""
        return Mapped(native, lossy)

    def target_type(self, engine: str, column: Column) -> Mapped:
        """The type a target of this engine gives ``column`` of a table from ``engine``: the source's own
        declaration for a same-engine source (homogeneous: exactly as it was), else by the DMS type."""
        if engine == self.engine and column.native:
            return Mapped(column.native)
        return self.declare(common_type(column), column.type)


    def column_type(self, table: TableSchema, column: Column) -> Mapped:
        """The type a target of this engine gives ``column`` of the planned ``table``: as ``target_type``, unless
        the engine's rules depend on the rest of the table (a key's columns sharing an index's length)."""
        return self.target_type(table.engine, column)


def common_type(column: Column) -> DmsType:
    """The column's DMS type: as its source (or a rule) gave it, else by its value class."""
    if column.dms:
        return DmsType.parse(column.dms)
    return DmsType(PORTABLE_DMS.get(column.type, "STRING"))


def portable_table(engine: str) -> TypeTable:
    """A table for an engine whose natives ARE the value classes (the memory connector)."""
    sources = [ToDms((p,), d, keep_params=False) for p, d in PORTABLE_DMS.items()]
    targets = [FromDms(d, p) for d, p in DMS_PORTABLE.items()]
    targets += [FromDms(PORTABLE_DMS[p], p, portable=p) for p in PORTABLE_DMS]
    return TypeTable(engine, sources, targets)


__all__ = ["DMS_PORTABLE", "DMS_TYPE_NAMES", "LOB_NAMES", "PORTABLE_DMS", "DmsType", "FromDms", "Mapped",
           "ToDms", "TypeTable", "common_type", "portable_table", "split_native"]
