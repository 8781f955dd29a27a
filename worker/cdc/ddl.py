"""A source's schema change, met in the change stream: applied on the target in order with the changes
around it, as ChangeProcessingDdlHandlingPolicy says (docs/schema.md, "Schema changes during CDC").

What came before the change is applied first; the change then goes to the target alone, with the
table's checkpoint, mapped through the table's transformation rules: the new source table is mapped as a
table of the task's start would be, and the target's steps are what turns the old target table into the
new one, column by column, following each target column's source column (so a column the rules rename
stays renamed, and one they remove stays removed). A new table the rules select is created and replicated
from its creation on (its rows follow it in the stream); a dropped one leaves the task.

- HandleSourceTableAltered (default true): columns added, dropped, renamed or retyped, and a table renamed,
  change the target table too; false: the target table keeps its shape and name, and the columns it still
  has on the source go on filling it (a new column is left out, a dropped one gets no values).
- HandleSourceTableDropped (default true): the target table is dropped too; false: it stays as it is.
- HandleSourceTableTruncated: the router keeps or drops truncates (router.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.base import Change, Op, TableId, TableSchema, TargetKind
from connectors.ddl import ColumnChange, ColumnDdl, SchemaChange, TableDdl
from connectors.errors import ConfigError, DataError, DmsError
from connectors.model.states import TableStage
from connectors.model.tablemap import TableMap, build_map

from .. import logs
from ..job import describe_error

log = logs.get_logger(__name__)


def column_steps(old: TableMap, new: TableMap, renamed: Mapping[str, str],
                 filled: Mapping[str, Any] = {}) -> tuple[ColumnChange, ...]:  # noqa: B006 (read only)
    """The target's steps from ``old``'s table to ``new``'s: each target column follows its source column
    (through the source's renames); computed columns (add-column rules) stay as they are."""
    now = {o.source: o.name for o in new.outs if o.source}
    new_cols = {c.name: c for c in new.target.columns}
    old_cols = {c.name: c for c in old.target.columns}
    steps: list[ColumnChange] = []
    kept: set[str] = set()
    for out in old.outs:
        if not out.source:
            kept.add(out.name)
            continue
        name = now.get(renamed.get(out.source, out.source))
        if name is None:
            steps.append(ColumnChange(ColumnDdl.DROP, out.name))
            continue
        kept.add(name)
        col = new_cols[name]
        if name != out.name:
            steps.append(ColumnChange(ColumnDdl.RENAME, out.name, col))
        before = old_cols[out.name]
        if (before.native, before.dms, before.type) != (col.native, col.dms, col.type):
            steps.append(ColumnChange(ColumnDdl.RETYPE, name, col))
    source_of = {o.name: o.source for o in new.outs if o.source}
    steps += [ColumnChange(ColumnDdl.ADD, c.name, c, filled.get(source_of.get(c.name, ""))) for c in new.target.columns
              if c.name not in kept and c.name not in old_cols]
    return tuple(steps)


def kept_target(old: TableMap, schema: TableSchema, renamed: Mapping[str, str]) -> TableMap:
    """HandleSourceTableAltered off: the new source table into the old target table, by the columns both
    still have; a target column whose source column is gone is written NULL (so rows stay whole)."""
    have = set(schema.column_names)
    outs = [replace(o, source=renamed.get(o.source, o.source)) if o.source else o for o in old.outs]
    outs = [o if not o.source or o.source in have else replace(o, source=None, expression="NULL") for o in outs]
    mapped = TableMap(schema, old.target, outs, old.filters, old.lob_limit, old.truncation_fails)
    mapped.lob_setting = old.lob_setting
    return mapped


class SchemaChanges:
    """The CDC job's handling of schema changes (the Replicator's ``on_ddl``)."""

    def __init__(self, replicator: Any) -> None:
        self.rep = replicator
        self.job = replicator.job
        self.task = replicator.task
        self.policy = replicator.settings.ddl_handling

    def __call__(self, ch: Change) -> None:
        rep, router, sc = self.rep, self.rep.router, ch.schema
        rep._apply_batch()  # what came before the change applies first
        rep._settle()
        router.reset_route()
        if sc is None:
            self._unknown(ch)
            return
        logs.bind(table=str(ch.table))
        try:
            if sc.kind is TableDdl.CREATE:
                self._create(ch, sc)
                return
            mapped = router.maps.get(ch.table)
            if mapped is None or router.state_of(ch.table) == TableStage.FAILED:
                return
            if router.state_of(ch.table) != TableStage.LIVE:
                self._mid_load(ch, sc)
                return
            if sc.unsupported:
                self._stop(ch.table, sc, sc.unsupported)
                return
            if sc.kind is TableDdl.DROP:
                self._drop(ch, mapped)
            elif sc.kind is TableDdl.RENAME:
                self._rename(ch, mapped, sc)
            else:
                self._alter(ch, mapped, sc)
        finally:
            logs.unbind("table")

    # -- each kind ---------------------------------------------------------------------------------

    def _create(self, ch: Change, sc: SchemaChange) -> None:
        definition, router = self.job.definition, self.rep.router
        schema = sc.schema
        if schema is None or schema.table in router.maps or not definition.mappings.selects(schema.table):
            return
        try:
            mapped = build_map(definition.mappings, definition.settings, schema)
        except ConfigError as exc:
            self._event(f"table {schema.table} was created on the source and is selected, but its rules do not "
                        f"apply: {describe_error(exc)}; it is not replicated")
            return
        if not schema.key and not schema.full_row:
            self._event(f"table {schema.table} was created on the source without a primary key: it is not "
                        "replicated (its updates and deletes could not be applied); add a key and reload the task")
            return
        # An append target (a stream, files) has nothing of the new table to drop: "drop" would tell its
        # consumers that a load starts afresh; the create-table record comes with the change below.
        fresh = definition.settings.prep_mode == "drop" and self.rep.target.kind is not TargetKind.APPEND
        try:
            self.rep.target.prepare(mapped.target, "drop" if fresh else "keep")
        except DmsError as exc:
            self._event(f"table {schema.table} was created on the source but not on the target: {describe_error(exc)}")
            return
        self._adopt(schema.table, mapped)
        self.rep.state.set_table_state(self.task, schema.table, TableStage.LIVE, FullLoadRows=0, Inserts=0,
                                       Updates=0, Deletes=0, Ddls=1)
        router.states[str(schema.table)] = TableStage.LIVE
        if not self._send(ch, mapped, mapped.target, mapped.target):  # in order before its rows (stream targets)
            return
        self._event(f"table {schema.table} was created on the source: created as {mapped.target.table} and "
                    "replicated from its creation on")

    def _drop(self, ch: Change, mapped: TableMap) -> None:
        dropping = bool(self.policy.HandleSourceTableDropped)
        if dropping and not self._send(ch, mapped, mapped.target, mapped.target):
            return
        self.rep.stats.table(ch.table, Ddls=1)
        self._forget(ch.table)
        self._event(f"table {ch.table} was dropped on the source: " + (
            f"dropped {mapped.target.table} on the target" if dropping else
            f"{mapped.target.table} stays on the target (HandleSourceTableDropped is false)"))

    def _rename(self, ch: Change, mapped: TableMap, sc: SchemaChange) -> None:
        definition, schema = self.job.definition, sc.schema
        assert schema is not None
        if not definition.mappings.selects(schema.table):
            self.rep.stats.table(ch.table, Ddls=1)
            self._forget(ch.table)
            self._event(f"table {ch.table} was renamed on the source to {schema.table}, which the rules do not "
                        f"select: it is no longer replicated ({mapped.target.table} stays on the target)")
            return
        if self.policy.HandleSourceTableAltered:
            new = self._map(ch, schema, sc)
            if new is None or not self._send(ch, mapped, new.target, new.target, sc):
                return
        else:
            new = kept_target(mapped, schema, {})
        self.rep.stats.table(ch.table, Ddls=1)
        self._forget(ch.table)
        self._adopt(schema.table, new)
        self.rep.state.set_table_state(self.task, schema.table, TableStage.LIVE, Ddls=1)
        self.rep.router.states[str(schema.table)] = TableStage.LIVE
        self._event(f"table {ch.table} was renamed on the source to {schema.table}: replicated into "
                    f"{new.target.table}")

    def _alter(self, ch: Change, mapped: TableMap, sc: SchemaChange) -> None:
        schema = sc.schema
        assert schema is not None
        if self.policy.HandleSourceTableAltered:
            new = self._map(ch, schema, sc)
            if new is None:
                return
            steps = column_steps(mapped, new, sc.renamed, sc.filled)
            if steps and not self._send(ch, mapped, new.target, new.target, replace(sc, columns=steps)):
                return
        else:
            new = kept_target(mapped, schema, sc.renamed)
            steps = ()
        self.rep.stats.table(ch.table, Ddls=1)
        self._adopt(ch.table, new)
        log.info("schema_changed", statement=sc.describe(), steps=[f"{s.op.value} {s.name}" for s in steps])

    def _mid_load(self, ch: Change, sc: SchemaChange) -> None:
        """A change to a table whose full load or cached changes are still being applied: the load reads the
        columns of its start, and its cache cannot be replayed across the change, so the table stops. An
        altered table's plan takes its new columns first, so that reloading the table alone loads it as it is
        now (the load's DROP_AND_CREATE creates the target table anew)."""
        fix = "reload the task's tables with `dms task start --type reload-target`"
        if sc.kind is TableDdl.ALTER and sc.schema is not None and self.policy.HandleSourceTableAltered:
            new = self._map(ch, sc.schema, sc)
            if new is None:
                return  # the rules no longer apply: stopped, saying so
            self._adopt(ch.table, new)
            fix = f"reload the table, as it is now, with `dms task reload-tables {self.task} --table {ch.table}`"
        self._stop(ch.table, sc, f"it changed while its full load or cached changes were being applied (they "
                                 f"cannot be replayed across the change): {fix}")

    def _unknown(self, ch: Change) -> None:
        """A source that says only that the columns changed (no schema): the table stops, as before."""
        names = (ch.after or {}).get("columns", [])
        mapped = self.rep.router.maps.get(ch.table)
        if mapped is None:
            return
        self.rep.stats.table(ch.table, Ddls=1)
        self.rep.policies.suspend(ch.table, DataError(
            f"columns of {ch.table} changed on the source (now {', '.join(names)}) after the task started, and this "
            "source does not say how: make the same change on the target, then reload the table with "
            "`dms task start --type reload-target`"))

    # -- shared ------------------------------------------------------------------------------------

    def _map(self, ch: Change, schema: TableSchema, sc: SchemaChange) -> TableMap | None:
        definition = self.job.definition
        try:
            return build_map(definition.mappings, definition.settings, schema)
        except ConfigError as exc:
            self._stop(ch.table, sc, f"the table's rules no longer apply to it ({describe_error(exc)}): change "
                                     "the rules to the new columns, then reload the table with "
                                     "`dms task start --type reload-target`")
            return None

    def _send(self, ch: Change, mapped: TableMap, now: TableSchema, into: TableSchema,
              sc: SchemaChange | None = None) -> bool:
        """The target change, alone in its transaction with the table's checkpoint; False: the table stopped."""
        sc = sc or ch.schema
        assert sc is not None
        target_change = Change(mapped.target.table, Op.DDL, ch.position, after={"columns": list(now.column_names)},
                               commit_time=ch.commit_time, txid=ch.txid, schema=replace(sc, schema=now))
        try:
            self.rep.target.apply(self.task, {into: [target_change]})
        except DmsError as exc:
            self._stop(ch.table, sc, f"the target refused it: {describe_error(exc)}; make the change on the target "
                                     "by hand and reload the table with `dms task start --type reload-target`")
            return False
        self.rep.router.applied[into.table] = ch.position
        return True

    def _adopt(self, table: TableId, mapped: TableMap) -> None:
        """The table's new plan, for this run and the next."""
        router = self.rep.router
        old = router.maps.get(table)
        if old is not None:
            router.by_target.pop(old.target.table, None)
        router.tables[table] = mapped.source
        router.maps[table] = mapped
        router.names[table] = str(table)
        router.by_target[mapped.target.table] = mapped
        self.rep.state.save_table(self.task, mapped.source)

    def _forget(self, table: TableId) -> None:
        router = self.rep.router
        old = router.maps.pop(table, None)
        router.tables.pop(table, None)
        router.states.pop(str(table), None)
        if old is not None:
            router.by_target.pop(old.target.table, None)
        self.rep.state.drop_table(self.task, table)

    def _stop(self, table: TableId, sc: SchemaChange, why: str) -> None:
        self.rep.stats.table(table, Ddls=1)
        self.rep.policies.suspend(table, DataError(f"{sc.describe()!r} on {table} cannot be replicated: {why}"))

    def _event(self, text: str) -> None:
        log.info("schema_change", detail=text)
        self.rep.state.add_event(self.task, "configuration change", text)
