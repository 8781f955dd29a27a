"""Where a task's change stream starts (StateStore.resume_at): P0, or the last acknowledged position when later in
the same log, so a source that keeps no capture of its own (a server's log kept for everyone) does not read its
whole log again from P0 at every resume."""

from __future__ import annotations

import pytest

from connectors.base import Position
from worker.state import StateStore

pytestmark = pytest.mark.integration


def test_the_stream_starts_at_p0_until_the_source_is_acknowledged(state: StateStore) -> None:
    p0 = Position("log-a", 10, 0, "10")
    state.set_task("resume-at", p0=p0)
    assert state.resume_at("resume-at") == p0
    state.set_task("resume-at", cdc_acked=Position("log-a", 42, 3, "42"))
    assert state.resume_at("resume-at") == Position("log-a", 42, 3)


def test_an_acknowledgement_of_another_log_or_before_p0_is_not_a_start(state: StateStore) -> None:
    p0 = Position("log-a", 10, 0, "10")
    state.set_task("resume-at-2", p0=p0, cdc_acked=Position("log-b", 99, 1, "99"))
    assert state.resume_at("resume-at-2") == p0
    state.set_task("resume-at-2", cdc_acked=Position("log-a", 5, 1, "5"))
    assert state.resume_at("resume-at-2") == p0
    assert state.resume_at("no-such-task") is None
