"""Weeks per second the view reaches: ``python -m carenet.viz.speed [OPTIONS] [KEY=VALUE ...]``.

Builds the view's model (the default economy unless overrides say otherwise) and renders
the run controls and the live panels with ``solara.render`` (no browser). By default it
presses Step for 20 seconds, so each press includes a full redraw of the charts and the
network every ``--every`` weeks. With ``--play`` it presses ▶ instead, waits, presses ❚❚
and reports the weeks played and the redraws the pacer allowed; give ``steps=5200`` so
that the run cannot end first (the rate counts the whole wait).
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> None:
    """Print the weeks per second reached."""
    import ipyvuetify as v
    import solara
    from mesa.visualization.utils import update_counter

    from .app import CarenetView, Live
    from .controls import RunControls

    p = argparse.ArgumentParser(prog="python -m carenet.viz.speed")
    p.add_argument("--every", type=int, default=1, help="weeks per Step")
    p.add_argument("--play", action="store_true", help="press play, not Step")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("overrides", nargs="*")
    a = p.parse_args(argv)
    model = CarenetView(overrides=tuple(a.overrides))

    @solara.component
    def Bench() -> None:
        m = solara.use_reactive(model)
        RunControls(m, solara.use_reactive({}), solara.use_reactive(a.every))
        Live(m.value)

    _, rc = solara.render(Bench(), handle_error=False)
    step = rc.find(v.Btn, children=["Step"]).widget
    step.click()
    t0, w0, d0 = time.perf_counter(), model.runs[0].week, update_counter.peek()
    if a.play:
        rc.find(v.Btn, children=["▶"]).widget.click()
        time.sleep(a.seconds)
        pause = rc.find(v.Btn, children=["❚❚"])
        if pause:  # not at the end of the run yet
            pause.widget.click()
        rc.find(v.Btn, children=["▶"]).wait_for(timeout=60)
    else:
        while time.perf_counter() - t0 < a.seconds:
            step.click()
    weeks = model.runs[0].week - w0
    rate = weeks / (time.perf_counter() - t0)
    how = "playing" if a.play else f"pressing Step, {a.every} week(s) a press"
    print(f"{rate:.1f} weeks/s over {weeks} weeks, {how}; {update_counter.peek() - d0} redraws")


if __name__ == "__main__":  # pragma: no cover
    main()
