"""The Ishigami function as a one-step model through carenet's engine: ``model=ishigami``.

``y = sin(x1) + a sin(x2)^2 + b x3^4 sin(x1)`` with ``a = 7``, ``b = 0.1`` and each
``x_i`` uniform on ``[-pi, pi]`` is the standard test of global sensitivity analysis
(Ishigami and Homma 1990): its Sobol indices are known in closed form (Sobol' and
Levitan 1999; Saltelli et al. 2008, *Global Sensitivity Analysis: The Primer*, p. 179),
so a design run through the whole engine (plan, launcher, run folders, ``collect``,
``carenet analyse``) can be checked against them (:func:`analytical_indices`). The model
draws no random numbers: every step reports the same ``y``, so ``steps=1`` is enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from carenet.params import P
from carenet.spec import BaseSpec, Metric

_PI = math.pi
_X = {"lo": -_PI, "hi": _PI, "unit": "dimensionless"}


@dataclass
class IshigamiParams:
    """The Ishigami function's inputs and constants."""

    x1: float = P(0.0, **_X, doc="First input; uniform on [-pi, pi] in the standard test.")
    x2: float = P(0.0, **_X, doc="Second input; uniform on [-pi, pi] in the standard test.")
    x3: float = P(0.0, **_X, doc="Third input; uniform on [-pi, pi] in the standard test.")
    a: float = P(7.0, lo=0.0, hi=100.0, unit="dimensionless", doc="Constant a (standard: 7).")
    b: float = P(0.1, lo=0.0, hi=10.0, unit="dimensionless", doc="Constant b (standard: 0.1).")


def ishigami(x1: float, x2: float, x3: float, a: float = 7.0, b: float = 0.1) -> float:
    """The Ishigami function at one point."""
    return math.sin(x1) + a * math.sin(x2) ** 2 + b * x3**4 * math.sin(x1)


def analytical_indices(a: float = 7.0, b: float = 0.1) -> dict[str, tuple[float, ...]]:
    """The exact first-order (``S1``) and total (``ST``) Sobol indices of x1, x2, x3.

    Closed forms for inputs uniform on ``[-pi, pi]`` (Saltelli et al. 2008, p. 179).
    """
    v1 = 0.5 * (1 + b * _PI**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * _PI**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    return {"S1": (v1 / var, v2 / var, 0.0), "ST": ((v1 + v13) / var, v2 / var, v13 / var)}


class IshigamiModel:
    """One evaluation of the function; each step records the same value."""

    def __init__(self, params: dict[str, float]) -> None:
        self.y = ishigami(**params)
        self.records: list[dict[str, float]] = []

    def step(self) -> None:
        """Record ``y`` for this step."""
        self.records.append({"week": len(self.records) + 1, "y": self.y})

    def summary(self) -> dict[str, float]:
        """The function's value."""
        return {"y": self.y}


class IshigamiSpec(BaseSpec):
    """The Ishigami test function: a known answer for sensitivity analysis."""

    name = "ishigami"
    schema = IshigamiParams
    metrics = (
        Metric(
            "y",
            "dimensionless",
            "neither",
            "last",
            "signed",
            "Value of the Ishigami function at the run's inputs",
            headline=True,
            fmt="{:.6g}",
        ),
    )

    def build(self, config: Any, seed: int) -> IshigamiModel:
        """The model at the configuration's inputs (the seed is not used: no randomness)."""
        return IshigamiModel({f.name: float(getattr(config, f.name)) for f in fields(self.schema)})

    def labels(self, config: Any) -> dict[str, str]:
        """The model's name and its inputs."""
        return {"model": self.name, **{k: f"{getattr(config, k):.4g}" for k in ("x1", "x2", "x3")}}
