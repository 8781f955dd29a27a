"""Engine name -> connector classes, found by convention and imported lazily.

Every package in connectors/ is an engine named after its package. Its ``__init__.py`` names its
classes as ``"module:Class"`` strings relative to the package, without importing them:
``SOURCE = "source:PostgresSource"``, ``TARGET = "target:PostgresTarget"`` (either may be absent),
``PORT``, its usual port (0 for a file), ``ALIASES``, other engine names it serves too, and
``TYPES = "types:TYPES"``, its connectors.types.TypeTable (absent: its natives are the portable value
classes, as the memory engine's). An engine may offer target
classes of other kinds (connectors.base.TargetKind) as ``TARGET_KINDS = {"keyed": "module:Class"}``,
chosen by the endpoint's extra connection attribute ``targetKind``. An engine with a DMS endpoint settings
object (``--redis-settings``, ...) names it as ``SETTINGS = "module:NAME"``, a connectors.settings_object
SettingsObject. So a new engine is one new package, and one engine's driver never loads another's.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import connectors
from connectors.base import Endpoint, Source, Target
from connectors.errors import ConfigError
from connectors.settings_object import SettingsObject
from connectors.types import TypeTable, portable_table


def _engines() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(connectors.__path__):
        if info.ispkg:
            package = importlib.import_module(f"connectors.{info.name}")
            if hasattr(package, "SOURCE") or hasattr(package, "TARGET"):
                found[info.name] = package
                # Other names DMS gives the same engine (a compatible product served by one package).
                for alias in getattr(package, "ALIASES", ()):
                    found[alias] = package
    return dict(sorted(found.items()))


_ENGINES = _engines()
ENGINES = tuple(_ENGINES)


def default_port(engine: str) -> int:
    return int(getattr(_ENGINES.get(engine), "PORT", 0))


def type_table(engine: str) -> TypeTable:
    """The engine's type mapping (native <-> DMS types), without loading its driver."""
    package = _ENGINES.get(engine)
    spec = getattr(package, "TYPES", None)
    if package is None or spec is None:
        return portable_table(engine)
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f".{module}", package.__name__), name)


def settings_object(engine: str) -> SettingsObject | None:
    """The engine's endpoint settings object (DMS's keys), or None when it has none."""
    package = _ENGINES.get(engine)
    spec = getattr(package, "SETTINGS", None)
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f".{module}", package.__name__), name)


def target_class(ep: Endpoint) -> type[Target]:
    """The endpoint's Target class, unopened: its kind and capabilities."""
    return _load(ep, "target")


def _load(ep: Endpoint, role: str):
    role_attr = role.upper()
    offered = [name for name, package in _ENGINES.items() if hasattr(package, role_attr)]
    package = _ENGINES.get(ep.engine)
    if package is None or not hasattr(package, role_attr):
        raise ConfigError(
            f"engine {ep.engine!r} of endpoint {ep.id} is not available as a {role}: use one of {', '.join(offered)}"
        )
    spec = getattr(package, role_attr)
    variants = getattr(package, "TARGET_KINDS", {}) if role == "target" else {}
    if ep.extra.get("targetKind"):
        if ep.extra["targetKind"] not in variants:
            raise ConfigError(f"endpoint {ep.id}: extra connection attribute targetKind={ep.extra['targetKind']} is "
                              f"not offered by engine {ep.engine}"
                              + (f": use one of {', '.join(variants)}" if variants else ": remove it"))
        spec = variants[ep.extra["targetKind"]]
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f".{module}", package.__name__), name)


def source_class(ep: Endpoint) -> type[Source]:
    """The endpoint's Source class, unopened: for what it tells without a connection."""
    return _load(ep, "source")


def engine_source(engine: str) -> type[Source]:
    """The Source class of an engine by name, unopened; the base class for an engine without one (its
    defaults answer for it, e.g. in messages about tables that engine described)."""
    package = _ENGINES.get(engine)
    if package is None or not hasattr(package, "SOURCE"):
        return Source
    return _load(Endpoint("", "source", engine), "source")


def open_source(ep: Endpoint) -> Source:
    return source_class(ep)(ep)


def open_target(ep: Endpoint) -> Target:
    return _load(ep, "target")(ep)


def open_endpoint(ep: Endpoint) -> Source | Target:
    return open_source(ep) if ep.kind == "source" else open_target(ep)
