"""Fixtures of the tests of the CDC job's parts (worker/cdc/) that need a real Redis: see tests/cdc_parts.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cdc_parts import live_state

from worker.state import StateStore


@pytest.fixture
def state(redis_server) -> Iterator[StateStore]:
    """The live state on the tests' real Redis."""
    yield from live_state(redis_server.url)
