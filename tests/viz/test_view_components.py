"""Component tests of the view with ``solara.render`` (no browser)."""

from __future__ import annotations

import threading
import time

import ipyvuetify as v
import solara
from mesa.visualization.utils import update_counter

from carenet.viz.app import CarenetView, Live, ResultsPage
from carenet.viz.controls import Pacer, RunControls
from carenet.viz.results import load

SMALL = ("population=small", "organisations=small")


def _render(model: CarenetView, weeks: int = 1, params: dict | None = None, shown=None):
    @solara.component
    def Test():
        m = solara.use_reactive(model)
        if shown is not None:
            shown.append(m)
        RunControls(m, solara.use_reactive(params or {}), solara.use_reactive(weeks))
        Live(m.value)

    return solara.render(Test(), handle_error=False)[1]


def _until(cond, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)  # polling a worker thread, with a generous deadline
    raise AssertionError(f"{what} did not happen within {seconds} s")


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


def test_step_advances_the_weeks_per_step():
    model = CarenetView(overrides=SMALL)
    rc = _render(model, weeks=5)
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.runs[0].week == 5
    assert _status(rc).startswith("Week 5 of 260")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pacer_waits_at_least_as_long_as_a_redraw_took():
    clock = FakeClock()
    pacer = Pacer(min_gap=0.25, clock=clock)
    assert pacer.due()

    def slow_redraw():
        clock.now += 2.0

    pacer.draw(slow_redraw)  # from 0 to 2 s
    clock.now = 3.9
    assert not pacer.due()
    clock.now = 4.0
    assert pacer.due()
    pacer.draw(lambda: None)  # instant: the shortest gap applies
    clock.now = 4.2
    assert not pacer.due()
    clock.now = 4.25
    assert pacer.due()


def test_play_redraws_paced_and_draws_the_frame_at_the_pause():
    model = CarenetView(overrides=SMALL)
    rc = _render(model)
    drawn = update_counter.peek()
    rc.find(v.Btn, children=["▶"]).widget.click()
    _until(lambda: model.runs[0].week >= 20, "playing to week 20")
    rc.find(v.Btn, children=["❚❚"]).widget.click()
    rc.find(v.Btn, children=["▶"]).wait_for(timeout=60)
    _until(lambda: _status(rc).startswith(f"Week {model.runs[0].week} of"), "the last frame")
    week = model.runs[0].week
    assert week >= 20
    assert update_counter.peek() - drawn < week / 2, "play redrew (nearly) every week"
    time.sleep(0.5)  # a pause must hold: nothing to poll for
    assert model.runs[0].week == week


def test_play_stops_at_the_end_of_the_run_and_disables_the_buttons():
    model = CarenetView(overrides=SMALL + ("steps=30", "warmup_weeks=0"))
    rc = _render(model, weeks=4)
    rc.find(v.Btn, children=["▶"]).widget.click()
    _until(lambda: not model.running, "the run ending")
    rc.find(v.Btn, children=["▶"]).wait_for(timeout=60)
    _until(lambda: _status(rc).startswith("Week 30 of 30"), "the last frame")
    assert model.runs[0].week == 30  # four weeks a check, but never past the end
    assert rc.find(v.Btn, children=["▶"]).widget.disabled
    assert rc.find(v.Btn, children=["Step"]).widget.disabled


def test_reset_builds_a_new_model_from_the_parameters():
    model = CarenetView(overrides=SMALL)
    shown: list = []
    rc = _render(model, params={"overrides": SMALL, "structure": "network"}, shown=shown)
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(v.Btn, children=["Reset"]).widget.click()
    new = shown[-1].value
    assert new is not model
    assert new.runs[0].week == 0 and new.label_a == "network, mixed"
    assert _status(rc).startswith("Week 0 of 260")


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


class Failing(CarenetView):
    def step(self) -> None:
        if self.runs[0].week >= 2:
            raise RuntimeError("boom")
        super().step()


def test_an_error_while_playing_is_shown_and_play_stops():
    model = Failing(overrides=SMALL)
    rc = _render(model)
    rc.find(v.Btn, children=["▶"]).widget.click()
    rc.find(v.Alert).wait_for(timeout=120)
    assert "error in step: boom" in str(rc.find(v.Alert).widget.children)
    rc.find(v.Btn, children=["▶"]).wait_for(timeout=60)
    _until(lambda: _status(rc).startswith("Week 2 of"), "the frame at the error")


class Gated(CarenetView):
    """A view whose weeks wait, once ``gate`` is cleared, until it is set again."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def step(self) -> None:
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(timeout=120)
        super().step()


def test_after_a_pause_play_waits_for_the_play_to_stop():
    model = Gated(overrides=SMALL + ("steps=5200", "warmup_weeks=0"))
    rc = _render(model)
    rc.find(v.Btn, children=["▶"]).widget.click()
    _until(lambda: model.runs[0].week >= 5, "playing to week 5")
    model.gate.clear()  # the worker's next week waits: the play cannot stop yet
    assert model.waiting.wait(timeout=120)
    rc.find(v.Btn, children=["❚❚"]).widget.click()
    play, step = rc.find(v.Btn, children=["▶"]).widget, rc.find(v.Btn, children=["Step"]).widget
    assert play.disabled and step.disabled, "▶ and Step before the play has stopped"
    play.click()  # refused: one play at a time
    step.click()
    assert rc.find(v.Btn, children=["❚❚"]).widgets == []
    week = model.runs[0].week
    model.gate.set()  # the week in progress ends, then the play stops and draws its frame
    _until(lambda: not rc.find(v.Btn, children=["▶"]).widget.disabled, "▶ enabled again")
    assert model.runs[0].week == week + 1  # the week in progress, and no Step
    assert _status(rc).startswith(f"Week {week + 1} of")
    time.sleep(0.5)  # a pause must hold: nothing to poll for
    assert model.runs[0].week == week + 1
    rc.find(v.Btn, children=["▶"]).widget.click()
    _until(lambda: model.runs[0].week >= week + 20, "playing on")
    players = [t for t in threading.enumerate() if t.is_alive() and t.name.startswith("Thread")]
    rc.find(v.Btn, children=["❚❚"]).widget.click()
    _until(lambda: not rc.find(v.Btn, children=["▶"]).widget.disabled, "▶ enabled again")
    assert len(players) <= 1, players


def test_reset_while_playing_waits_for_the_old_play_to_stop():
    model = Gated(overrides=SMALL + ("steps=5200", "warmup_weeks=0"))
    shown: list = []
    rc = _render(model, params={"overrides": SMALL}, shown=shown)
    rc.find(v.Btn, children=["▶"]).widget.click()
    _until(lambda: model.runs[0].week >= 3, "playing to week 3")
    model.gate.clear()
    assert model.waiting.wait(timeout=120)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    new = shown[-1].value
    assert new is not model and new.runs[0].week == 0
    assert rc.find(v.Btn, children=["▶"]).widget.disabled
    model.gate.set()
    _until(lambda: not rc.find(v.Btn, children=["▶"]).widget.disabled, "▶ enabled again")
    assert new.runs[0].week == 0 and _status(rc).startswith("Week 0 of 260")
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert new.runs[0].week == 1
