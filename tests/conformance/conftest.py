"""Fixtures of the conformance suite: every (source engine, target engine) pair, its databases made once
per test module; PostgreSQL's servers come from tests/services.py (started once per session, and only
when a PostgreSQL pair runs)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from services import fresh_db

from .engines import ENGINES, Engine, MemoryEngine, PostgresEngine, SqliteEngine

PAIRS = [pytest.param((s, t), id=f"{s}-{t}") for s, t in itertools.product(ENGINES, ENGINES)]


@pytest.fixture(scope="module")
def make_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Callable[[str, str], Engine]]:
    """make(engine, role) -> a fresh database of that engine, for a source ("source") or a target ("target")."""
    made: list[Engine] = []

    def make(name: str, role: str) -> Engine:
        if name == "memory":
            engine: Engine = MemoryEngine()
        elif name == "sqlite":
            engine = SqliteEngine(tmp_path_factory.mktemp(f"sqlite-{role}"))
        else:
            # the source server has wal_level=logical; the target server is a second cluster
            server = request.getfixturevalue("pg" if role == "source" else "pg_target")
            engine = PostgresEngine(fresh_db(server))
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
