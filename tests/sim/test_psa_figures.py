"""The PSA's two figures share one set-up (``sim.psa._figure``): labelled, saved, closed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from carenet.sim import psa  # noqa: E402


def _draws() -> pd.DataFrame:
    rows = []
    for d in range(5):
        rows += [
            {"draw": d, "arm": "a", "cost": 100.0 + d, "effect": 1.0},
            {"draw": d, "arm": "b", "cost": 120.0 + 2 * d, "effect": 1.5 + 0.1 * d},
        ]
    return pd.DataFrame(rows)


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_both_figures_are_written_and_closed(tmp_path):
    before = plt.get_fignums()
    psa._plane_figure(_draws(), "a", tmp_path / "plane.png")
    curve = pd.DataFrame({"a": [1.0, 0.4, 0.0], "b": [0.0, 0.6, 1.0]}, index=[0, 25000, 50000])
    psa._ceac_figure(curve, tmp_path / "ceac.png")
    assert _is_png(tmp_path / "plane.png") and _is_png(tmp_path / "ceac.png")
    assert plt.get_fignums() == before


def test_the_helper_labels_the_axes_and_closes_a_figure_that_fails(tmp_path):
    seen = {}
    with psa._figure(tmp_path / "f.png", (4, 3), "x label", "y label", "the title") as ax:
        ax.plot([0, 1], [0, 1], label="line")
        seen["ax"] = ax
    ax = seen["ax"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x label", "y label", "the title")
    assert ax.get_legend() is not None and _is_png(tmp_path / "f.png")
    before = plt.get_fignums()
    with pytest.raises(RuntimeError), psa._figure(tmp_path / "g.png", (4, 3), "x", "y", "t"):
        raise RuntimeError("drawing failed")
    assert plt.get_fignums() == before
    assert not (tmp_path / "g.png").exists()
