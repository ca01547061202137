"""What carenet's documentation reads from the models' code, without matching its text.

The stages of one week come from the ``CareSystemModel.step`` docstring; the named random
streams from parsing ``models/*.py`` (calls ``streams.get("name")``); which methods a stage
calls, and which names a class's code uses, from its compiled code. Reformatting the models
changes none of these.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any


def models() -> dict[str, Any]:
    """The model modules the documentation reads, by short name."""
    names = ("model", "power", "structure", "population", "organisation", "metrics", "streams")
    return {n: importlib.import_module(f"carenet.models.{n}") for n in names}


STAGE = re.compile(r"^(\d+)\.\s+\*\*([A-Za-z_]+)\*\*:", re.M)


def step_doc() -> str:
    """The docstring of ``CareSystemModel.step``, which lists the stages of one week."""
    from carenet.models.model import CareSystemModel

    return inspect.getdoc(CareSystemModel.step) or ""


def step_stages() -> list[str]:
    """The stage names of one week, in order, from the ``CareSystemModel.step`` docstring."""
    return [m.group(2) for m in STAGE.finditer(step_doc())]


def _models_folder() -> Path:
    return Path(inspect.getfile(importlib.import_module("carenet.models.model"))).parent


def stream_calls() -> dict[str, dict[str, set[str]]]:
    """Named streams drawn in models/*.py: stream name -> {module: enclosing functions}.

    Found by parsing the code: every call ``<x>.streams.get("name")`` or
    ``streams.get("name")`` (and ``seed_for("name")``), with the function it sits in.
    """
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(_models_folder().glob("*.py")):
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
                        where.setdefault(path.stem, set()).add(fn.name)
    return found


def uses_mesa_rng() -> bool:
    """Whether models/*.py draws from Mesa's generator (``self.random``/``.rng``)."""
    pat = re.compile(r"(?:self|model)\.(?:random|rng)\b")
    return any(pat.search(p.read_text(encoding="utf-8")) for p in _models_folder().glob("*.py"))


def code_names(cls: type) -> dict[str, set[str]]:
    """For each function of ``cls``: the names its compiled code uses (nested code too)."""
    out: dict[str, set[str]] = {}
    for name, obj in vars(cls).items():
        fn = obj.fget if isinstance(obj, property) else obj
        if not inspect.isfunction(fn):
            continue
        todo, names = [fn.__code__], set()
        while todo:
            code = todo.pop()
            names |= set(code.co_names)
            todo += [c for c in code.co_consts if inspect.iscode(c)]
        out[name] = names
    return out


def stage_streams() -> dict[str, list[str]]:
    """Stage name -> streams drawn in its method or the methods it calls (transitively)."""
    from carenet.models.model import CareSystemModel

    calls = code_names(CareSystemModel)
    uses: dict[str, set[str]] = {}
    for name, where in stream_calls().items():
        for fn in where.get("model", set()):
            uses.setdefault(fn, set()).add(name)
    out: dict[str, list[str]] = {}
    for stage in step_stages():
        seen, todo = set(), [f"_stage_{stage}"]
        while todo:
            m = todo.pop()
            if m not in seen and m in calls:
                seen.add(m)
                todo.extend(calls[m])
        out[stage] = sorted(set().union(*(uses.get(m, set()) for m in seen)))
    return out
