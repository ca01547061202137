"""Component tests of the view with ``solara.render`` (no browser)."""

from __future__ import annotations

import ipyvuetify as v
import solara
from mesa.visualization.solara_viz import ModelController

from carenet.viz.app import CarenetView, Live, ResultsPage
from carenet.viz.results import load

SMALL = ("population=small", "organisations=small")


def _render(model: CarenetView):
    @solara.component
    def Test():
        m = solara.use_reactive(model)
        ModelController(
            m,
            model_parameters=solara.use_reactive({}),
            play_interval=solara.use_reactive(1),
            render_interval=solara.use_reactive(1),
            use_threads=solara.use_reactive(False),
        )
        Live(m.value)

    return solara.render(Test(), handle_error=False)[1]


def _status(rc) -> str:
    return rc.find(v.Html, tag="span").widgets[0].children[0]


def test_step_advances_the_run_and_redraws():
    model = CarenetView(overrides=SMALL)
    rc = _render(model)
    assert _status(rc).startswith("Week 0 of 260")
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.runs[0].week == 2
    assert _status(rc).startswith("Week 2 of 260")


def test_compare_runs_two_arrangements_under_one_seed():
    model = CarenetView(overrides=SMALL, compare=True, structure="hierarchy", structure_b="network")
    assert model.pair is not None
    a, b = model.runs
    assert a.seed == b.seed
    for _ in range(3):
        model.step()
    assert len(model.pair.difference("qalys_net")) == 3
    rc = _render(model)
    assert "A: hierarchy, mixed vs B: network, empowerment" in _status(rc)


def test_invalid_value_is_refused_with_the_schema_message():
    model = CarenetView(overrides=SMALL, population_size="0")
    assert model.error is not None
    assert "population.size: 0 is not allowed" in model.error
    assert model.running is False
    rc = _render(model)
    rc.find(v.Alert).assert_single()
    assert "population.size" in str(rc.find(v.Alert).widget.children)


def test_results_page_shows_a_finished_run(run_dir):
    res = load(run_dir)
    assert len(res.runs) == 1
    table = res.table()
    assert set(table["metric"]) >= {"qalys_net", "cost_total", "mean_wait_weeks"}
    box, rc = solara.render(ResultsPage(str(run_dir)), handle_error=False)
    assert rc.find(v.Html, tag="span").widgets[0].children[0].startswith("1 run(s), 1 scenario(s)")
