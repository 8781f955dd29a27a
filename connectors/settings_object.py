"""An engine's endpoint settings object, as the AWS CLI takes it (``--redis-settings``, ``--kinesis-settings``,
...): DMS's key names, their types, defaults and allowed values, and where each is kept on the Endpoint.

An engine declares one in its package (``SETTINGS = "settings:MY_SETTINGS"``, see connectors/registry.py).
Keys that name a connection field of the Endpoint (``field``: host, port, user, password, database) are
kept there: a secret's field is ``password``, which the catalog stores encrypted like every password. Every
other key is kept in the endpoint's extra attributes under its DMS name, as text. ``values(ep)`` gives the
connector the whole object back, typed, with the defaults filled in.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Endpoint
from .errors import ConfigError

FIELDS = ("host", "port", "user", "password", "database")


@dataclass(frozen=True)
class Key:
    name: str
    type: type = str  # str, int or bool
    default: Any = None
    choices: tuple[str, ...] = ()
    field: str = ""  # the Endpoint field it is kept in (FIELDS), else an extra attribute
    ours: bool = False  # OpenDMS's own key, which DMS does not have (documented as such)


@dataclass(frozen=True)
class SettingsObject:
    name: str  # DMS's name of the object, e.g. "RedisSettings"
    option: str  # the CLI option without dashes, e.g. "redis-settings"
    keys: tuple[Key, ...] = field(default_factory=tuple)

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)

    def parse(self, text: str) -> dict[str, Any]:
        """A JSON object or ``file://PATH`` -> the object's values, each checked: an unknown key is refused
        naming the closest known one."""
        where = f"--{self.option}"
        if text.startswith("file://"):
            path = Path(text.removeprefix("file://")).expanduser()
            try:
                text = path.read_text()
            except OSError as exc:
                raise ConfigError(f"{where} {path}: cannot read it ({exc.strerror})") from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a JSON object ({exc}): give JSON or file://PATH") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{where}: a JSON object is needed, e.g. {{\"{self.keys[0].name}\": ...}}")
        return {name: self._check(name, value) for name, value in doc.items()}

    def _check(self, name: str, value: Any) -> Any:
        key = self.key(name)
        if key is None:
            close = difflib.get_close_matches(name, [k.name for k in self.keys], n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(k.name for k in self.keys)}"
            raise ConfigError(f"{self.name} has no key {name!r}: {hint}")
        wrong = ConfigError(f"{self.name}.{name} must be {_kind(key)}, not {json.dumps(value)}")
        if key.type is bool:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise wrong
        elif key.type is int:
            if isinstance(value, str) and value.strip().isdigit():
                return int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong
        elif not isinstance(value, str):
            raise wrong
        if key.choices and value not in key.choices:
            raise ConfigError(f"{self.name}.{name} {value!r} is not one of {', '.join(key.choices)}")
        return value

    def split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Values -> (Endpoint fields, extra attributes as text)."""
        fields: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for name, value in values.items():
            key = self.key(name)
            assert key is not None
            if key.field:
                fields[key.field] = value
            else:
                extra[name] = json.dumps(value) if key.type is bool else str(value)
        return fields, extra

    def values(self, ep: Endpoint) -> dict[str, Any]:
        """The whole object of an endpoint, typed, defaults filled in (the password as resolved)."""
        out: dict[str, Any] = {}
        for key in self.keys:
            if key.field:
                value = getattr(ep, key.field)
                out[key.name] = value if value not in ("", 0) else key.default
            elif key.name in ep.extra:
                out[key.name] = self._check(key.name, ep.extra[key.name])
            else:
                out[key.name] = key.default
        return out

    def shown(self, ep: Endpoint) -> dict[str, Any]:
        """The object as `endpoint describe` shows it: what is set, never a secret."""
        return {k: v for k, v in self.values(ep).items()
                if v is not None and v != "" and (self.key(k) or Key("")).field != "password"}


def _kind(key: Key) -> str:
    if key.choices:
        return f"one of {', '.join(key.choices)}"
    return {bool: "true or false", int: "a whole number"}.get(key.type, "a string")
