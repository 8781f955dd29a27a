"""In-memory databases, as source and as target: the reference connector that every contract of
connectors/base.py is checked against, with no server (see connectors/registry.py).

An endpoint's database names a :class:`store.Database` of this process, made first with
``connectors.memory.database(name)``. Its limits, by design:

- one process only: a memory database is not shared with other processes (a `dms worker`, the CLI
  or a Celery pool) and is gone when its process ends, so it serves tests and embedded use, never a
  deployed task; opening an endpoint whose database was not made in this process is a ConfigError;
- any Python value of the column's portable type is kept as it is (no rounding, no length limit, no
  time zone); unique indexes other than the key are not enforced;
- as a source it captures changes per task from start_cdc on, with full before images; positions
  are (transaction, change) numbers of the database's own counter, shown as ``N.M``;
- ``database(name, partitions=2)`` captures into two logs (each table's changes in one), the path of
  sources with several positions (connectors/base.Positions); a table made with
  ``connectors.base.document_table`` is schemaless, its rows ``_id`` + ``_doc`` (documents mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Database, database, drop_database

SOURCE = "source:MemorySource"
TARGET = "target:MemoryTarget"
# The same target declared of the other kinds (extra connection attribute targetKind=keyed|append), so
# that what a task planned against such a target is refused or warned about can be tried without one.
TARGET_KINDS = {"transactional": "target:MemoryTarget", "keyed": "target:MemoryKeyedTarget",
                "append": "target:MemoryAppendTarget"}
PORT = 0

__all__ = ["Database", "database", "drop_database"]


def __getattr__(name: str) -> Any:
    """The store on first use: the registry imports every engine's package at every CLI start."""
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
