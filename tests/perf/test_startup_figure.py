"""The overview figure, drawn without pyplot at a fixed layout, keeps its panels (#17)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from carenet.models import spec as model_spec


def _series(weeks: int = 30) -> pd.DataFrame:
    cols = ["qalys_gained", "qalys_lost", "queue_length", "mean_wait_weeks"]
    cols += list(model_spec.COST_COLOURS)
    cols += ["episodes_started", "episodes_completed", "episodes_failed"]
    data = {c: [float(i % 7 + k) for i in range(weeks)] for k, c in enumerate(cols)}
    return pd.DataFrame({"week": range(weeks), "warmup": [1] * 5 + [0] * (weeks - 5), **data})


def test_overview_figure_has_its_panels_inside_the_page(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    drawn: list[Figure] = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda f, *a, **k: (drawn.append(f), save(f, *a, **k)))
    path = Path(tmp_path / "overview.png")
    model_spec.overview_figure(_series(), {"structure": "hybrid"}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    (fig,) = drawn
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "Patient value per week",
        "Cost per week by category",
        "Care episodes per week",
        "Queues and waits",
    ]
    assert len(fig.axes) == 5  # and the second y axis of the queues panel
    assert fig.get_layout_engine() is None  # a fixed layout: nothing measured twice
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for ax in fig.axes:  # every panel, its labels and its legend are on the page
        box = ax.get_tightbbox(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 + 1, ax.get_title()
        assert page.y0 <= box.y0 and box.y1 <= page.y1 + 1, ax.get_title()
        legend = ax.get_legend()
        if legend is not None:
            assert len(legend.get_texts()) >= 2
    left, right = fig.axes[0].get_tightbbox(renderer), fig.axes[1].get_tightbbox(renderer)
    assert left.x1 < right.x0  # the left legend does not reach the right panel


def test_fixed_title_places_draw_the_same_png_as_automatic_ones(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    fixed, auto = tmp_path / "fixed.png", tmp_path / "auto.png"
    model_spec.overview_figure(_series(), {"structure": "hybrid"}, fixed)
    set_title = Axes.set_title

    def automatic(ax, label, *args, y=None, **kwargs):  # drop the fixed y: auto placement
        return set_title(ax, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_title", automatic)
    model_spec.overview_figure(_series(), {"structure": "hybrid"}, auto)
    assert fixed.read_bytes() == auto.read_bytes()
