"""Small Ishigami designs run through the engine, shared by the design tests."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

PI = math.pi
X = {"type": "real", "low": -PI, "high": PI}


def write_design(folder: Path, name: str = "d.yaml", **fields) -> Path:
    data = {
        "method": "sobol",
        "n": 16,
        "base": ["model=ishigami", "steps=1"],
        "parameters": {"x1": X, "x2": X, "x3": X},
        **fields,
    }
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_design(design: Path, out: Path, *extra: str) -> dict:
    from carenet.sim.sweep import plan_sweep, run_sweep

    ovs = [f"design={design}", f"out={out}", "hydra.launcher.n_jobs=2", *extra]
    plan = plan_sweep(ovs)
    result = run_sweep(plan)
    assert result["status"] == "complete", result["counts"]
    return result
