"""Fixtures of the conformance suite: the (source engine, target engine) pairs of engines.pairs(), their
databases made once per test module; servers come from tests/services.py (started once per session, and
only when a pair of their engine runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .engines import ENGINES, Engine, pairs

PAIRS = [pytest.param((s, t), id=f"{s}-{t}") for s, t in pairs()]


@pytest.fixture(scope="module")
def make_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Callable[[str, str], Engine]]:
    """make(engine, role) -> a fresh database of that engine, for a source ("source") or a target ("target")."""
    made: list[Engine] = []

    def make(name: str, role: str) -> Engine:
        engine = ENGINES[name].make(role, request, tmp_path_factory)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture(scope="module")
def engines(request: pytest.FixtureRequest, make_engine) -> dict[tuple[str, str], Engine]:
    """One database per (engine, role) for a module, made when first asked for."""
    cache: dict[tuple[str, str], Engine] = {}

    class _Lazy(dict):
        def __missing__(self, key: tuple[str, str]) -> Engine:
            cache[key] = make_engine(*key)
            self[key] = cache[key]
            return cache[key]

    return _Lazy()
