"""Trigger-based change capture: one change log per task, filled by triggers on the selected tables.

Every insert, update and delete on a selected table adds a row to the task's change log
``awsdms_changes_<task>`` in the same transaction as the change itself. The log's ``seq`` is an
AUTOINCREMENT key: SQLite has one writer at a time, so seq follows commit order, and a reader
that sees a seq sees every smaller one. Row images are JSON arrays in the table's column order
(the key columns only for the old image). JSON would round reals to 15 digits and cannot hold
blobs, so those two travel tagged: ``["f", "3.00000000000000044409e-01"]`` and ``["b", "00FF"]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from connectors.base import Change, Op, Position, TableSchema

from .connect import quote_ident, quote_text
from .types import row_decoder

_OPS = {"I": Op.INSERT, "U": Op.UPDATE, "D": Op.DELETE}
_NOW = "(julianday('now') - 2440587.5) * 86400.0"  # epoch seconds, to the millisecond


def log_table(task: str) -> str:
    return f"awsdms_changes_{task}"


def log_table_of(log: str) -> str:
    """The change log a Position.log names."""
    return log.removeprefix("sqlite:")


def trigger_prefix(task: str) -> str:
    """Names of the task's triggers start with this (task ids never contain ':')."""
    return f"awsdms_{task}:"


def log_id(task: str) -> str:
    """The Position.log of the task's change log."""
    return f"sqlite:{log_table(task)}"


def at(log: str, seq: int) -> Position:
    """The position of change ``seq`` (and of the boundary that ends a read up to it)."""
    return Position(log, seq, 1, str(seq))


def after(log: str, seq: int) -> Position:
    """The point after change ``seq`` and before the next: where capture starts, and idle heartbeats.

    Its token is ``seq``, and a token given back as a start position means the same point."""
    return Position(log, seq + 1, 0, str(seq))


def last_seq(position: Position) -> int:
    """The last change at or before ``position``."""
    return position.major if position.minor else position.major - 1


def create_log_sql(task: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_ident(log_table(task))} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "tbl TEXT NOT NULL, op TEXT NOT NULL, old TEXT, new TEXT, at REAL NOT NULL)"
    )


def _value(ref: str) -> str:
    # 21 significant digits: SQLite's own 17 ('%!.17g') are wrong past the 16th for large exponents
    # (1.7976931348623157e308 came back as ...155e308); 21 read back exactly.
    return (f"CASE typeof({ref}) WHEN 'real' THEN json_array('f', printf('%!.20e', {ref})) "
            f"WHEN 'blob' THEN json_array('b', hex({ref})) ELSE {ref} END")


def _image(alias: str, names: Sequence[str]) -> str:
    return "json_array(" + ", ".join(_value(f"{alias}.{quote_ident(n)}") for n in names) + ")"


def trigger_sql(task: str, schema: TableSchema) -> list[str]:
    """CREATE TRIGGER statements that log the table's changes into the task's change log."""
    table, log = schema.table.name, quote_ident(log_table(task))
    names, key = schema.column_names, schema.key
    bodies = {
        "I": ("INSERT", f"NULL, {_image('NEW', names)}"),
        "U": ("UPDATE", f"{_image('OLD', key)}, {_image('NEW', names)}"),
        "D": ("DELETE", f"{_image('OLD', key)}, NULL"),
    }
    return [
        f"CREATE TRIGGER {quote_ident(trigger_prefix(task) + table + ':' + op)} AFTER {event} "
        f"ON {quote_ident(table)} BEGIN INSERT INTO {log} (tbl, op, old, new, at) "
        f"VALUES ({quote_text(table)}, '{op}', {images}, {_NOW}); END"
        for op, (event, images) in bodies.items()
    ]


def _untag(values: list[Any]) -> list[Any]:
    for i, v in enumerate(values):
        if type(v) is list:
            values[i] = float(v[1]) if v[0] == "f" else bytes.fromhex(v[1])
    return values


class LogDecoder:
    """Change-log rows -> Changes, for the tables being replicated (others are skipped)."""

    def __init__(self, task: str, tables: Sequence[TableSchema]) -> None:
        self.log = log_id(task)
        self.tables = {
            t.table.name: (t, row_decoder(t.column_names, [c.type for c in t.columns]),
                           row_decoder(t.key, [c.type for k in t.key for c in t.columns if c.name == k]))
            for t in tables
        }

    def at(self, seq: int) -> Position:
        return at(self.log, seq)

    def after(self, seq: int) -> Position:
        return after(self.log, seq)

    def change(self, seq: int, tbl: str, op: str, old: str | None, new: str | None, at: float) -> Change | None:
        found = self.tables.get(tbl)
        if found is None:
            return None
        schema, full, key = found
        before = key(_untag(json.loads(old))) if old is not None else None
        after = full(_untag(json.loads(new))) if new is not None else None
        return Change(schema.table, _OPS[op], self.at(seq), before, after, at)
