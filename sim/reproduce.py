"""Reproduce a run exactly from its saved configuration.

``carenet reproduce RUN_DIR`` reads ``RUN_DIR/manifest.json`` (the full resolved
configuration and the seed), runs the model again without writing anything, and compares
the new time series and summary metrics with the saved ones value by value. It exits 0
when every number matches exactly, 1 when any differs (listing the first differences and
the package versions then and now), and 2 when the folder holds no finished run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .cli import fail
from .config import ConfigError, validate
from .runner import is_finished, simulate, versions


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a is None and isinstance(b, float) and math.isnan(b):
        return True  # NaN is written to JSON as null
    return a == b


def compare(run_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """Rerun the run saved in ``run_dir`` and list every difference.

    Returns:
        (differences, manifest): human-readable lines, empty when identical.
    """
    manifest = json.loads((run_dir / "manifest.json").read_text())
    cfg = validate(manifest["config"])
    result = simulate(cfg, seed=int(manifest["seed"]))
    diffs: list[str] = []
    saved = json.loads((run_dir / "summary.json").read_text())["metrics"]
    for key in sorted(set(saved) | set(result.summary)):
        a, b = saved.get(key, "<missing>"), result.summary.get(key, "<missing>")
        if not _same(a, b):
            diffs.append(f"summary {key}: saved {a!r}, now {b!r}")
    old = pd.read_parquet(run_dir / "timeseries.parquet")
    new = result.timeseries
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        diffs.append(f"timeseries shape/columns differ: saved {old.shape}, now {new.shape}")
    else:
        for col in old.columns:
            o, n = old[col].to_numpy(), new[col].to_numpy()
            eq = (o == n) | (pd.isna(o) & pd.isna(n))
            if not eq.all():
                week = int(old["week"].to_numpy()[~eq][0])
                diffs.append(f"timeseries {col}: first differs at week {week}")
    return diffs, manifest


def cmd_reproduce(args: argparse.Namespace) -> int:
    """CLI: rerun a saved run and check that every number matches."""
    run_dir: Path = args.dir
    if not is_finished(run_dir):
        return fail(f"reproduce: {str(run_dir)!r} holds no finished carenet run (manifest.json)")
    try:
        diffs, manifest = compare(run_dir)
    except ConfigError as exc:
        return fail(f"reproduce: the saved configuration is not valid here: {exc}")
    if not diffs:
        print(f"reproduced exactly: {run_dir} (seed {manifest['seed']})")
        return 0
    print(f"NOT reproduced: {len(diffs)} difference(s) in {run_dir}")
    for line in diffs[:20]:
        print(f"  {line}")
    then, now = manifest.get("versions", {}), versions()
    changed = [f"{k} {then.get(k)} -> {now.get(k)}" for k in now if then.get(k) != now.get(k)]
    if changed:
        print("  versions changed since the run: " + "; ".join(changed))
    if manifest.get("git_revision"):
        print(f"  the run was made at git revision {manifest['git_revision']}")
    return 1
