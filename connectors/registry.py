"""Engine name -> connector classes, imported lazily so one engine's driver never loads another's."""

from __future__ import annotations

import importlib

from connectors.base import Endpoint, Source, Target
from connectors.errors import ConfigError

_SOURCES = {"postgres": "connectors.postgres.source:PostgresSource"}
_TARGETS = {"postgres": "connectors.postgres.target:PostgresTarget"}
ENGINES = ("postgres",)


def _load(table: dict[str, str], ep: Endpoint, role: str):
    path = table.get(ep.engine)
    if path is None:
        raise ConfigError(
            f"engine {ep.engine!r} of endpoint {ep.id} is not available as a {role}: use one of {', '.join(table)}"
        )
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def open_source(ep: Endpoint) -> Source:
    return _load(_SOURCES, ep, "source")(ep)


def open_target(ep: Endpoint) -> Target:
    return _load(_TARGETS, ep, "target")(ep)


def open_endpoint(ep: Endpoint) -> Source | Target:
    return open_source(ep) if ep.kind == "source" else open_target(ep)
