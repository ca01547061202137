"""Reproduce a run exactly from its saved configuration.

``carenet reproduce RUN_DIR`` reads ``RUN_DIR/manifest.json`` (the full resolved
configuration and the seed), runs the model again without writing anything, and compares
the new time series and summary metrics with the saved ones value by value. It exits 0
when every number matches exactly, 1 when any differs (listing the first differences and
the package versions then and now), and 2 when the folder holds no finished run or one of
its files (``manifest.json``, ``summary.json``, ``timeseries.parquet``) is unreadable: the
message names the file. Nothing is written, so nothing the user has can be changed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .collect import CollectError, _why, read_run_json
from .config import validate
from .runner import simulate


class ReproduceError(ValueError):
    """The saved run cannot be checked; the message is one line for the user."""


def _damaged(path: Path, exc: BaseException) -> ReproduceError:
    return ReproduceError(
        f"{path}: unreadable ({_why(exc)}); the saved run is damaged, so it cannot be "
        "checked: restore the file from a copy, or run the scenario again"
    )


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of a finished run.

    Raises:
        ReproduceError: If there is none, it is unreadable, or the run did not finish.
    """
    path = run_dir / "manifest.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise ReproduceError(f"{str(run_dir)!r} is a file; give a run folder (manifest.json)")
    if not path.is_file():
        raise ReproduceError(
            f"{str(run_dir)!r} holds no finished carenet run (manifest.json); give a folder "
            "written by carenet run, or one of a sweep's runs/<run_id>/"
        )
    try:
        manifest = read_run_json(path)
    except CollectError:
        try:
            json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _damaged(path, exc) from None
        raise ReproduceError(f"{path}: not a carenet manifest (a JSON object)") from None
    if manifest.get("status") != "complete":
        raise ReproduceError(
            f"{str(run_dir)!r} holds no finished carenet run ({path.name} is not marked complete)"
        )
    if not isinstance(manifest.get("config"), dict) or not isinstance(manifest.get("seed"), int):
        raise ReproduceError(
            f"{path}: unreadable (it has no saved configuration and seed); restore it from "
            "a copy, or run the scenario again"
        )
    listed = manifest.get("files") or []
    missing = [
        str(name)
        for name in (listed if isinstance(listed, list) else [])
        if isinstance(name, str) and not (run_dir / name).is_file()
    ]
    if missing:
        raise ReproduceError(
            f"{str(run_dir)!r}: {', '.join(missing)} listed in {path.name} "
            f"{'is' if len(missing) == 1 else 'are'} missing; the saved run is incomplete, "
            "so it cannot be checked: restore the file from a copy, or run the scenario again"
        )
    return manifest


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
    manifest = read_manifest(run_dir)
    cfg = validate(manifest["config"])
    # Read the saved files before the (long) rerun: a damaged one stops it at once.
    summary_path = run_dir / "summary.json"
    try:
        saved = json.loads(summary_path.read_text())["metrics"]
        if not isinstance(saved, dict):
            raise ValueError("no metrics")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(summary_path, exc) from None
    ts_path = run_dir / "timeseries.parquet"
    try:
        old = pd.read_parquet(ts_path)
        if "week" not in old.columns:
            raise ValueError("no week column")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise _damaged(ts_path, exc) from None
    result = simulate(cfg, seed=int(manifest["seed"]))
    diffs: list[str] = []
    for key in sorted(set(saved) | set(result.summary)):
        a, b = saved.get(key, "<missing>"), result.summary.get(key, "<missing>")
        if not _same(a, b):
            diffs.append(f"summary {key}: saved {a!r}, now {b!r}")
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
