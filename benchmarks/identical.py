"""Save one run's results, or check two saved runs are identical (the optimisation check).

Every optimisation must leave results identical for a fixed seed. Save a run before the
change and after it (or under two settings), then compare::

    python benchmarks/identical.py save before.pkl [KEY=VALUE ...]
    # ... apply the change ...
    python benchmarks/identical.py save after.pkl [KEY=VALUE ...]
    python benchmarks/identical.py compare before.pkl after.pkl

``compare`` checks the summary dicts and the time-series DataFrames exactly (bit for bit,
NaN equal to NaN) and the network snapshots, and exits 1 naming the first differences.

``--patch FILE.py`` (before ``save``'s overrides) imports a file first, so that a
monkeypatch of ``carenet.models`` can be tried without editing the package, e.g.
``python benchmarks/identical.py save after.pkl --patch benchmarks/patches/blas1.py``.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
import sys
import time


def _load_patch(path: str) -> None:
    spec = importlib.util.spec_from_file_location("carenet_bench_patch", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)


def save(path: str, overrides: list[str]) -> None:
    if overrides[:1] == ["--patch"]:
        _load_patch(overrides[1])
        overrides = overrides[2:]
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    cfg = load_config(overrides)
    t0 = time.perf_counter()
    res = simulate(cfg)
    wall = time.perf_counter() - t0
    with open(path, "wb") as f:
        pickle.dump(
            {
                "summary": res.summary,
                "timeseries": res.timeseries,
                "networks": res.networks,
                "overrides": overrides,
                "wall": wall,
            },
            f,
        )
    print(f"saved {path}: {len(res.timeseries)} weeks, simulate {wall:.2f} s")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def compare(pa: str, pb: str) -> int:
    with open(pa, "rb") as f:
        a = pickle.load(f)
    with open(pb, "rb") as f:
        b = pickle.load(f)
    problems = []
    keys = sorted(set(a["summary"]) | set(b["summary"]))
    for k in keys:
        if not _same(a["summary"].get(k), b["summary"].get(k)):
            problems.append(f"summary[{k}]: {a['summary'].get(k)!r} != {b['summary'].get(k)!r}")
    ta, tb = a["timeseries"], b["timeseries"]
    if list(ta.columns) != list(tb.columns) or ta.shape != tb.shape:
        problems.append(f"timeseries shape/columns differ: {ta.shape} vs {tb.shape}")
    else:
        for c in ta.columns:
            x, y = ta[c].to_numpy(), tb[c].to_numpy()
            same = (x == y) | (ta[c].isna().to_numpy() & tb[c].isna().to_numpy())
            if not same.all():
                w = int(ta["week"].to_numpy()[~same][0])
                problems.append(f"timeseries[{c}] differs first at week {w}")
    if a["networks"] != b["networks"]:
        problems.append("network snapshots differ")
    print(f"{pa}: {a['wall']:.2f} s   {pb}: {b['wall']:.2f} s")
    if problems:
        print(f"DIFFERENT ({len(problems)}):")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"IDENTICAL: {len(keys)} summary metrics, timeseries {ta.shape}, network snapshots")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "save":
        save(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
