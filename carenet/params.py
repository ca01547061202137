"""Typed parameters: the engine's machinery for declaring and walking a model's schema.

A model declares its parameters as dataclass fields made with :func:`param` (alias ``P``):
a default, an allowed range or set of names, a unit, a one-line meaning and, for
real-world figures, a source. The engine validates configurations against that metadata
before anything runs and generates the parameter documentation from it. This module is the
base layer: both the engine (``carenet.sim``) and models (``carenet.models``) import it.
"""

from __future__ import annotations

import dataclasses
import typing
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


def nested_schema(cls: type, f: dataclasses.Field) -> type | None:
    """The dataclass a field of ``cls`` holds (a nested group), or None for a leaf."""
    hint = typing.get_type_hints(cls).get(f.name)
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
