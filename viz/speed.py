"""Weeks per second the view reaches: ``python -m carenet.viz.speed [--every N] [KEY=VALUE ...]``.

Builds the view's model (the default economy unless overrides say otherwise), renders
Mesa's ``ModelController`` and the live panels with ``solara.render`` (no browser) and
presses Step for 20 seconds, so each press includes a full redraw of the charts and the
network every ``--every`` weeks.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> None:
    """Print the weeks per second reached."""
    import ipyvuetify as v
    import solara
    from mesa.visualization.solara_viz import ModelController

    from .app import CarenetView, Live

    p = argparse.ArgumentParser(prog="python -m carenet.viz.speed")
    p.add_argument("--every", type=int, default=1, help="weeks per redraw")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("overrides", nargs="*")
    a = p.parse_args(argv)
    model = CarenetView(overrides=tuple(a.overrides))

    @solara.component
    def Bench() -> None:
        m = solara.use_reactive(model)
        ModelController(
            m,
            model_parameters=solara.use_reactive({}),
            play_interval=solara.use_reactive(1),
            render_interval=solara.use_reactive(a.every),
            use_threads=solara.use_reactive(False),
        )
        Live(m.value)

    _, rc = solara.render(Bench(), handle_error=False)
    step = rc.find(v.Btn, children=["Step"]).widget
    step.click()
    t0, w0 = time.perf_counter(), model.runs[0].week
    while time.perf_counter() - t0 < a.seconds:
        step.click()
    weeks = model.runs[0].week - w0
    rate = weeks / (time.perf_counter() - t0)
    print(f"{rate:.1f} weeks/s over {weeks} weeks, a redraw every {a.every} week(s)")


if __name__ == "__main__":  # pragma: no cover
    main()
