"""Schema changes captured from a source's log, in the common change model.

A source that captures DDL sends it in its change stream, in order with the rows around it, as a
``Change`` of op ``Op.DDL`` whose ``schema`` is a ``SchemaChange``: what happened to the table (created,
altered, dropped, renamed) and the table as it is now. Only sources speak of source tables: the worker
maps the change through the table's transformation rules (a column the rules rename or remove stays
renamed or removed) and hands the target a ``SchemaChange`` in the target's names whose ``columns`` say,
one step at a time, what the target table must do. ``Change.after`` keeps ``{"columns": [names now]}``,
what a stream target's control record lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .base import Column, TableId, TableSchema


class TableDdl(str, Enum):
    CREATE = "create"  # a new table: ``schema`` is it, its rows follow in the stream
    ALTER = "alter"  # columns added, dropped, renamed or retyped: ``schema`` is the table now
    DROP = "drop"  # the table is gone: ``schema`` is None
    RENAME = "rename"  # ``Change.table`` is the old name, ``schema`` the table under its new one


class ColumnDdl(str, Enum):
    ADD = "add"
    DROP = "drop"
    RENAME = "rename"
    RETYPE = "retype"  # its type changed (widened: a narrowing one fails the table on the target)


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """One step of an ALTER on the target: ``name`` is the column as it was (ADD: its name), ``column``
    the column as it is now (DROP: None)."""

    op: ColumnDdl
    name: str
    column: Column | None = None
    fill: Any = None  # ADD: the value the table's existing rows have in it (the source's constant DEFAULT)


@dataclass(frozen=True, slots=True)
class SchemaChange:
    kind: TableDdl
    schema: TableSchema | None  # the table now (DROP: None)
    statement: str = ""  # the source's statement, as shown in messages and stream control records
    # Source side: columns renamed (old name -> new name), which a comparison of names cannot tell
    # from a drop and an add.
    renamed: Mapping[str, str] = field(default_factory=dict)
    # Source side: the value existing rows read in a column added with a constant default, by column name.
    filled: Mapping[str, Any] = field(default_factory=dict)
    # Source side: why the source cannot replicate this change and the fix (the table stops with Table error),
    # e.g. rows the statement changed that the source's log does not hold.
    unsupported: str = ""
    # Target side (set by the worker): the steps, in order, that turn the target table into ``schema``.
    columns: tuple[ColumnChange, ...] = ()

    @property
    def table(self) -> TableId | None:
        return self.schema.table if self.schema is not None else None

    def describe(self) -> str:
        """One line for logs and events."""
        what = self.statement.strip().splitlines()[0][:200] if self.statement.strip() else self.kind.value
        return what
