"""What the targets that are not SQL databases share: no schema to change around a load and no planning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from .base import Capability, Change, OnConflict, Op, PrepMode, TableSchema, TargetKind


class StoreTarget:
    """A target whose store has nothing to set aside for a load or put back after it, no keys to add after
    a load (a record's key is its own: a name, an id, a file has none) and no source bulk format it takes
    as it is; a batch needs no planning on the caller's thread. An engine overrides what it does do."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ_BACK})
    text_engine: ClassVar[str | None] = None

    def after_load(self, task: str, *, replicating: bool) -> list[str]:
        return []

    def create_keys(self, table: TableSchema) -> list[str]:
        return []

    def bulk_format(self, table: TableSchema) -> str | None:
        return None

    def plan(self, changes: Mapping[TableSchema, Sequence[Change]],
             on_conflict: Mapping[Op, OnConflict] | None = None) -> Mapping[TableSchema, Sequence[Change]]:
        return changes


class AppendTarget(StoreTarget):
    """A target that appends records (TargetKind.APPEND): nothing to empty before a load either (task create
    refuses TRUNCATE_BEFORE_LOAD for an append target)."""

    kind: ClassVar[TargetKind] = TargetKind.APPEND

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        return []


class KeyedTarget(StoreTarget):
    """A target that keeps one record per key (TargetKind.KEYED); connectors/keyed.py works a batch out."""

    kind: ClassVar[TargetKind] = TargetKind.KEYED
