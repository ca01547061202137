"""Import Mesa's core (``Model``, ``Agent``) without the rest of the package.

``import mesa`` runs ``mesa/__init__.py``, which imports every part of Mesa:
``discrete_space`` and ``experimental.continuous_space`` (both pull in ``scipy.spatial``),
``batchrunner``, ``space``, ``datacollection``. carenet's model needs only
:class:`mesa.Model` and :class:`mesa.Agent`; the rest costs about half a second at every
start-up (``carenet run``, every sweep worker).

:func:`core` registers the ``mesa`` and ``mesa.experimental`` packages in
``sys.modules`` *without running their ``__init__``* and imports only ``mesa.model`` and
``mesa.agent`` (and what they import). Each of the two package modules gets a PEP 562
``__getattr__``: the first time any other name is read from it (``mesa.discrete_space``,
``from mesa import batch_run``, ``mesa.__version__``), the package's real ``__init__``
runs in that module, so code that uses the rest of Mesa later sees the whole package, as
if it had been imported normally. ``import mesa.discrete_space`` works at any time (the
packages have their real ``__path__``). If Mesa is already fully imported, nothing is
changed.

``mesa.agent`` (and Mesa's data recorders) also import pandas at module level, for
``isinstance`` checks and DataFrame helpers that carenet's model never calls; pandas costs
about 0.4 s of every start-up. While Mesa's core is imported, ``import pandas`` gives those
modules a stand-in (:func:`_deferred_module`) that imports the real pandas the first time
any of its names is read and hands that name on; the stand-in is taken out of
``sys.modules`` as soon as Mesa's core is in, so every later ``import pandas`` is the
normal, whole one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["core", "mesa"]

_LIGHT = "__carenet_light__"


def _light_package(name: str) -> types.ModuleType:
    """Register package ``name`` in ``sys.modules`` without running its ``__init__``.

    Args:
        name: a package's dotted name (its parent must already be imported).

    Returns:
        The module: the real one if it was already imported, otherwise a light module
        whose ``__init__`` runs the first time an attribute it lacks is read.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        return importlib.import_module(name)
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(attr: str) -> Any:  # noqa: N807 (PEP 562 hook)
        if module.__dict__.get(_LIGHT):
            module.__dict__[_LIGHT] = False
            del module.__dict__["__getattr__"]
            loader.exec_module(module)  # the package's real __init__, in this module
            return getattr(module, attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__dict__[_LIGHT] = True
    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _deferred_module(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports the real one when a name is first read.

    Dunder names (``__file__`` aside, which is the real file) are not handed on: tools
    that walk ``sys.modules`` (``inspect``) only look.

    Args:
        name: A top-level module's name (e.g. ``"pandas"``), not yet imported.

    Returns:
        A module with the real one's ``__spec__`` (so ``import name`` accepts it) whose
        every other attribute is read from ``importlib.import_module(name)``, the real
        module, imported normally (with the stand-in first taken out of ``sys.modules``).
    """
    stand_in = types.ModuleType(name)
    stand_in.__spec__ = importlib.util.find_spec(name)

    def __getattr__(attr: str) -> Any:  # noqa: N807 (PEP 562 hook)
        if attr.startswith("__") and attr.endswith("__"):
            # Introspection (``inspect.getmodule`` reads every module's ``__file__``)
            # must not import pandas.
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)

    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    stand_in.__file__ = stand_in.__spec__.origin
    return stand_in


def _module_logger(original: Any) -> Any:
    """Mesa's ``create_module_logger`` with the caller's module read from its frame.

    Mesa names a module's logger after the module that calls it, found through
    ``inspect.stack()``, which reads the source of every frame on the stack (about 60 ms
    of ``import mesa.model``). The calling frame's ``__name__`` is the same name.
    """

    def create_module_logger(name: str | None = None) -> Any:
        if name is None:
            name = sys._getframe(1).f_globals["__name__"]
        return original(name)

    return create_module_logger


DEFERRED = ("pandas",)
"""Modules Mesa's core imports but carenet's model does not use (see the module's notes)."""


def core() -> types.ModuleType:
    """The ``mesa`` package with :class:`~mesa.Model` and :class:`~mesa.Agent` imported.

    Returns:
        The ``mesa`` module (light or full); ``mesa.Model`` and ``mesa.Agent`` are set.
    """
    if "mesa.model" in sys.modules and "mesa.agent" in sys.modules:
        mesa = sys.modules["mesa"]
        mesa.__dict__.setdefault("Agent", sys.modules["mesa.agent"].Agent)
        mesa.__dict__.setdefault("Model", sys.modules["mesa.model"].Model)
        return mesa
    stand_ins = {
        name: _deferred_module(name)
        for name in DEFERRED
        if name not in sys.modules and importlib.util.find_spec(name) is not None
    }
    sys.modules.update(stand_ins)
    mesa_logging = None
    try:
        mesa = _light_package("mesa")
        _light_package("mesa.experimental")
        if "mesa.model" not in sys.modules:
            import mesa.mesa_logging as mesa_logging

            original = mesa_logging.create_module_logger
            mesa_logging.create_module_logger = _module_logger(original)
        from mesa.agent import Agent
        from mesa.model import Model
    finally:
        if mesa_logging is not None:
            mesa_logging.create_module_logger = original
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]

    mesa.__dict__.setdefault("Agent", Agent)
    mesa.__dict__.setdefault("Model", Model)
    return mesa


mesa = core()
"""The ``mesa`` package as :func:`core` leaves it (``mesa.Model``, ``mesa.Agent``)."""
