"""Typed parameters: the engine's machinery for declaring and walking a model's schema.

A model declares its parameters as dataclass fields made with :func:`param` (alias ``P``):
a default, an allowed range or set of names, a unit, a one-line meaning and, for
real-world figures, a source. The engine validates configurations against that metadata
before anything runs and generates the parameter documentation from it. This module is the
base layer: both the engine (``carenet.sim``) and models (``carenet.models``) import it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable
from dataclasses import MISSING, field, fields
from typing import Any


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    unit: str = "",
    doc: str = "",
    choices: tuple[str, ...] | None = None,
    length: int | None = None,
    source: str = "",
) -> Any:
    """Declare a parameter with its default, allowed range, unit and meaning.

    Args:
        default: Default value (lists and dicts are copied per instance).
        lo: Smallest allowed value (inclusive), for numbers and number lists.
        hi: Largest allowed value (inclusive).
        unit: Unit of the value, shown in messages and documentation.
        doc: One-sentence meaning, shown in documentation.
        choices: Allowed names, for string parameters.
        length: Required length, for list parameters.
        source: Where a real-world default comes from.

    Returns:
        A dataclass field carrying the metadata.
    """
    meta = {
        "lo": lo,
        "hi": hi,
        "unit": unit,
        "doc": doc,
        "choices": choices,
        "length": length,
        "source": source,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: plain_copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def plain_copy(value: Any) -> Any:
    """A deep copy of plain data (nested dicts and lists; other values are shared)."""
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    return value


P = param
PROB = {"lo": 0.0, "hi": 1.0}


def field_default(f: Any) -> Any:
    """Return the default value of a dataclass field."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise ValueError(f"field {f.name} has no default")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def nested_schema(cls: type, f: dataclasses.Field) -> type | None:
    """The dataclass a field of ``cls`` holds (a nested group), or None for a leaf."""
    hint = _hints(cls).get(f.name)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def iter_params(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """List (dotted key, field) for every leaf parameter of a schema, in declaration order."""
    out: list[tuple[str, Any]] = []
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        sub = nested_schema(cls, f)
        if sub is not None:
            out.extend(iter_params(sub, key + "."))
        else:
            out.append((key, f))
    return out


# --- validation against a schema (the engine's validator; models use it for nested items) --


class ConfigError(ValueError):
    """A configuration value is not allowed; the message is one line for the user."""


def allowed(meta: dict[str, Any], kind: str) -> str:
    """What a parameter's metadata allows, in words (``"an integer from 1 to 5200 (weeks)"``)."""
    unit = f" ({meta['unit']})" if meta.get("unit") else ""
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{kind} from {_fmt(lo)} to {_fmt(hi)}{unit}"
    if lo is not None:
        return f"{kind} >= {_fmt(lo)}{unit}"
    return f"{kind}{unit}"


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def bad(key: str, value: Any, what: str) -> ConfigError:
    """The one-line error for a value that is not allowed: key, value and what is."""
    return ConfigError(f"{key}: {value!r} is not allowed; expected {what}")


def _number(key: str, value: Any, meta: dict[str, Any], integer: bool) -> float | int:
    kind = "an integer" if integer else "a number"
    given = value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(key, value, allowed(meta, kind))
    if isinstance(value, float) and not math.isfinite(value):
        raise bad(key, value, allowed(meta, kind))
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise bad(key, value, allowed(meta, kind))
            value = int(value)
    else:
        value = float(value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad(key, given, allowed(meta, kind))
    return value


def _hydra_text(value: Any) -> str:
    """A value written as a Hydra override value (``[gp,vcse]``, ``{kind:winter_surge}``)."""
    if isinstance(value, list):
        return "[" + ",".join(_hydra_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def list_example(f: Any) -> str:
    """What a list parameter expects, with an example that fits it (its default)."""
    try:
        default = field_default(f)
    except ValueError:
        default = []
    if isinstance(default, list) and default:
        if all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in default):
            return f"a list, e.g. {_hydra_text(default)}"
        if isinstance(default[0], dict):
            return f"a list of mappings, e.g. [{_hydra_text(default[0])}]"
        return f"a list, e.g. {_hydra_text(default)}"
    return "a list in brackets ([ITEM,ITEM]; see docs/parameters.md)"


def type_name(f: Any) -> str:
    """A field's declared type as a name (``"int"``, ``"list"``, ``"PopulationConfig"``)."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _leaf(key: str, value: Any, f: Any, length_note: Callable[[int], str] | None) -> Any:
    meta = dict(f.metadata)
    t = type_name(f)
    if t == "bool":
        if not isinstance(value, bool):
            raise bad(key, value, "true or false")
        return value
    if t == "int":
        return _number(key, value, meta, integer=True)
    if t == "float":
        return _number(key, value, meta, integer=False)
    if t == "str":
        choices = meta.get("choices")
        if not isinstance(value, str):
            raise bad(key, value, "one of: " + ", ".join(choices) if choices else "a string")
        if choices and value not in choices:
            raise bad(key, value, "one of: " + ", ".join(choices))
        return value
    if t == "list":
        if not isinstance(value, list):
            raise bad(key, value, list_example(f))
        length = meta.get("length")
        if length is not None and len(value) != length:
            note = length_note(length) if length_note else ""
            raise bad(key, value, f"a list of {length} values" + (f" ({note})" if note else ""))
        if meta.get("lo") is not None or meta.get("hi") is not None:
            return [_number(f"{key}[{i}]", v, meta, integer=False) for i, v in enumerate(value)]
        return list(value)
    if t == "dict":
        if not isinstance(value, dict):
            raise bad(key, value, "a mapping")
        return dict(value)
    raise TypeError(f"schema type {t!r} of {key} is not supported")  # pragma: no cover


def typed(
    cls: type,
    data: Any,
    prefix: str = "",
    length_note: Callable[[int], str] | None = None,
) -> Any:
    """Check plain data against a schema and return it as an instance of ``cls``.

    Args:
        cls: The schema (a dataclass of :func:`param` fields and nested schemas).
        data: Nested dicts; a missing key takes its default.
        prefix: Dotted key of ``data`` in the whole configuration (for messages).
        length_note: What a required list length means (e.g. ``"one per stratum"``).

    Returns:
        The typed instance.

    Raises:
        ConfigError: At the first value that is not allowed, naming key, value and rule.
    """
    where = prefix.rstrip(".") or "config"
    if not isinstance(data, dict):
        raise bad(where, data, f"a mapping of {cls.__name__} keys")
    known = {f.name: f for f in fields(cls)}
    for k in data:
        if k not in known:
            raise ConfigError(
                f"{prefix}{k}: unknown key; valid keys here: {', '.join(sorted(known))}"
            )
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        key = f"{prefix}{name}"
        value = data.get(name, field_default(f))
        sub = nested_schema(cls, f)
        if sub is not None:
            kwargs[name] = typed(sub, value, key + ".", length_note)
        else:
            kwargs[name] = _leaf(key, value, f, length_note)
    return cls(**kwargs)
