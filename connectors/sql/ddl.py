"""A source's schema change on a SQL target: the statements each step runs, in the batch's transaction.

The worker hands the target a ``Change`` of op DDL whose ``schema`` (connectors/ddl.py) is in the
target's names, with its column steps worked out. Added columns are created nullable whatever the
source says (the target's existing rows have no value for them, and a source's ``DEFAULT`` is not
copied, as DMS copies no defaults); a type change declares the column's new type as a new table would,
and a change the target's rows do not fit fails the table with the server's words.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from connectors.base import Change, Column, TableSchema
from connectors.ddl import ColumnDdl, TableDdl


class Spelling(Protocol):
    def quote(self, name: str) -> str: ...
    def table_name(self, schema: TableSchema) -> str: ...
    param: str

    def bind(self, values: Any) -> list[Any]: ...
    def declare(self, schema: TableSchema, column: Column) -> str: ...
    def retype(self, table: str, schema: TableSchema, column: Column) -> str | None: ...
    def rename_table(self, old: TableSchema, new: TableSchema) -> str: ...


def statements(sql: Spelling, schema: TableSchema, change: Change) -> list[tuple[str, tuple]]:
    """What the target runs for ``change`` (``schema``: the target table now; ``change.table``: its name before)."""
    ddl = change.schema
    if ddl is None:
        return []
    old = replace(schema, table=change.table)
    name, q = sql.table_name(old), sql.quote
    if ddl.kind is TableDdl.DROP:
        return [(f"DROP TABLE IF EXISTS {name}", ())]
    if ddl.kind is TableDdl.RENAME:
        return [(sql.rename_table(old, schema), ())] if change.table != schema.table else []
    if ddl.kind is not TableDdl.ALTER:
        return []
    out: list[tuple[str, tuple]] = []
    for step in ddl.columns:
        col = step.column
        if step.op is ColumnDdl.ADD and col is not None:
            declared = sql.declare(schema, replace(col, nullable=True))
            out.append((f"ALTER TABLE {name} ADD COLUMN {q(col.name)} {declared}", ()))
            if step.fill is not None:  # the rows there hold the source's DEFAULT, which its log never carried
                out.append((f"UPDATE {name} SET {q(col.name)} = {sql.param}", tuple(sql.bind([step.fill]))))
        elif step.op is ColumnDdl.DROP:
            out.append((f"ALTER TABLE {name} DROP COLUMN {q(step.name)}", ()))
        elif step.op is ColumnDdl.RENAME and col is not None:
            out.append((f"ALTER TABLE {name} RENAME COLUMN {q(step.name)} TO {q(col.name)}", ()))
        elif step.op is ColumnDdl.RETYPE and col is not None:
            retype = sql.retype(name, schema, col)
            if retype:
                out.append((retype, ()))
    return out


def run(cur: Any, sql: Spelling, schema: TableSchema, changes: list[Change]) -> None:
    for change in changes:
        for statement, params in statements(sql, schema, change):
            cur.execute(statement, params) if params else cur.execute(statement)
