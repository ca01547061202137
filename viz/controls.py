"""Reset, play, pause and step for the live view, with redraws paced to the drawing.

Mesa's ``ModelController`` redraws after every step it plays. A redraw of the view (the
charts and the network, drawn by Matplotlib under the page's render lock) takes far
longer than a week of the small economy, so on a slow or busy machine the render lock is
almost never free: clicks wait, the page falls seconds behind the run, and Solara's
reconnect probe can time out, which ends the session ("Could not restore session").

:class:`RunControls` keeps Mesa's buttons (Reset, ▶, ❚❚, Step) and its parameter
handling, but plays the model flat out in a worker thread and redraws only when a
:class:`Pacer` says so: no sooner after the last redraw ended than that redraw took, and
never sooner than ``MIN_GAP`` seconds. At most about half the time goes to drawing, the
page answers clicks while a run plays, and the frame at a pause or at the end of the run
is always drawn.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import solara
from mesa.visualization.utils import force_update, update_counter

MIN_GAP = 0.25
"""Seconds between the end of one redraw and the start of the next, at least."""


class Pacer:
    """When a playing run may be redrawn: the gap after a redraw is at least its length.

    Args:
        min_gap: The shortest gap, in seconds.
        clock: A monotonic clock in seconds (replaceable in tests).
    """

    def __init__(self, min_gap: float = MIN_GAP, clock: Callable[[], float] = time.monotonic):
        self.min_gap = min_gap
        self.clock = clock
        self.ready_at = float("-inf")

    def due(self) -> bool:
        """Whether the next redraw may start now."""
        return self.clock() >= self.ready_at

    def draw(self, redraw: Callable[[], Any]) -> None:
        """Redraw now, and hold the next one back by at least as long as this one took."""
        start = self.clock()
        redraw()
        end = self.clock()
        self.ready_at = end + max(self.min_gap, end - start)


class _Plays:
    """The play state shared by the buttons and the worker threads, under one lock.

    ``workers`` counts the worker threads still inside a play. While any is and the page
    is not playing (after a pause or a Reset), ▶ and Step wait (shown disabled) until the
    last worker has stepped its last week and drawn the frame at the pause, so two plays
    never step one model and the frame shown once ▶ is back is the week the run stopped
    at.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.newest = 0
        self.workers = 0


@solara.component
def RunControls(
    model: solara.Reactive,
    model_parameters: solara.Reactive[dict],
    weeks: solara.Reactive[int],
    min_gap: float = MIN_GAP,
) -> None:
    """Reset, ▶/❚❚ and Step for a :class:`~carenet.viz.app.CarenetView`.

    After ❚❚ (or Reset while playing), ▶ and Step are disabled until the play has
    stopped, which takes at most one week and one redraw; the frame then shown is the
    week the run stopped at.

    Args:
        model: The page's model; Reset replaces it with one built from
            ``model_parameters`` (which Mesa's ``ModelCreator`` fills).
        model_parameters: Keyword arguments for the model's class.
        weeks: Weeks per Step, and per pacing check while playing.
        min_gap: The pacer's shortest gap between redraws, in seconds.
    """
    playing = solara.use_reactive(False)
    error = solara.use_reactive(None)
    stopped = solara.use_reactive(0)  # bumped when a play has stopped, to redraw the buttons
    stopped.get()
    update_counter.get()  # redrawn with the panels, so the buttons follow the run
    running = bool(model.value.running)
    state = solara.use_memo(_Plays, [])

    def advance(m: Any, while_playing: bool) -> None:
        for _ in range(max(1, int(weeks.value))):
            m.step()
            if not m.running or (while_playing and not playing.value):
                break

    def play() -> None:
        with state.lock:
            if not playing.value:
                return
            state.newest += 1
            state.workers += 1
            mine = state.newest
        m, pacer, ended = model.value, Pacer(min_gap), False

        def current() -> bool:  # the newest play, on the page's model
            return state.newest == mine and m is model.value

        try:
            while playing.value and m.running and current():
                advance(m, while_playing=True)
                if pacer.due():
                    pacer.draw(force_update)
            ended = not m.running
        except Exception as exc:  # shown on the page and logged, as Mesa's controller does
            error.value = f"error in step: {exc}"
            traceback.print_exc()
            ended = True
        finally:
            try:
                if current():
                    force_update()  # the frame at the pause, or at the end, is always drawn
                    if ended:  # a pause has already set ``playing`` to False
                        playing.value = False
            finally:  # counted out even if the redraw fails, so ▶ never stays disabled
                with state.lock:
                    state.workers -= 1
                stopped.value += 1

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)

    def waiting() -> bool:  # a play is stopping: paused, its worker not yet done
        with state.lock:
            return state.workers > 0 and not playing.value

    def do_step() -> None:
        if playing.value or waiting():
            return
        advance(model.value, while_playing=False)
        force_update()

    def do_play_pause() -> None:
        if playing.value:
            playing.value = False
        elif not waiting():
            playing.value = True

    def do_reset() -> None:
        playing.value = False
        error.value = None
        model.value = type(model.value)(**model_parameters.value)
        force_update()

    busy = waiting()
    with solara.Row(justify="space-between"):
        solara.Button(label="Reset", color="primary", on_click=do_reset)
        solara.Button(
            label="❚❚" if playing.value else "▶",
            color="primary",
            on_click=do_play_pause,
            disabled=not running or (busy and not playing.value),
        )
        solara.Button(
            label="Step",
            color="primary",
            on_click=do_step,
            disabled=playing.value or busy or not running,
        )
    if error.value:
        solara.Error(label=error.value)
