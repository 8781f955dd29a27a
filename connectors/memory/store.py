"""The in-memory database: tables of rows by key, transactions, per-task change capture, control data.

One lock guards a database. A transaction (an application's writes, a target's load or apply) works
on copies of the tables it touches and swaps them in when it commits, so a failure anywhere leaves
the database as it was. Every value is checked against its column's portable type as a database
would, so a connector that hands on a value of the wrong type fails here rather than passing unseen.
"""

from __future__ import annotations

import datetime
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.base import Change, Column, Endpoint, KeyRange, Op, Position, Row, TableId, TableSchema
from connectors.errors import ConfigError, DataError

_DATABASES: dict[str, Database] = {}
_REGISTRY_LOCK = threading.Lock()

_INT_BITS = {"int2": 16, "int4": 32, "int8": 64}
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,), "float4": (float,), "float8": (float,), "numeric": (Decimal,), "bytes": (bytes,),
}  # every other portable type travels as text (connectors/base.py)


def database(name: str, partitions: int = 1) -> Database:
    """The memory database of this process named ``name``, made empty if there is none yet (its change
    capture in ``partitions`` logs)."""
    with _REGISTRY_LOCK:
        if name not in _DATABASES:
            _DATABASES[name] = Database(name, partitions)
        return _DATABASES[name]


def open_database(ep: Endpoint) -> Database:
    """The database an endpoint names, which this process must have made (a memory database is not shared)."""
    with _REGISTRY_LOCK:
        found = _DATABASES.get(ep.database)
    if found is None:
        raise ConfigError(f"{ep.where()}: this process has no memory database named {ep.database!r}; the memory "
                          "engine keeps its tables in one process's memory, for tests that make the database "
                          "first (connectors.memory.database(name)): use a real engine for a task")
    return found


def drop_database(name: str) -> None:
    with _REGISTRY_LOCK:
        _DATABASES.pop(name, None)


def check_value(table: TableId, column: Column, value: Any) -> None:
    """DataError unless ``value`` is a plain value of the column's portable type (None where nullable)."""
    if value is None:
        if not column.nullable:
            raise DataError(f"null value in column {column.name} of {table} violates its NOT NULL constraint")
        return
    bits = _INT_BITS.get(column.type)
    if bits is not None:
        if type(value) is not int:
            raise DataError(f"column {column.name} of {table} is {column.type}: {type(value).__name__} "
                            f"value {value!r} is not an integer")
        if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise DataError(f"value {value} is out of range for {column.type} column {column.name} of {table}")
        return
    allowed = _PYTHON_TYPES.get(column.type, (str,))
    if type(value) not in allowed:
        raise DataError(f"column {column.name} of {table} is {column.type}: expected "
                        f"{' or '.join(t.__name__ for t in allowed)}, got {type(value).__name__} {value!r}")


@dataclass
class Table:
    schema: TableSchema
    rows: dict[tuple, dict[str, Any]] = field(default_factory=dict)  # by key; by a row number when keyless
    keyed: bool = True  # False while a table created without its key (CreatePkAfterFullLoad) waits for it
    serial: int = 0  # the last row number given to a row of a keyless table

    def key_of(self, row: Row) -> tuple:
        if self.keyed and self.schema.key:
            return tuple(row.get(k) for k in self.schema.key)
        self.serial += 1
        return (self.serial,)

    def copy(self) -> Table:
        return Table(self.schema, dict(self.rows), self.keyed, self.serial)

    def clean(self, row: Row, *, full: bool = True) -> dict[str, Any]:
        """The row's values of this table's columns, checked; every column when ``full`` (absent: NULL)."""
        out = {}
        for column in self.schema.columns:
            if column.name in row:
                value = row[column.name]
            elif full:
                value = None
            else:
                continue
            check_value(self.schema.table, column, value)
            out[column.name] = value
        return out

    def ordered(self) -> list[dict[str, Any]]:
        """The rows in key order (a keyless table's in the order they came)."""
        if not (self.keyed and self.schema.key):
            return list(self.rows.values())
        return [self.rows[k] for k in sorted(self.rows, key=_sortable)]


def _sortable(key: tuple) -> tuple:
    return tuple((v is not None, v) for v in key)  # NULLs first; a key column is never null anyway


def in_range(key: tuple, within: KeyRange | None) -> bool:
    if within is None:
        return True
    return (within.after is None or key > tuple(within.after)) and (within.upto is None or key <= tuple(within.upto))


@dataclass
class Capture:
    """A task's change capture: its tables and, per log (partition), the transactions committed since
    start_cdc that are not yet acked there."""

    logs: tuple[str, ...]
    tables: frozenset[TableId]
    entries: dict[str, deque[tuple[int, list[Change]]]] = field(default_factory=dict)
    acked: dict[str, Position] = field(default_factory=dict)  # per log: the last ack, up to which it is gone

    def __post_init__(self) -> None:
        for log in self.logs:
            self.entries.setdefault(log, deque())

    @property
    def log(self) -> str:
        """The first log (the only one of a database with one partition)."""
        return self.logs[0]


