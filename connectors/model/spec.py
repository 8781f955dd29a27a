"""User input, parsed once: identifiers, and the machinery behind DMS's JSON documents.

The table-mapping document (connectors/model/mappings.py) and the task-settings document
(connectors/model/settings.py) are pydantic models built on ``DmsModel``. Every key gets one of three answers:

- a key OpenDMS implements takes effect;
- a DMS key without meaning here is accepted, and ``warnings()`` names it and says why it has no
  effect (only when it is set to something other than DMS's default: a default changes nothing);
- a key DMS does not have is rejected with its JSON path and the closest valid key.

Documents are read as DMS reads them: numbers may be strings (``"007"``), ``null`` means "not
set", keys come in any order.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from connectors.errors import ConfigError

MigrationType = Literal["full-load", "full-load-and-cdc", "cdc"]
MIGRATION_TYPES: tuple[str, ...] = ("full-load", "full-load-and-cdc", "cdc")

_IDENTIFIER = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*$")


def check_identifier(kind: str, value: str, max_len: int = 255) -> str:
    """DMS identifiers: a letter first, then letters, digits and single inner hyphens."""
    if not isinstance(value, str) or not value or len(value) > max_len or not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{kind} identifier {value!r} is invalid: use a letter first, then letters, digits and "
            f"single hyphens (no trailing hyphen), at most {max_len} characters"
        )
    return value


def load_json_document(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# --- tolerant scalar types -----------------------------------------------------------------


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _whole(value: Any) -> Any:
    value = _strip(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError("give a whole number")


Int = Annotated[int, BeforeValidator(_whole)]


def int_range(lo: int, hi: int) -> Any:
    """A whole number from lo to hi (DMS writes numbers as numbers or as strings)."""

    def check(n: int) -> int:
        if not lo <= n <= hi:
            raise ValueError(f"give a number from {lo} to {hi}")
        return n

    return Annotated[int, BeforeValidator(_whole), AfterValidator(check)]


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_text)]  # DMS writes names and values as strings or as numbers


# --- models --------------------------------------------------------------------------------


def no_effect(why: str, default: Any = None, *neutral: Any, alias: str | None = None) -> Any:
    """A DMS key that OpenDMS accepts but that has no effect here; ``why`` says why.

    ``neutral``: values besides the default that ask for nothing (the console saves 0 for some)."""
    return Field(default=default, alias=alias, json_schema_extra={"no_effect": why, "neutral": list(neutral)})


def spelling_of(key: str) -> Any:
    """Another spelling DMS's guide once gave ``key``: read as ``key`` (see ``read_spellings``)."""
    return Field(default=None, json_schema_extra={"spelling_of": key})


def read_spellings(model: type[BaseModel], data: Any) -> Any:
    """Gives each other spelling's value to its key, which must not say otherwise."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name, f in model.model_fields.items():
        key = (f.json_schema_extra or {}).get("spelling_of") if isinstance(f.json_schema_extra, dict) else None
        if key and data.get(name) is not None:
            if data.get(key) is not None and data[key] != data[name]:
                raise ValueError(f"{name} and {key} say different things: keep {key} only")
            data[key] = data[name]
    return data


class DmsModel(BaseModel):
    """A DMS JSON object: unknown keys are errors, ``null`` on a known key means "not set"."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = _keys(cls)
            return {k: v for k, v in data.items() if not (v is None and k in known)}
        return data


@functools.cache
def _keys(model: type[BaseModel]) -> dict[str, str]:
    """DMS key -> field name."""
    return {(f.alias or name): name for name, f in model.model_fields.items()}


@functools.cache
def _field_notes(model: type[BaseModel]) -> tuple[tuple[str, str, str | None, str | None, list[Any]], ...]:
    """Per field, read once per model class: name, DMS key, why it has no effect, the key it spells,
    and the values that ask for nothing."""
    notes = []
    for name, f in model.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        notes.append((name, f.alias or name, extra.get("no_effect"), extra.get("spelling_of"),
                      [None, f.default, "", [], {}, *extra.get("neutral", [])]))
    return tuple(notes)


def no_effect_warnings(model: BaseModel, where: str = "") -> list[str]:
    """One line per key that is set, differs from DMS's default, and has no effect here."""
    out: list[str] = []
    given = model.model_fields_set
    for name, alias, why, spelling, neutral in _field_notes(type(model)):
        if name not in given:  # an unset field holds DMS's default, which never warns
            continue
        value = getattr(model, name)
        key = f"{where}.{alias}" if where else alias
        if spelling and value is not None:
            out.append(f"{key} is read as {where}.{spelling}, the key's spelling in DMS's JSON")
        elif why and not any(_same(value, n) for n in neutral):
            out.append(f"{key} = {json.dumps(value, default=_plain)} has no effect: {why}")
        elif isinstance(value, BaseModel):
            out.extend(no_effect_warnings(value, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out.extend(no_effect_warnings(item, f"{key}[{i}]"))
    return out


def _plain(value: Any) -> Any:
    return value.model_dump(by_alias=True, exclude_none=True) if isinstance(value, BaseModel) else str(value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with true never equal to 1 (a JSON document keeps them apart)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by following ``loc`` (keys and list indexes) from ``model``."""
    for part in loc:
        if isinstance(part, int):
            continue
        name = _keys(model).get(part, part)
        f = model.model_fields.get(name)
        if f is None:
            return None
        found = _inner_model(f.annotation)
        if found is None:
            return None
        model = found
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, typing.ForwardRef | str):
        return None
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """", did you mean 'x'?" for the closest choice, or "" when none is close."""
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f", did you mean {match[0]!r}?" if match else ""


def path_of(where: str, loc: tuple[Any, ...]) -> str:
    text = where
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def explain(exc: ValidationError, model: type[BaseModel], where: str,
            elsewhere: Callable[[str], str] | None = None) -> ConfigError:
    """A pydantic error as one line: each problem's JSON path, what is wrong and how to fix it.

    ``elsewhere(key)`` may say where a misplaced key belongs ("it belongs in FullLoadSettings").
    """
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = path_of(where, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            key = str(loc[-1])
            hint = elsewhere(key) if elsewhere else ""
            if not hint and parent is not None:
                hint = closest(key, set(_keys(parent)))
            problems.append(f"{path} is not a DMS key{hint}")
            continue
        shown = err.get("input")
        if kind == "missing":
            problems.append(f"{path} is missing")
        elif kind == "literal_error":
            choices = re.findall(r"'([^']*)'", err["ctx"]["expected"])
            problems.append(f"{path} is {shown!r}: use one of {', '.join(choices)}{closest(str(shown), choices)}")
        elif kind == "value_error":
            problems.append(f"{path} is {shown!r}: {err['ctx']['error']}")
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            problems.append(f"{path} must be an object")
        elif kind == "list_type":
            problems.append(f"{path} must be a list")
        elif kind.startswith("bool"):
            problems.append(f"{path} is {shown!r}: use true or false")
        else:
            msg = err["msg"]
            problems.append(f"{path} is {shown!r}: {msg[:1].lower()}{msg[1:]}")
    return ConfigError("; ".join(problems))


def validate(model: type[DmsModel], data: Any, where: str,
             elsewhere: Callable[[str], str] | None = None) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, model, where, elsewhere) from None


__all__ = [
    "DmsModel", "Int", "MIGRATION_TYPES", "MigrationType", "Text", "check_identifier", "closest", "explain",
    "int_range", "load_json_document", "no_effect", "no_effect_warnings", "path_of", "read_spellings", "spelling_of",
    "validate",
]
