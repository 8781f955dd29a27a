"""Applying batches of changes: mapped for the target, applied with each table's checkpoint in one
target transaction, accounted for, and sent through the error policies when they do not apply.

A batch from the live stream goes to the apply thread (:meth:`Applier.submit`), so that reading,
routing and collapsing the next one go on while the target works on it; at most one is in flight.
Cached changes and the retries of a failed batch apply on the caller's thread (:meth:`Applier.apply`).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import Change, Conflict, Position, TableSchema
from connectors.errors import ApplyConflict, DataError, ObjectError
from connectors.model.states import TableStage
from connectors.model.tablemap import TableMap

from .. import logs
from ..job import describe_error
from .policies import ErrorPolicies
from .router import Router
from .stats import Statistics, Tally

log = logs.get_logger(__name__)

Mapped = dict[TableSchema, list[Change]]


class ReadAgain(Exception):
    """A streamed source transaction failed to apply: its parts are gone from memory, the source has them."""

    def __init__(self, upto: Position, error: str) -> None:
        super().__init__(error)
        self.upto, self.error = upto, error


@dataclass
class InFlight:
    """A batch on the apply thread, and what accounting for it needs (a streamed one: its tally)."""

    future: concurrent.futures.Future
    changes: Mapping[TableMap, Sequence[Change]]
    mapped: Mapped | None
    upto: Position | None
    tally: Tally | None = None


class Applier:
    def __init__(self, task: str, source: Any, target: Any, router: Router, policies: ErrorPolicies,
                 stats: Statistics, *, takes_text: bool) -> None:
        self.task = task
        self.source = source
        self.target = target
        self.router = router
        self.policies = policies
        self.stats = stats
        self.takes_text = takes_text
        self.thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cdc-apply")
        self.inflight: InFlight | None = None
        self.applied_upto: Position | None = None  # everything read up to here is on the target

    def close(self) -> None:
        self.thread.shutdown(wait=True)  # the target's connection is the apply thread's until then

    def mapped(self, changes: Mapping[TableMap, Sequence[Change]]) -> Mapped:
        """Source changes -> the target's (renamed, filtered, computed), tables left with none dropped; a
        table whose rules fail is suspended."""
        out: Mapped = {}
        for mapped, items in changes.items():
            if items and items[0].text:
                # One form per table and batch (net effects key rows by their values): text all the way
                # when the target speaks the source's text and no rule touches a value, else decoded.
                if self.takes_text and (mapped.identity or all(mapped.keeps(ch) for ch in items)):
                    out[mapped.target] = list(items)
                    continue
                items = [self.source.decode(mapped.source, ch) for ch in items]
            if mapped.identity:
                out[mapped.target] = list(items)
                continue
            try:
                out[mapped.target] = [c for ch in items for c in mapped.changes(ch)]
            except DataError as exc:
                self.data_error(mapped, exc)
                continue
            truncated = mapped.take_truncations()
            if truncated:
                log.warning("lob_truncated", table=str(mapped.source.table), values=truncated)
                self.stats.table(mapped.source.table, LobTruncations=truncated)
        return {schema: items for schema, items in out.items() if items}

    def apply(self, changes: Mapping[TableMap, Sequence[Change]], cached: bool = False) -> None:
        """Apply on this thread, after the batch in flight."""
        self.settle()
        mapped = self.mapped(changes)
        if not mapped:
            return
        try:
            conflicts = self.target.apply(self.task, mapped, self.policies.rules(cached))
        except DataError as exc:
            self.failed(changes, mapped, exc, cached)
            return
        self.record(mapped, conflicts)
        self.policies.conflicted(conflicts)

    def failed(self, changes: Mapping[TableMap, Sequence[Change]], mapped: Mapping[TableSchema, Sequence[Change]],
               exc: DataError, cached: bool) -> None:
        """Nothing of the batch was applied: find the table at fault, the others go on."""
        if len(changes) > 1:
            for table_map, items in changes.items():
                self.apply({table_map: items}, cached)
            return
        (table_map,) = changes
        if isinstance(exc, ApplyConflict):
            self.policies.stop_on_conflict(table_map, exc)
        else:
            self.data_error(table_map, exc, mapped.get(table_map.target, []), cached)

    def data_error(self, mapped: TableMap, exc: DataError, changes: Sequence[Change] = (),
                   cached: bool = False) -> None:
        """A table's changes could not be applied: ErrorBehavior.DataErrorPolicy decides what follows,
        unless the table itself refuses them (ObjectError): then it fails at once, under TableErrorPolicy."""
        policies, table = self.policies, mapped.source.table
        if isinstance(exc, ObjectError):
            policies.suspend(table, exc)
            return
        policy = policies.errors.DataErrorPolicy
        if policy == "STOP_TASK":  # the job stops at its next check
            policies.fail_task(table, f"changes to {table} could not be applied and DataErrorPolicy is "
                                      f"STOP_TASK: {describe_error(exc)}")
            return
        if policy == "SUSPEND_TABLE" or not changes:
            policies.suspend(table, exc)
            return
        # IGNORE_RECORD, LOG_ERROR: apply one change at a time; the ones that fail are skipped (and logged)
        for ch in changes:
            try:
                conflicts = self.target.apply(self.task, {mapped.target: [ch]}, policies.rules(cached))
            except ApplyConflict as conflict:
                policies.stop_on_conflict(mapped, conflict)
                return
            except ObjectError as refused:
                policies.suspend(table, refused)
                return
            except DataError as one:
                policies.skipped(mapped, ch, describe_error(one))
                continue
            self.record({mapped.target: [ch]}, conflicts)
            policies.conflicted(conflicts)
            if self.router.state_of(table) == TableStage.FAILED:
                return

    def submit(self, changes: Mapping[TableMap, Sequence[Change]], upto: Position | None) -> None:
        """Apply a batch on the apply thread. This one is mapped and planned while the last one is still
        in the target; it goes once the last one is accounted for."""
        mapped = self.mapped(changes)
        rules = self.policies.rules(False)
        planned = self.target.plan(mapped, rules) if mapped else None
        self.settle()
        if not mapped:
            self.applied_upto = upto
            return

        def apply() -> tuple[list[Conflict], float]:
            return self.target.apply(self.task, planned, rules), time.time()

        self.inflight = InFlight(self.thread.submit(apply), changes, mapped, upto)

    def settle(self) -> None:
        """Wait for the batch in flight, then account for it as :meth:`apply` does."""
        flight, self.inflight = self.inflight, None
        if flight is None:
            return
        try:
            conflicts, finished = flight.future.result()
        except DataError as exc:
            if flight.mapped is None:  # streamed: its parts are gone from memory, the source has them
                raise ReadAgain(flight.upto, describe_error(exc)) from None
            self.failed(flight.changes, flight.mapped, exc, False)
        else:
            self.record(flight.mapped if flight.mapped is not None else flight.tally, conflicts, finished)
            self.policies.conflicted(conflicts)
        self.applied_upto = flight.upto

    def record(self, mapped: Mapping[TableSchema, Sequence[Change]] | Tally | None,
               skipped: Sequence[Conflict] = (), finished: float | None = None) -> None:
        """An apply is on the target: the checkpoints it moved, and its statistics."""
        tally = mapped if isinstance(mapped, Tally) else Tally(self.router.by_target).add(mapped or {})
        tally.skip(skipped)
        if not tally.last:
            return
        self.router.applied.update(tally.last)
        self.stats.applied(tally, finished)
