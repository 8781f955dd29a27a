"""Fixtures of the tests of the CDC job's parts (worker/cdc/): see cdc_parts.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker.state import StateStore

from .cdc_parts import Memory, live_state


@pytest.fixture
def state(redis_server) -> Iterator[StateStore]:
    """The live state on the tests' real Redis."""
    yield from live_state(redis_server.url)


@pytest.fixture
def mem() -> Iterator[Memory]:
    """A memory source and target of one table, capture started."""
    made = Memory()
    yield made
    made.close()
