"""`dms endpoint create`'s DMS settings objects (``--redis-settings``, ``--kinesis-settings``, ...): one option
per object an engine declares (connectors/settings_object.py), taken as the AWS CLI takes it, JSON or
``file://PATH``, and kept on the endpoint (connection fields, the password encrypted, the rest as extras)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import click

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.registry import ENGINES, settings_object


def parse_extra(text: str) -> dict[str, str]:
    """Extra connection attributes as DMS writes them, k1=v1;k2=v2."""
    extra = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ConfigError(f"extra connection attribute {part!r} is not key=value: write them as k1=v1;k2=v2")
        extra[key.strip()] = value.strip()
    return extra


def _options() -> dict[str, tuple[str, list[str]]]:
    """option -> (the object's DMS name, the engines taking it)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for engine in ENGINES:
        obj = settings_object(engine)
        if obj is not None:
            found.setdefault(obj.option, (obj.name, []))[1].append(engine)
    return found


def _param(option: str) -> str:
    return "settings_" + option.replace("-", "_")


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds one ``--NAME-settings`` option per settings object that an engine declares."""
    for option, (name, engines) in sorted(_options().items(), reverse=True):
        command = click.option(f"--{option}", _param(option), default=None, metavar="JSON|file://PATH",
                               help=f"DMS's {name} ({', '.join(engines)}): a JSON object or file://PATH")(command)
    return command


def settings_fields(engine: str, given: Mapping[str, str | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings options given to `endpoint create` -> (Endpoint fields, extra attributes)."""
    obj = settings_object(engine)
    fields: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for option, (_name, engines) in _options().items():
        text = given.get(_param(option))
        if text is None:
            continue
        if obj is None or obj.option != option:
            raise ConfigError(f"--{option} is for engine {', '.join(engines)}, not {engine}: "
                              + (f"use --{obj.option}" if obj else "remove it"))
        fields, extra = obj.split(obj.parse(text))
    if "port" in fields and not 1 <= fields["port"] <= 65535:
        raise ConfigError(f"{obj.name if obj else ''}.Port {fields['port']} is not a TCP port: give 1 to 65535")
    return fields, extra


def with_settings(ep: Endpoint, fields: Mapping[str, Any], extra: Mapping[str, str]) -> Endpoint:
    return replace(ep, **fields, extra={**ep.extra, **extra}) if fields or extra else ep


def settings_doc(ep: Endpoint) -> dict[str, Any]:
    """`endpoint describe`'s settings object of the endpoint (never its secret), e.g. {"RedisSettings": {...}}."""
    obj = settings_object(ep.engine)
    return {obj.name: obj.shown(ep)} if obj is not None else {}