class Database:
    """Tables, their change capture by task, and a target's checkpoints and exceptions."""

    POLL = 0.02  # seconds a change stream waits for a commit before it says it is idle

    def __init__(self, name: str, partitions: int = 1) -> None:
        self.name = name
        # Logs of its change capture: with several, each table's changes go to one of them (as a collection
        # lives on one shard), ordered only within it: the multi-position path of connectors/base.Positions.
        self.partitions = partitions
        self.lock = threading.RLock()
        self.committed = threading.Condition(self.lock)
        self.tables: dict[TableId, Table] = {}
        self.txn = 0  # the last transaction committed
        self.captures: dict[str, Capture] = {}
        self.checkpoints: dict[tuple[str, TableId], Position] = {}
        self.exceptions: list[dict[str, Any]] = []

    # -- what an application does -----------------------------------------------------------------

    def create_table(self, schema: TableSchema) -> None:
        with self.lock:
            self.tables[schema.table] = Table(schema)

    def drop_table(self, table: TableId) -> None:
        with self.lock:
            self.tables.pop(table, None)

    def table(self, table: TableId) -> Table:
        found = self.tables.get(table)
        if found is None:
            raise DataError(f"table {table} does not exist in memory database {self.name}")
        return found

    def rows(self, table: TableId) -> list[dict[str, Any]]:
        """A copy of the table's rows in key order."""
        with self.lock:
            return [dict(r) for r in self.table(table).ordered()]

    @contextmanager
    def transaction(self) -> Iterator[Writes]:
        """Writes made in the block commit together, as one source transaction, when it ends."""
        writes = Writes(self)
        yield writes
        writes.commit()

    def insert(self, table: TableId, *rows: Row) -> None:
        with self.transaction() as tx:
            for row in rows:
                tx.insert(table, row)

    def update(self, table: TableId, key: tuple, values: Row) -> None:
        with self.transaction() as tx:
            tx.update(table, key, values)

    def delete(self, table: TableId, *keys: tuple) -> None:
        with self.transaction() as tx:
            for key in keys:
                tx.delete(table, key)

    def truncate(self, table: TableId) -> None:
        with self.transaction() as tx:
            tx.truncate(table)

    # -- change capture ---------------------------------------------------------------------------

    def log_id(self, task: str, partition: int = 0) -> str:
        return f"memory:{self.name}/{task}" if self.partitions == 1 else f"memory:{self.name}/{task}#{partition}"

    def log_ids(self, task: str) -> tuple[str, ...]:
        return tuple(self.log_id(task, p) for p in range(self.partitions))

    def partition(self, table: TableId) -> int:
        """The partition (log) a table's changes go to: stable across runs and processes."""
        return zlib.crc32(str(table).encode()) % self.partitions

    def publish(self, changes: list[tuple[TableId, Op, Row | None, Row | None]], at: float) -> None:
        """A committed transaction's changes into the capture of every task that has their tables (lock held)."""
        self.txn += 1
        for capture in self.captures.values():
            for part, log in enumerate(capture.logs):
                mine = [c for c in changes if c[0] in capture.tables and self.partition(c[0]) == part]
                if mine:
                    capture.entries[log].append((self.txn, [
                        Change(table, op, position(log, self.txn, i), before, after, at, str(self.txn))
                        for i, (table, op, before, after) in enumerate(mine, 1)]))
        self.committed.notify_all()


class Writes:
    """An application's transaction on a memory database: applied and captured at commit, all or nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ops: list[tuple[str, TableId, Any, Any]] = []

    def insert(self, table: TableId, row: Row) -> None:
        self.ops.append(("insert", table, dict(row), None))

    def update(self, table: TableId, key: tuple, values: Row) -> None:
        """Set ``values`` on the row with this key; values may change the key."""
        self.ops.append(("update", table, tuple(key), dict(values)))

    def delete(self, table: TableId, key: tuple) -> None:
        self.ops.append(("delete", table, tuple(key), None))

    def truncate(self, table: TableId) -> None:
        self.ops.append(("truncate", table, None, None))

    def commit(self) -> None:
        db = self.db
        with db.lock:
            work: dict[TableId, Table] = {}
            changes: list[tuple[TableId, Op, Row | None, Row | None]] = []
            for kind, name, a, b in self.ops:
                t = work.get(name) or work.setdefault(name, db.table(name).copy())
                if kind == "insert":
                    row = t.clean(a)
                    k = t.key_of(row)
                    if k in t.rows:
                        raise DataError(f"duplicate key {k} in {name}")
                    t.rows[k] = row
                    changes.append((name, Op.INSERT, None, dict(row)))
                elif kind == "update":
                    old = t.rows.pop(a, None)
                    if old is None:
                        raise DataError(f"no row with key {a} in {name} to update")
                    row = t.clean({**old, **b})
                    k = t.key_of(row)
                    if k in t.rows:
                        raise DataError(f"duplicate key {k} in {name}")
                    t.rows[k] = row
                    changes.append((name, Op.UPDATE, dict(old), dict(row)))
                elif kind == "delete":
                    old = t.rows.pop(a, None)
                    if old is not None:  # a DELETE that matches nothing changes nothing
                        changes.append((name, Op.DELETE, dict(old), None))
                else:
                    t.rows.clear()
                    changes.append((name, Op.TRUNCATE, None, None))
            db.tables.update(work)
            db.publish(changes, datetime.datetime.now(datetime.UTC).timestamp())
        self.ops = []


def position(log: str, txn: int, minor: int) -> Position:
    """Change ``minor`` of transaction ``txn`` (minor 0: the point before the transaction's changes)."""
    return Position(log, txn, minor, f"{txn}.{minor}")
