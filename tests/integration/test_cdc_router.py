"""worker/cdc/router.py: each change to the batch, the change cache (a real Redis) or nowhere."""

from __future__ import annotations

import pytest
from cdc_parts import SCHEMA, T, settings, table_map

from connectors.base import Change, Op, Position
from worker.cache import ChangeCache
from worker.cdc.router import Router
from worker.state import StateStore

pytestmark = pytest.mark.integration

LOG = "memory:router/task"



def _ch(major: int, minor: int, op: Op = Op.INSERT, after: dict | None = None) -> Change:
    return Change(T, op, Position(LOG, major, minor), None, after or {"id": minor, "s": "x"}, 1000.0 + major,
                  str(major))


def _router(state: StateStore, task: str, table_state: str, keep_truncates: bool = True) -> tuple[Router, list]:
    ddl: list[Change] = []
    m = table_map(settings())
    router = Router({T: SCHEMA}, {T: m}, ChangeCache(state, task, LOG), keep_truncates=keep_truncates,
                    on_ddl=ddl.append)
    router.states = {"public.t": table_state}
    return router, ddl


def test_a_live_tables_changes_join_the_batch_past_the_targets_checkpoint(state: StateStore) -> None:
    router, _ = _router(state, "router-live", "live")
    router.applied = {T: Position(LOG, 5, 2)}  # the target has up to 5.2 already (a restart)
    changes = [_ch(5, 1), _ch(5, 2), _ch(5, 3), _ch(6, 1)]
    for ch in changes:
        router.route(ch)
    router.boundary(Position(LOG, 6, 1))
    assert router.read == 4 and router.pending == 2 and not router.caught_up
    assert router.last == Position(LOG, 6, 1) and router.last_commit_read == 1006.0
    assert router.in_memory() == 2 and router.oldest() == 1005.0
    batch = router.take()
    assert list(batch.values()) == [changes[2:]] and not router.batch
    router.boundary(Position(LOG, 7, 0))  # a heartbeat: nothing more to read
    assert router.caught_up and router.last == Position(LOG, 7, 0)


def test_a_floor_holds_back_a_live_tables_changes_its_load_had_already(state: StateStore) -> None:
    # A keyless table's load snapshot is at 5.0: the stream, behind it when the table went live, skips
    # what the snapshot holds (CI once applied an update twice that way, and the target lost a row).
    router, _ = _router(state, "router-floor", "live")
    router.floor(T, Position(LOG, 5, 0))
    router.floor(T, Position(LOG, 3, 0))  # never lowered
    changes = [_ch(4, 1), _ch(4, 2), _ch(5, 1), _ch(6, 1)]
    for ch in changes:
        router.route(ch)
    assert list(router.take().values()) == [changes[2:]]
    assert router.applied == {T: Position(LOG, 5, 0)}


def test_a_loading_tables_changes_go_to_its_cache_in_redis(state: StateStore) -> None:
    router, _ = _router(state, "router-cache", "loading")
    changes = [_ch(3, 1), _ch(3, 2, Op.UPDATE, {"id": 1, "s": "y"})]
    for ch in changes:
        router.route(ch)
    assert router.pending == 2 and not router.batch and router.caching() == ["public.t"]
    router.cache.flush()
    assert [c for chunk in router.cache.read(T) for c in chunk] == changes
    assert state.cached_changes("router-cache", ["public.t"]) == 2
    router.cache.drop(T)


def test_a_failed_tables_changes_are_dropped_and_so_is_its_schema_change(state: StateStore) -> None:
    router, ddl = _router(state, "router-failed", "failed")
    router.route(_ch(1, 1))
    router.route(_ch(1, 2, Op.DDL, {"columns": ["id"]}))
    assert router.read == 2 and router.pending == 0 and not router.batch and ddl == []


def test_truncates_follow_handle_source_table_truncated_and_schema_changes_go_to_on_ddl(state: StateStore) -> None:
    router, ddl = _router(state, "router-ddl", "live", keep_truncates=False)
    router.route(_ch(1, 1, Op.TRUNCATE, {}))
    assert router.pending == 0
    change = _ch(1, 2, Op.DDL, {"columns": ["id", "s", "new"]})
    router.route(change)
    assert ddl == [change] and router.pending == 0
    kept, _ = _router(state, "router-ddl2", "live", keep_truncates=True)
    kept.route(_ch(1, 1, Op.TRUNCATE, {}))
    assert kept.pending == 1
    kept.failed(T)
    assert kept.state_of(T) == "failed"
