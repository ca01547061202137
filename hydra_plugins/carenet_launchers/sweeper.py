"""carenet's sweeper: Hydra's basic sweeper without composing every job before launch.

Hydra's :class:`BasicSweeper` composes the configuration of every job of a batch once
before handing the batch to the launcher (``validate_batch_is_legal``), to catch bad
overrides early; the launcher then composes each job again. carenet's sweep plan
(:func:`carenet.sim.sweep.plan_sweep`) has already composed and validated every
combination before the sweep starts, so this pre-check only repeated that work: about
0.2 s per run. The sweep's expansion, ordering and batching are the basic sweeper's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf


@dataclass
class CarenetSweeperConf(BasicSweeperConf):
    """Schema of ``hydra/sweeper=carenet``: the basic sweeper's options."""

    _target_: str = "hydra_plugins.carenet_launchers.sweeper.CarenetSweeper"


class CarenetSweeper(BasicSweeper):
    """The basic sweeper, trusting carenet's plan to have validated every job."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Skip: :func:`carenet.sim.sweep.plan_sweep` composed and validated every job."""
        return None
