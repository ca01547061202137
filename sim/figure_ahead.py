"""A run's figure drawn by a forked process that loaded matplotlib while the run ran (#17).

Importing matplotlib's figure and Agg canvas, and drawing the first figure, cost about as
much as a short run's simulation. The ``carenet`` command forks once, as it starts (before
NumPy or any thread exists): the child imports matplotlib and draws a tiny figure to load
its fonts while the parent composes the configuration and simulates. The parent then hands
the child the drawing (the model's ``figure`` and the run's columns, pickled through a
pipe; the model's module is named to it as soon as the configuration is known, so it is
imported ahead too), writes its other files while the child draws, and waits for it
before the result is published. The PNG is the same, byte for byte, as one drawn in the
run's own process.

Whatever goes wrong with the child (it could not start, import or draw, or was killed),
the parent draws the figure itself, as it would have without the child: an error in the
drawing is then raised by the parent, with its traceback, and nothing is written.

Only the console command uses it (see :func:`carenet.cli.cmd_run`), and only on Linux with
at least two CPUs; ``CARENET_FIGURE_AHEAD=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

ENV = "CARENET_FIGURE_AHEAD"
"""Set to ``0`` to draw every figure in the run's own process."""

_ACTIVE: list[FigureAhead] = []
"""The process's figure child while :func:`figure_ahead` holds one (at most one)."""


class FigureAhead:
    """A forked child that waits, with matplotlib loaded, for one figure to draw."""

    def __init__(self, pid: int, job: int) -> None:
        self.pid = pid
        self._job: int | None = job  # write end of the pipe the job goes through
        self._status: int | None = None

    @classmethod
    def start(cls) -> FigureAhead | None:
        """Fork the child, or None where forking is not safe or not worth it here."""
        if os.environ.get(ENV, "1") == "0" or sys.platform != "linux":
            return None
        if threading.active_count() > 1 or len(os.sched_getaffinity(0)) < 2:
            return None  # forking a threaded process can deadlock; one CPU gains nothing
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return None
        if pid == 0:  # the child: never returns
            code = 1
            # No cyclic garbage collection in the child: it lives for one figure, and
            # the collections set off by matplotlib's import and drawing took 67-79 ms
            # of its 0.75 s here (its path is a short run's critical one).
            gc.disable()
            try:
                os.close(write)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
                code = _child(read)
            finally:
                os._exit(code)  # no atexit handlers, no flush of the parent's buffers
        os.close(read)
        return cls(pid, write)

    def draw(self, func: Callable[..., Any], *args: Any) -> Callable[[], bool]:
        """Hand ``func(*args)`` to the child; returns a wait that says if the child drew it.

        The wait returns False when the child did not draw it (``func`` or its arguments
        cannot be pickled, the child ended early, failed or was killed): the caller then
        draws it itself. The child takes one job; later calls return False at once.
        """
        if self._job is None:
            return lambda: False
        try:
            payload = pickle.dumps((func, args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - not picklable: the caller draws it
            self.close()
            return lambda: False
        job, self._job = self._job, None
        try:
            _send(job, JOB, payload)
        except OSError:  # the child is gone (a broken pipe)
            pass
        finally:
            os.close(job)
        return lambda: self._wait() == 0

    def prepare(self, module: str) -> None:
        """Have the child import ``module`` (the figure's) while the run runs."""
        if self._job is not None:
            try:
                _send(self._job, IMPORT, module.encode())
            except OSError:  # the child is gone: draw() will say so
                pass

    def close(self) -> None:
        """End the child: killed if it has no job (it writes nothing), else waited for."""
        if self._job is not None:
            with contextlib.suppress(OSError):
                os.close(self._job)
            self._job = None
            if self._status is None:  # still loading matplotlib, perhaps: no need to wait
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)
        self._wait()

    def _wait(self) -> int:
        if self._status is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self._status = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self._status = -1
        return self._status


IMPORT, JOB = b"M", b"J"
"""The messages on the pipe: a module to import, and the drawing (the last message)."""


def _send(fd: int, kind: bytes, body: bytes) -> None:
    """Write one message: its kind, its length (8 bytes) and its body."""
    data = memoryview(kind + len(body).to_bytes(8, "big") + body)
    while data:
        data = data[os.write(fd, data) :]


def _child(job: int) -> int:
    """The child's life: load matplotlib, wait for a job, draw it. Returns the exit code."""
    _warm()
    with os.fdopen(job, "rb") as pipe:
        while len(head := pipe.read(9)) == 9:
            body = pipe.read(int.from_bytes(head[1:], "big"))
            if head[:1] == IMPORT:
                importlib.import_module(body.decode())
            elif head[:1] == JOB:
                func, args = pickle.loads(body)
                return 0 if func(*args) is not False else 3
    return 0  # closed with no job: no figure was wanted


def _warm() -> None:
    """Import what a figure needs and draw a tiny one: fonts and glyphs are loaded."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(np.arange(3.0), label="a")
    ax.set_title("warm")
    ax.legend()
    fig.canvas.draw()


@contextlib.contextmanager
def figure_ahead(enabled: bool = True) -> Iterator[FigureAhead | None]:
    """Hold a figure child for the block (None if not ``enabled`` or not possible).

    While it is held, :func:`active` gives it to the runner; on leaving, the child is ended
    (killed if it was given nothing to draw, else waited for), so none outlives the command.
    """
    ahead = FigureAhead.start() if enabled and not _ACTIVE else None
    if ahead is None:
        yield None
        return
    _ACTIVE.append(ahead)
    try:
        yield ahead
    finally:
        _ACTIVE.remove(ahead)
        ahead.close()


def active() -> FigureAhead | None:
    """The figure child held by :func:`figure_ahead`, if any."""
    return _ACTIVE[0] if _ACTIVE else None


def release() -> None:
    """Let the held child end now (a command that will draw no figure of one run)."""
    if _ACTIVE:
        _ACTIVE[0].close()


def prepare(module: str) -> None:
    """Have the held child, if any, import ``module`` (the figure's) ahead of the drawing."""
    if _ACTIVE:
        _ACTIVE[0].prepare(module)
