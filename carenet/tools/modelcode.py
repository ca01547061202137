"""What carenet's documentation reads from the models' code, without matching its text.

The stages of one week come from the model's declared stage order
(``carenet.models.stages.STAGES``, each stage's ``name`` and ``summary``); the named random
streams from parsing ``models/**/*.py`` (calls ``streams.get("name")``); which functions a
stage calls, and which names the model's code uses, from its compiled code. Reformatting
the models changes none of these.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

_MODULES = (
    "model",
    "state",
    "ledger",
    "routes",
    "registry",
    "outputs",
    "power",
    "rules",
    "responses",
    "stages",
    "structure",
    "population",
    "organisation",
    "metrics",
    "streams",
)


def models() -> dict[str, Any]:
    """The model modules the documentation reads, by short name."""
    return {n: importlib.import_module(f"carenet.models.{n}") for n in _MODULES}


STAGE = re.compile(r"^(\d+)\.\s+\*\*([A-Za-z_]+)\*\*:", re.M)


def stage_classes() -> list[type]:
    """The stage classes of one week, in the order the model runs them."""
    return list(importlib.import_module("carenet.models.stages").STAGES)


def step_doc() -> str:
    """The stages of one week as a numbered Markdown list, from the stage classes."""
    lines = []
    for i, cls in enumerate(stage_classes(), 1):
        lines.append(f"{i}. **{cls.name}**: {' '.join(cls.summary.split())}")
    return "\n".join(lines)


def step_stages() -> list[str]:
    """The stage names of one week, in order."""
    return [cls.name for cls in stage_classes()]


def _models_folder() -> Path:
    return Path(inspect.getfile(importlib.import_module("carenet.models.model"))).parent


def _model_files() -> list[tuple[str, Path]]:
    """(dotted module name under carenet.models, path) of every models/ file."""
    root = _models_folder()
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            out.append((".".join(parts), path))
    return out


def stream_calls() -> dict[str, dict[str, set[str]]]:
    """Named streams drawn in models/**/*.py: stream name -> {module: enclosing functions}.

    Found by parsing the code: every call ``<x>.streams.get("name")`` or
    ``streams.get("name")`` (and ``seed_for("name")``), with the function it sits in.
    """
    found: dict[str, dict[str, set[str]]] = {}
    for mod, path in _model_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "seed_for")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    owner = node.func.value
                    name = getattr(owner, "attr", getattr(owner, "id", ""))
                    if name == "streams":
                        where = found.setdefault(node.args[0].value, {})
                        where.setdefault(mod, set()).add(fn.name)
    return found


def uses_mesa_rng() -> bool:
    """Whether models/**/*.py draws from Mesa's generator (``self.random``/``.rng``)."""
    pat = re.compile(r"(?:self|model|m)\.(?:random|rng)\b")
    return any(pat.search(p.read_text(encoding="utf-8")) for _, p in _model_files())


def _code_of(fn: Any) -> set[str]:
    todo, names = [fn.__code__], set()
    while todo:
        code = todo.pop()
        names |= set(code.co_names)
        todo += [c for c in code.co_consts if inspect.iscode(c)]
    return names


def code_names(cls: type) -> dict[str, set[str]]:
    """For each function of ``cls``: the names its compiled code uses (nested code too)."""
    out: dict[str, set[str]] = {}
    for name, obj in vars(cls).items():
        fn = obj.fget if isinstance(obj, property) else obj
        if inspect.isfunction(fn):
            out[name] = _code_of(fn)
    return out


def _functions() -> dict[str, list[tuple[str, str, set[str]]]]:
    """Every function of the models by bare name: [(module, name, names it uses)].

    Module-level functions and methods of classes other than stages (a stage's methods
    are reached only from that stage).
    """
    stage_base = importlib.import_module("carenet.models.stages.base").Stage
    out: dict[str, list[tuple[str, str, set[str]]]] = {}
    for mod, _ in _model_files():
        module = importlib.import_module(f"carenet.models.{mod}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                out.setdefault(name, []).append((mod, name, _code_of(obj)))
            elif inspect.isclass(obj) and not issubclass(obj, stage_base):
                for m, names in code_names(obj).items():
                    out.setdefault(m, []).append((mod, m, names))
    return out


def model_names() -> set[str]:
    """Every name the models' compiled code uses (attributes of the model among them)."""
    used: set[str] = set()
    for _, path in _model_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return used


def stage_streams() -> dict[str, list[str]]:
    """Stage name -> streams drawn in its methods or the functions they call (transitively)."""
    calls = stream_calls()
    by_fn: dict[tuple[str, str], set[str]] = {}
    for stream, where in calls.items():
        for mod, fns in where.items():
            for fn in fns:
                by_fn.setdefault((mod, fn), set()).add(stream)
    index = _functions()
    out: dict[str, list[str]] = {}
    for cls in stage_classes():
        mod = cls.__module__.removeprefix("carenet.models.")
        own = code_names(cls)
        found: set[str] = set()
        seen: set[tuple[str, str]] = set()
        todo = [(mod, n, names) for n, names in own.items()]
        while todo:
            m, fn, names = todo.pop()
            if (m, fn) in seen:
                continue
            seen.add((m, fn))
            found |= by_fn.get((m, fn), set())
            for n in names:
                todo += [(m, n, own[n])] if n in own else index.get(n, [])
        out[cls.name] = sorted(found)
    return out
