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


def core() -> types.ModuleType:
    """The ``mesa`` package with :class:`~mesa.Model` and :class:`~mesa.Agent` imported.

    Returns:
        The ``mesa`` module (light or full); ``mesa.Model`` and ``mesa.Agent`` are set.
    """
    mesa = _light_package("mesa")
    _light_package("mesa.experimental")
    from mesa.agent import Agent
    from mesa.model import Model

    mesa.__dict__.setdefault("Agent", Agent)
    mesa.__dict__.setdefault("Model", Model)
    return mesa


mesa = core()
"""The ``mesa`` package as :func:`core` leaves it (``mesa.Model``, ``mesa.Agent``)."""
